"""Command-line overrides and validation of the `arguments.py` dictionaries."""
import ast
import difflib
from typing import Any, Dict, List, Sequence, Tuple


class ConfigError(ValueError):
    """A configuration key has a bad name or value; the message names the key."""


_TRUE = {'true', '1', 'yes', 'on'}
_FALSE = {'false', '0', 'no', 'off'}


def _type_name(value: Any) -> str:
    return type(value).__name__


def parse_value(key: str, text: str, default: Any) -> Any:
    """Parse `text` to the type of `default` (the key's value in arguments.py).

    'None' is accepted for keys whose default is None or a string (paths, tokens);
    any other text for a key whose default is None is kept as a string.
    """
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{key}={text!r}: expected {expected} (the type of the default {default!r})")

    if text in ('None', 'none', 'null'):
        if default is None or isinstance(default, str):
            return None
        raise bad(_type_name(default))
    if isinstance(default, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise bad('bool (True/False)')
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise bad('int') from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise bad('float') from None
    if isinstance(default, (list, tuple)):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = [item.strip() for item in text.strip('[]()').split(',') if item.strip()]
        value = list(value) if isinstance(value, (list, tuple)) else [value]
        if not default:
            return value
        element = default[0]
        try:
            return [parse_value(key, str(item), element) for item in value]
        except ConfigError:
            raise bad(f'list of {_type_name(element)}') from None
    return text


def apply_overrides(system_args: dict, experiment_args: dict,
                    overrides: Sequence[str]) -> Tuple[dict, dict]:
    """Return copies of both dicts with `key=value` overrides applied.

    Raises ConfigError for a malformed item, an unknown key (naming the closest
    known keys) or a value of the wrong type.
    """
    system_args, experiment_args = dict(system_args), dict(experiment_args)
    known = {**system_args, **experiment_args}
    for item in overrides:
        if '=' not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. epoch=3")
        key, text = item.split('=', 1)
        key = key.strip()
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ''
            raise ConfigError(f"unknown key {key!r}{hint}")
        target = system_args if key in system_args else experiment_args
        target[key] = parse_value(key, text, known[key])
    return system_args, experiment_args


def _rule(ok: bool, key: str, message: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r}: {message}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_numbers(args: dict, rules: List[Tuple[str, str]]) -> None:
    checks = {
        'positive': (lambda v: v > 0, 'must be > 0'),
        'non-negative': (lambda v: v >= 0, 'must be >= 0'),
        'probability': (lambda v: 0 <= v <= 1, 'must be in [0, 1]'),
        'dropout': (lambda v: 0 <= v < 1, 'must be in [0, 1)'),
        'fraction': (lambda v: 0 < v <= 1, 'must be in (0, 1]'),
        'cosine': (lambda v: -1 <= v <= 1, 'must be in [-1, 1]'),
    }
    for key, kind in rules:
        value = args[key]
        _rule(_is_number(value), key, 'must be a number', value)
        test, message = checks[kind]
        _rule(test(value), key, message, value)


def _check_ints(args: dict, rules: Dict[str, int]) -> None:
    for key, minimum in rules.items():
        value = args[key]
        _rule(isinstance(value, int) and not isinstance(value, bool), key, 'must be an int', value)
        _rule(value >= minimum, key, f'must be >= {minimum}', value)


def validate_args(args: dict) -> None:
    """Check every rule that can be checked before anything starts.

    Raises ConfigError naming the first key that breaks a rule.
    """
    _check_ints(args, {
        'epoch': 1, 'batch_size': 1, 'num_workers': 0, 'world_size': 1, 'rand_seed': 0,
        'num_train_frames': 1, 'num_train_frames_short': 1, 'num_test_frames': 1,
        'sample_rate': 1, 'n_lfcc': 1, 'n_fft': 1, 'win_length': 1, 'hop': 1, 'mask_max': 0,
        'bin_size': 1, 'output_size': 1, 'attention_heads': 1, 'linear_units': 1, 'num_blocks': 1,
        'cnn_module_kernel': 1, 'pooling_size': 1, 'embedding_size': 1,
        'T_0': 1, 'T_mult': 1, 'eval_from_epoch': 1, 'eval_every': 1,
    })
    _check_numbers(args, [
        ('ratio_bona', 'fraction'), ('ratio_spoof', 'fraction'),
        ('codec_p', 'probability'), ('codec_crop_factor', 'positive'), ('mask_p', 'probability'),
        ('colored_noise_p', 'probability'), ('coef', 'probability'),
        ('encoder_dropout_rate', 'dropout'), ('dropout_rate', 'dropout'), ('embd_dropout_rate', 'dropout'),
        ('r_real', 'cosine'), ('r_fake', 'cosine'), ('alpha', 'positive'), ('alpha_cl', 'positive'),
        ('lr', 'positive'), ('lr_min', 'non-negative'), ('weight_decay', 'non-negative'),
        ('snr_min', 'non-negative'), ('snr_max', 'non-negative'),
    ])

    total = args['ratio_bona'] + args['ratio_spoof']
    _rule(total <= 1 + 1e-9, 'ratio_spoof', f"ratio_bona + ratio_spoof = {total} must be <= 1", args['ratio_spoof'])
    bona = int(args['batch_size'] * args['ratio_bona'])
    _rule(bona >= 2, 'batch_size',
          f"int(batch_size * ratio_bona) = {bona}: the bona fide pair loss needs at least 2 bona fide rows",
          args['batch_size'])
    spoof = int(args['batch_size'] * args['ratio_spoof'])
    _rule(spoof >= 1, 'batch_size', f"int(batch_size * ratio_spoof) = {spoof}: need at least 1 spoof row",
          args['batch_size'])
    _rule(args['r_fake'] < args['r_real'], 'r_fake', f"must be < r_real ({args['r_real']})", args['r_fake'])
    _rule(args['snr_min'] <= args['snr_max'], 'snr_min', f"must be <= snr_max ({args['snr_max']})", args['snr_min'])
    for key in ('f_decay_min', 'f_decay_max'):
        _rule(_is_number(args[key]), key, 'must be a number', args[key])
    _rule(args['f_decay_min'] <= args['f_decay_max'], 'f_decay_min',
          f"must be <= f_decay_max ({args['f_decay_max']})", args['f_decay_min'])
    _rule(args['win_length'] <= args['n_fft'], 'win_length', f"must be <= n_fft ({args['n_fft']})",
          args['win_length'])

    factors = args['speed_factors']
    _rule(isinstance(factors, list) and len(factors) > 0 and all(_is_number(f) and f > 0 for f in factors),
          'speed_factors', 'must be a non-empty list of positive numbers', factors)

    _rule(args['output_size'] % args['attention_heads'] == 0, 'attention_heads',
          f"must divide output_size ({args['output_size']})", args['attention_heads'])
    _rule(args['cnn_module_kernel'] % 2 == 1, 'cnn_module_kernel', 'must be odd (same padding)',
          args['cnn_module_kernel'])
    layers = args['downsample_layer']
    _rule(isinstance(layers, list) and layers == sorted(set(layers))
          and all(isinstance(i, int) and 0 <= i < args['num_blocks'] - 1 for i in layers),
          'downsample_layer', f"must be sorted distinct block indices in [0, num_blocks - 1) "
          f"(num_blocks={args['num_blocks']})", layers)
    heads = len(layers) + 3
    weights = args['loss_weight']
    _rule(isinstance(weights, list) and len(weights) == heads, 'loss_weight',
          f"must have one weight per head: {heads} (len(downsample_layer) + 3)", weights)
    _rule(all(_is_number(w) and w >= 0 for w in weights), 'loss_weight', 'weights must be numbers >= 0', weights)

    choices = {'mask_axis': ('time', 'coefficient'), 'centroid_update': ('adam_step', 'joint')}
    for key, allowed in choices.items():
        _rule(args[key] in allowed, key, f"must be one of {', '.join(allowed)}", args[key])
    for key in ('use_class_weight', 'use_bpl', 'codec_opus', 'g711_round_trip', 'rawboost',
                'use_vocoder_copies', 'TEST', 'cudnn_deterministic'):
        _rule(isinstance(args[key], bool), key, 'must be True or False', args[key])
    _rule(not args['TEST'] or bool(args['checkpoint']), 'checkpoint', 'TEST=True needs checkpoint=PATH',
          args['checkpoint'])
