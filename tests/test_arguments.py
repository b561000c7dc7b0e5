import ast
import os

import pytest

import arguments
from arguments import get_args
from utils.config import ConfigError, Rule, parse_value

# docs/method.md sections 3, 4, 5, 7, 8, 9, 10, 11 and 12.
SPEC_DEFAULTS = {
    'path_19LA': '/data/ASVspoof2019',
    'path_21LA': '/data/ASVspoof2021_LA_eval',
    'path_21DF': '/data/ASVspoof2021_DF',
    'neptune_user': '',
    'neptune_token': '',
    'epoch': 150,
    'batch_size': 40,
    'rand_seed': 1,
    'ratio_bona': 0.1,
    'ratio_spoof': 0.9,
    'output_size': 128,
    'attention_heads': 4,
    'linear_units': 256,
    'num_blocks': 6,
    'cnn_module_kernel': 15,
    'downsample_layer': [1, 3],
    'pooling_size': 2,
    'encoder_dropout_rate': 0.1,
    'dropout_rate': 0.35,
    'embd_dropout_rate': 0.5,
    'embedding_size': 64,
    'r_real': 0.9,
    'r_fake': 0.2,
    'alpha': 20.0,
    'alpha_cl': 30.0,
    'loss_weight': [1, 1, 1, 1, 1],
    'use_class_weight': True,
    'num_train_frames': 404,
    'num_train_frames_short': 303,
    'num_test_frames': 404,
    'lr': 1e-6,
    'lr_min': 1e-6,
    'weight_decay': 1e-4,
    'T_0': 150,
    'T_mult': 1,
    'sample_rate': 16000,
    'n_lfcc': 40,
    'coef': 0.97,
    'n_fft': 512,
    'win_length': 320,
    'hop': 160,
    'mask_p': 1.0,
    'mask_max': 20,
    'mask_axis': 'time',
    'codec_p': 0.8,
    'codec_crop_factor': 1.2,
    'codec_opus': False,
    'g711_round_trip': False,
    'colored_noise_p': 1.0,
    'snr_min': 10.0,
    'snr_max': 40.0,
    'f_decay_min': -2.0,
    'f_decay_max': 2.0,
    'speed_factors': [0.9, 1.1, 1.0],
    'use_bpl': True,
    'centroid_update': 'adam_step',
    'eval_from_epoch': 15,
    'eval_every': 5,
    'world_size': 1,
    'cudnn_deterministic': True,  # the authors' main.py sets cudnn.deterministic, no benchmark
    'TEST': False,
    'resume': None,
}

SPEC_KEYS = ['project', 'name', 'tags', 'description', 'path_log', 'neptune_user', 'neptune_token',
             'path_19LA', 'path_21LA', 'path_21DF', 'num_workers', 'usable_gpu', 'epoch', 'batch_size',
             'rand_seed', 'ratio_bona', 'ratio_spoof', 'r_real', 'r_fake', 'alpha', 'alpha_cl',
             'loss_weight', 'use_class_weight', 'num_train_frames', 'num_train_frames_short',
             'num_test_frames', 'lr', 'lr_min', 'weight_decay', 'T_0', 'T_mult']


@pytest.mark.parametrize('key,value', sorted(SPEC_DEFAULTS.items()))
def test_default_equals_spec(key, value):
    args, _, _ = get_args()
    assert args[key] == value
    assert type(args[key]) is type(value) or isinstance(value, (list, float))


def test_every_spec_section12_key_exists():
    args, system_args, experiment_args = get_args()
    missing = [key for key in SPEC_KEYS if key not in args]
    assert missing == []
    assert args == {**system_args, **experiment_args}
    assert not set(system_args) & set(experiment_args)


def test_crop_lengths_follow_the_frames():
    args, _, _ = get_args()
    assert args['num_train_frames'] * 160 - 40 == 64600
    assert args['num_train_frames_short'] * 160 - 40 == 48440


def test_overrides_parse_every_type():
    args, system_args, experiment_args = get_args([
        'epoch=3', 'lr=0.001', 'use_bpl=False', 'loss_weight=[0.4,0.3,0.2,0.1,0.1]',
        'path_21LA=None', 'path_19LA=/mnt/asv', 'usable_gpu=0,1', 'tags=[a,b]', 'resume=auto',
        'speed_factors=1,0.5', 'checkpoint=None', 'description=two words',
    ])
    assert args['epoch'] == 3 and isinstance(args['epoch'], int)
    assert args['lr'] == 0.001
    assert args['use_bpl'] is False
    assert args['loss_weight'] == [0.4, 0.3, 0.2, 0.1, 0.1]
    assert args['path_21LA'] is None
    assert args['path_19LA'] == '/mnt/asv' and system_args['path_19LA'] == '/mnt/asv'
    assert args['usable_gpu'] == '0,1'
    assert args['tags'] == ['a', 'b']
    assert args['resume'] == 'auto'
    assert args['speed_factors'] == [1.0, 0.5]
    assert args['description'] == 'two words'
    assert experiment_args['epoch'] == 3


