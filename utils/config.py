"""The machinery of the configuration: rule types, command-line overrides, validation.

The keys themselves, their defaults and their rules live in `arguments.py` only."""
import ast
import difflib
import inspect
import math
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

from utils.errors import BadInput


class ConfigError(BadInput, ValueError):
    """A configuration key has a bad name or value; the message names the key."""


_TRUE = {'true', '1', 'yes', 'on'}
_FALSE = {'false', '0', 'no', 'off'}


def _type_name(value: Any) -> str:
    return type(value).__name__


def parse_value(key: str, text: str, default: Any, rule: Optional['Rule'] = None) -> Any:
    """Parse `text` to the type of `default` (the key's value in arguments.py).

    'None' is accepted for keys whose default is None or a string (paths, tokens);
    any other text for a key whose default is None is parsed by the key's rule (an
    optional number) or kept as a string.
    """
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{key}={text!r}: expected {expected} (the type of the default {default!r})")

    if text in ('None', 'none', 'null'):
        if default is None or isinstance(default, str):
            return None
        raise bad(_type_name(default))
    if default is None and rule is not None:
        return rule.parse(key, text)
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


def last_override(overrides: Sequence[str], key: str, default: Any = None) -> Any:
    """The text of the last `key=value` in `overrides` (stripped), else `default`."""
    given = [item.split('=', 1)[1].strip() for item in overrides
             if '=' in item and item.split('=', 1)[0].strip() == key]
    return given[-1] if given else default


def apply_overrides(system_args: dict, experiment_args: dict, overrides: Sequence[str],
                    rules: Optional[Dict[str, 'Rule']] = None,
                    retired: Optional[Dict[str, str]] = None) -> Tuple[dict, dict]:
    """Return copies of both dicts with `key=value` overrides applied.

    Raises ConfigError for a malformed item, a retired key (with what replaced it), an
    unknown key (naming the closest known keys) or a value of the wrong type. `rules`
    parse the values of keys whose default is None.
    """
    system_args, experiment_args = dict(system_args), dict(experiment_args)
    known = {**system_args, **experiment_args}
    rules, retired = rules or {}, retired or {}
    for item in overrides:
        if '=' not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. epoch=3")
        key, text = item.split('=', 1)
        key = key.strip()
        if key in retired:
            raise ConfigError(f"key {key!r} is no longer used: {retired[key]}")
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ''
            raise ConfigError(f"unknown key {key!r}{hint}")
        target = system_args if key in system_args else experiment_args
        target[key] = parse_value(key, text, known[key], rules.get(key))
    return system_args, experiment_args


class Rule:
    """What a configuration key accepts; `check(key, value)` raises ConfigError naming
    the key, the value and the requirement."""

    requirement = ''

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def parse(self, key: str, text: str) -> Any:
        """The value of `text` for a key whose default is None (the default's type cannot tell)."""
        return text

    def check(self, key: str, value: Any) -> None:
        if not self.accepts(value):
            raise ConfigError(f"{key}={value!r}: {self.requirement}")