def test_float_key_accepts_an_int_literal():
    assert parse_value('lr', '1', 1e-6) == 1.0


def test_unknown_key_names_the_closest_keys():
    with pytest.raises(ConfigError) as error:
        get_args(['epcoh=3'])
    assert "'epcoh'" in str(error.value) and 'epoch' in str(error.value)


def test_override_without_equals_sign():
    with pytest.raises(ConfigError, match='key=value'):
        get_args(['epoch'])


@pytest.mark.parametrize('item,expected', [
    ('epoch=three', 'int'), ('lr=fast', 'float'), ('use_bpl=maybe', 'bool'), ('epoch=None', 'int'),
    ('loss_weight=[1,x,1,1,1]', 'float'), ('epoch=1.5', 'int'),
])
def test_bad_type_names_key_value_and_type(item, expected):
    key, value = item.split('=', 1)
    with pytest.raises(ConfigError) as error:
        get_args([item])
    message = str(error.value)
    assert key in message and repr(value) in message and expected in message


@pytest.mark.parametrize('overrides,key', [
    (['ratio_bona=0'], 'ratio_bona'),
    (['ratio_bona=1.5'], 'ratio_bona'),
    (['ratio_spoof=0.95'], 'ratio_spoof'),
    (['batch_size=10'], 'batch_size'),
    (['num_train_frames=0'], 'num_train_frames'),
    (['num_train_frames_short=-3'], 'num_train_frames_short'),
    (['num_test_frames=0'], 'num_test_frames'),
    (['loss_weight=[1,1,1,1]'], 'loss_weight'),
    (['loss_weight=[1,1,1,1,-1]'], 'loss_weight'),
    (['r_fake=0.95'], 'r_fake'),
    (['r_real=1.5'], 'r_real'),
    (['alpha=0'], 'alpha'),
    (['alpha_cl=-1'], 'alpha_cl'),
    (['epoch=0'], 'epoch'),
    (['lr=0'], 'lr'),
    (['codec_p=1.2'], 'codec_p'),
    (['dropout_rate=1.0'], 'dropout_rate'),
    (['attention_heads=3'], 'attention_heads'),
    (['cnn_module_kernel=14'], 'cnn_module_kernel'),
    (['downsample_layer=[3,1]'], 'downsample_layer'),
    (['downsample_layer=[1,5]'], 'downsample_layer'),
    (['snr_min=50'], 'snr_min'),
    (['f_decay_min=3'], 'f_decay_min'),
    (['speed_factors=[]'], 'speed_factors'),
    (['speed_factors=[0,1]'], 'speed_factors'),
    (['mask_axis=freq'], 'mask_axis'),
    (['centroid_update=sgd'], 'centroid_update'),
    (['win_length=1024'], 'win_length'),
    (['TEST=True'], 'checkpoint'),
    (['eval_every=0'], 'eval_every'),
    (['world_size=0'], 'world_size'),
    (['calibration_set=None'], 'select_on'),      # 19LA dev is then never scored
    (['select_on=ASV5dev'], 'select_on'),         # without path_ASV5
    (['select_on=19LA'], 'select_on'),            # an evaluation set is no development set
    (['average_last=-1'], 'average_last'),
])
def test_validation_rejects_and_names_the_key(overrides, key):
    with pytest.raises(ConfigError) as error:
        get_args(overrides)
    assert str(error.value).startswith(key + '=')


def test_validation_accepts_the_smallest_valid_batch():
    args, _, _ = get_args(['batch_size=20'])
    assert int(args['batch_size'] * args['ratio_bona']) == 2


def test_every_key_has_its_rule_beside_it_and_the_machinery_names_no_key():
    schema = {**arguments.SYSTEM, **arguments.EXPERIMENT}
    assert all(isinstance(entry.rule, Rule) for entry in schema.values())
    with open(os.path.join(os.path.dirname(arguments.__file__), 'utils', 'config.py')) as handle:
        tree = ast.parse(handle.read())
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert literals & set(schema) == set()


@pytest.mark.parametrize('overrides,message', [
    (['speed_factors=[0,1]'], 'each > 0'),
    (['loss_weight=[1,1,1,1,-1]'], 'each >= 0'),
    (['downsample_layer=[1,2,3]', 'loss_weight=[1,1,1,1,1]'],
     'loss_weight=[1.0, 1.0, 1.0, 1.0, 1.0]: must have one weight per head: 6'),
    (['tags=a'], None),
])
def test_rule_messages_say_what_is_expected(overrides, message):
    if message is None:  # a single tag is read as a one-item list
        assert get_args(overrides)[0]['tags'] == ['a']
        return
    with pytest.raises(ConfigError, match=message.replace('[', r'\[').replace(']', r'\]')):
        get_args(overrides)


def test_each_fact_about_a_key_lives_in_its_declaration_and_nowhere_else():
    """No module keeps a list of keys beside arguments.py (RESUMABLE, READ_BY_NAME, SECRET_KEYS,
    initial_weights were such lists): every set of keys is read from the declarations."""
    from tests.helpers import python_files_outside_tests as _python_files_outside_tests
    keys = set(arguments.declared())
    # code, not a declaration: the hyper-parameters resume_override puts into a restored optimiser
    applied_by_code = {os.path.join('trainer', 'resume_check.py')}
    found = {}
    for path in _python_files_outside_tests():
        if path.endswith('arguments.py') or any(path.endswith(name) for name in applied_by_code):
            continue
        with open(path, encoding='utf-8') as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                named = [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in keys]
                if len(named) >= 3:
                    found.setdefault(os.path.relpath(path, os.path.dirname(arguments.__file__)), []).append(node.lineno)
    assert found == {}, 'literal lists of three or more configuration keys outside arguments.py'
    assert arguments.secret_keys() == {'neptune_token'}
    assert arguments.initialising_keys() == {'aasist_checkpoint'}
    assert arguments.per_run_keys() == {'rand_seed', 'name', 'resume'}
    assert {'tensorboard', 'wandb_project', 'wandb_mode', 'path_log', 'num_workers'} <= arguments.resumable_keys()
    assert not {'lr', 'batch_size', 'backbone', 'lfcc_band'} & arguments.resumable_keys()


def test_a_resume_that_switches_tensorboard_or_wandb_on_is_accepted():
    """Logging may change freely on resume (it was refused as a change of the trajectory)."""
    from trainer.resume_check import changed_keys
    saved = get_args()[0]
    logged = get_args(['tensorboard=True', 'wandb_project=ebm', 'wandb_mode=offline', 'wandb_entity=me',
                       'wandb_timeout=5'])[0]
    assert changed_keys(saved, logged) == []
    assert changed_keys(saved, get_args(['lr=0.001'])[0]) == ['lr']


def test_a_backbone_alone_is_a_complete_configuration():
    """loss_weight None is one weight per head of the chosen backbone: backbone=aasist needs no
    loss_weight=[1.0]; HM-Conformer with a third downsampling layer gets six weights."""
    assert get_args()[0]['loss_weight'] == [1.0] * 5
    assert get_args(['backbone=aasist'])[0]['loss_weight'] == [1.0]
    assert get_args(['backbone=ssl_bridge', 'ssl_checkpoint=tiny-random'])[0]['loss_weight'] == [1.0]
    assert get_args(['downsample_layer=[1,2,3]'])[0]['loss_weight'] == [1.0] * 6
    assert get_args(['loss_weight=[1,0,0,0,2]'])[0]['loss_weight'] == [1.0, 0.0, 0.0, 0.0, 2.0]


def test_the_defaults_in_constructor_signatures_are_the_declared_ones():
    """A part's parameter named after a key may keep a default for use outside a run; it must be
    the key's declared default, so the two cannot drift apart."""
    import inspect
    from models.registry import BACKBONES
    from trainer.build import KEYWORD_PARTS
    declared = arguments.declared()
    # defaults for use outside a run, which passes its own values: in process, seed 0; and
    # TwoViewDataset's `rawboost` is the augmentation built from the key, given explicitly
    outside_a_run = {'BalancedLoader(num_workers)', 'BalancedLoader(rand_seed)', 'TwoViewDataset(rand_seed)',
                     'TwoViewDataset(rawboost)'}
    differ = {}
    for part in list(KEYWORD_PARTS) + [backbone.build for backbone in BACKBONES.values()]:
        for name, parameter in inspect.signature(part).parameters.items():
            if name in declared and parameter.default is not inspect.Parameter.empty:
                wanted = declared[name].default
                if parameter.default != wanted and not (isinstance(wanted, list) and list(parameter.default or []) == wanted):
                    differ[f"{getattr(part, '__qualname__', part)}({name})"] = (parameter.default, wanted)
    assert set(differ) == outside_a_run, differ