def _is_number(value: Any) -> bool:
    """An int or a finite float (an infinite learning rate or a NaN margin is never meant)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Int(Rule):
    """An int >= minimum (and <= maximum when given); with `optional`, None too (a value
    derived elsewhere unless set)."""

    def __init__(self, minimum: int, optional: bool = False, maximum: Optional[int] = None):
        self.minimum, self.maximum, self.optional = minimum, maximum, optional
        bound = f'>= {minimum}' if maximum is None else f'in [{minimum}, {maximum:,}]'
        self.requirement = f'must be an int {bound}' + (' or None' if optional else '')

    def accepts(self, value: Any) -> bool:
        in_range = _is_int(value) and value >= self.minimum and (self.maximum is None or value <= self.maximum)
        return in_range or (self.optional and value is None)

    def parse(self, key: str, text: str) -> Any:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key}={text!r}: expected an int or None") from None


_RANGES = {
    'any': (lambda v: True, ''),
    'positive': (lambda v: v > 0, '> 0'),
    'non-negative': (lambda v: v >= 0, '>= 0'),
    'probability': (lambda v: 0 <= v <= 1, 'in [0, 1]'),
    'dropout': (lambda v: 0 <= v < 1, 'in [0, 1)'),
    'fraction': (lambda v: 0 < v <= 1, 'in (0, 1]'),
    'cosine': (lambda v: -1 <= v <= 1, 'in [-1, 1]'),
}


class Number(Rule):
    """A number in one of the named ranges: any, positive, non-negative, probability,
    dropout, fraction (0, 1], cosine [-1, 1]; with `optional`, None too."""

    def __init__(self, kind: str = 'any', optional: bool = False):
        self.test, bound = _RANGES[kind]
        self.requirement = f'must be a finite number {bound}'.rstrip()
        self.optional = optional
        if optional:
            self.requirement += ' or None'

    def accepts(self, value: Any) -> bool:
        return (_is_number(value) and self.test(value)) or (self.optional and value is None)

    def parse(self, key: str, text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key}={text!r}: expected a number or None") from None


class Numbers(Rule):
    """A list of numbers, each in the named range; `non_empty` forbids []; with `optional`, None
    too (a value derived elsewhere unless set)."""

    def __init__(self, kind: str = 'any', non_empty: bool = True, optional: bool = False):
        self.test, bound = _RANGES[kind]
        self.non_empty, self.optional = non_empty, optional
        each = f", each {bound}" if bound else ''
        self.requirement = f"must be a {'non-empty ' if non_empty else ''}list of finite numbers{each}" + \
            (' or None' if optional else '')

    def accepts(self, value: Any) -> bool:
        listed = (isinstance(value, list) and (len(value) > 0 or not self.non_empty)
                  and all(_is_number(v) and self.test(v) for v in value))
        return listed or (self.optional and value is None)

    def parse(self, key: str, text: str) -> Any:
        return parse_value(key, text, [0.0])


class Ints(Rule):
    requirement = 'must be a list of ints'

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list) and all(_is_int(v) for v in value)


class Bool(Rule):
    requirement = 'must be True or False'

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class Choice(Rule):
    def __init__(self, *allowed: Optional[str]):
        self.allowed, self.requirement = allowed, f"must be one of {', '.join(map(str, allowed))}"

    def accepts(self, value: Any) -> bool:
        return value in self.allowed


class Registered(Rule):
    """A name in a registry that may grow after import (`names()` is read at each check)."""

    def __init__(self, names: Callable[[], Sequence[str]]):
        self.names = names

    @property
    def requirement(self) -> str:
        return f"must be one of {', '.join(self.names())}"

    def accepts(self, value: Any) -> bool:
        return value in self.names()


class Text(Rule):
    """A string (with `non_empty`, one with more than blanks); with `optional`, None too (a
    path that may be skipped, an unset option)."""

    def __init__(self, optional: bool = False, non_empty: bool = False):
        self.optional, self.non_empty = optional, non_empty
        self.requirement = f"must be a {'non-empty ' if non_empty else ''}string" + (' or None' if optional else '')

    def accepts(self, value: Any) -> bool:
        text = isinstance(value, str) and (bool(value.strip()) or not self.non_empty)
        return text or (self.optional and value is None)


class Texts(Rule):
    """A list of strings; with `optional`, None too (`key=a,b` or `key=[a,b]` on the command line)."""

    def __init__(self, optional: bool = False):
        self.optional = optional
        self.requirement = 'must be a list of strings' + (' or None' if optional else '')

    def accepts(self, value: Any) -> bool:
        listed = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return listed or (self.optional and value is None)

    def parse(self, key: str, text: str) -> Any:
        return [item.strip().strip('\'"') for item in text.strip().strip('[]').split(',') if item.strip()]


class Key(NamedTuple):
    """Everything the program knows of one configuration key, declared beside it in arguments.py.

    default:     its value unless overridden.
    rule:        what it accepts (a Rule), checked before anything starts.
    resumable:   a resume may change it: it says where the run writes, what it evaluates or how
                 fast it runs, never its training trajectory (trainer/resume_check.py).
    secret:      its value is never written, sent or printed (utils/secrets.py).
    read_by:     where it is read when no part's constructor parameter is named after it (the
                 check that every key is read, trainer/build.py).
    initialises: it names weight files that only initialise what a checkpoint's model state
                 replaces, so scoring a checkpoint needs none of them.
    per_run:     it says which run this is (its seed, its name), not what it trains: the runs of
                 one sweep, and checkpoints averaged together, may differ in it.
    """
    default: Any
    rule: 'Rule'
    resumable: bool = False
    secret: bool = False
    read_by: str = ''
    initialises: bool = False
    per_run: bool = False


Schema = Dict[str, Key]


def defaults(schema: Schema) -> dict:
    """{key: default} of a schema."""
    return {key: entry.default for key, entry in schema.items()}


def keys_where(schema: Schema, fact: str) -> frozenset:
    """The keys whose declaration sets `fact` (resumable, secret, read_by, initialises, per_run)."""
    return frozenset(key for key, entry in schema.items() if getattr(entry, fact))


def require(ok: bool, key: str, message: str, value: Any) -> None:
    """A rule relating several keys: raise ConfigError naming `key` unless `ok`."""
    if not ok:
        raise ConfigError(f"{key}={value!r}: {message}")


def validate(args: dict, schema: Schema, combinations: Callable[[dict], None]) -> None:
    """Each key's own rule, then `combinations(args)`, the rules relating several keys.
    Raises ConfigError naming the first key that breaks a rule."""
    for key, entry in schema.items():
        entry.rule.check(key, args[key])
    combinations(args)


def keyword_args(args: dict, factory: Callable, **given: Any) -> Dict[str, Any]:
    """The keyword arguments of `factory` that are configuration keys, taken from `args`
    (constructors name their arguments after the keys), with `given` taking precedence."""
    names = inspect.signature(factory).parameters
    return {**{name: args[name] for name in names if name in args}, **given}
