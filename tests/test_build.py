"""trainer/build.py: every part takes its configuration keys by name, so a changed key
reaches the part that uses it; sample_rate reaches every part that needs a rate."""
import numpy as np
import pytest
import torch

from arguments import get_args
from augment.colored_noise import AddColoredNoise
from augment.rawboost import random_notch_filter, rawboost
from data.protocol import Trial
from trainer.build import build_batch_augment, build_detector, build_objective, build_training_loader, detector_keys


def test_model_keys_reach_the_detector():
    args = get_args(['output_size=32', 'linear_units=48', 'embedding_size=16', 'n_lfcc=20',
                     'mask_max=7', 'mask_axis=coefficient', 'mask_p=0.5', 'num_blocks=5', 'cnn_module_kernel=7',
                     'attention_heads=2'])[0]
    detector = build_detector(args)
    assert detector.lfcc.filter_bank.shape == (257, 20)
    assert detector.masking.axis == 'coefficient' and detector.masking.p == 0.5
    assert detector.masking.mask.mask_param == 7
    assert len(detector.frontend.conformer_mp.encoders) == 5
    assert detector.backends[0].fc.weight.shape == (16, 32)
    assert detector.frontend.conformer_mp.encoders[0].feed_forward.w_1.weight.shape == (48, 32)
    assert {'output_size', 'embedding_size', 'n_lfcc', 'mask_max', 'cnn_module_kernel'} <= set(detector_keys(args))
    assert detector(torch.randn(2, 40, 60))[0].shape == (2, 16)


@pytest.mark.parametrize('n_lfcc', [20, 40, 60])
def test_the_hm_conformer_input_size_follows_n_lfcc(n_lfcc):
    """The feature size is derived (3 x n_lfcc): a changed n_lfcc builds a model that runs."""
    detector = build_detector(get_args([f'n_lfcc={n_lfcc}', 'output_size=32', 'linear_units=48'])[0]).eval()
    features = detector.features(torch.randn(2, 8000))
    assert features.shape == (2, 51, 3 * n_lfcc)
    assert detector.frontend.conformer_mp.embed.out[0].in_features == 32 * (3 * n_lfcc // 2 - 1)
    assert detector.score(torch.randn(2, 8000)).shape == (2,)


def test_loss_and_augmentation_keys_reach_their_parts():
    args = get_args(['r_real=0.8', 'alpha=10', 'alpha_cl=5', 'use_bpl=False', 'use_class_weight=False',
                     'snr_min=3', 'snr_max=4', 'speed_factors=[1.0]', 'sample_rate=8000'])[0]
    objective = build_objective(args)
    assert (objective.eoc_softmax.r_real, objective.eoc_softmax.alpha) == (0.8, 10)
    assert objective.alpha_cl == 5 and not objective.use_bpl and objective.eoc_softmax.class_weight is None
    augment = build_batch_augment(args)
    assert (augment.colored_noise.snr_min, augment.colored_noise.snr_max) == (3, 4)
    assert augment.colored_noise.sample_rate == 8000


def _noise_trials(folder, sample_rate):
    """Eight short noise files, four bona fide and four spoof."""
    import soundfile as sf
    trials = []
    for i in range(8):
        path = str(folder / f'{i}.flac')
        sf.write(path, 0.1 * np.random.default_rng(i).standard_normal(8000), sample_rate)
        trials.append(Trial(str(i), path, int(i < 4), 'bonafide' if i < 4 else 'A01'))
    return trials


def test_sample_rate_and_seed_reach_the_data_workers(tmp_path):
    trials = _noise_trials(tmp_path, 8000)
    args = get_args(['sample_rate=8000', 'rand_seed=7', 'batch_size=4', 'ratio_bona=0.5', 'ratio_spoof=0.5',
                     'num_workers=0', 'codec_p=1.0'])[0]
    loader = build_training_loader(args, trials)
    bona, spoof = loader.datasets
    assert bona.sample_rate == 8000 and bona.seed == 7
    assert bona.codec.codec.sample_rate == 8000 and bona.rawboost.sample_rate == 8000
    long_view, short_view, labels = next(iter(loader))
    assert long_view.shape[0] == 4 and torch.isfinite(long_view).all() and labels.tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize('sample_rate', [8000, 22050])
def test_rawboost_notches_stay_below_nyquist_at_any_rate(sample_rate):
    rng = np.random.default_rng(0)
    for _ in range(20):
        taps = random_notch_filter(rng, fs=sample_rate)
        assert np.isfinite(taps).all()
    x = 0.3 * np.random.default_rng(1).standard_normal(sample_rate)
    for choice in range(9):
        y = rawboost(x, choice, np.random.default_rng(choice), sample_rate)
        assert y.shape == x.shape and np.isfinite(y).all()


def test_the_objective_moves_like_any_module():
    objective = build_objective(get_args()[0])
    assert isinstance(objective, torch.nn.Module)
    assert objective.eoc_softmax.class_weight.dtype == torch.float32
    objective.to(torch.float64)
    assert objective.eoc_softmax.class_weight.dtype == torch.float64
    assert objective.eoc_softmax.class_weight.tolist() == pytest.approx([1 / 1.8, 5.0])


def test_every_experiment_key_is_read_and_a_renamed_parameter_stops_the_build(monkeypatch, tmp_path):
    """keyword_args matches keys to parameter names: a constructor parameter renamed behind a
    key's back would leave the key unread and the part at its default; the build refuses."""
    import inspect

    from arguments import EXPERIMENT
    from trainer import build
    from utils.config import ConfigError
    assert build.unread_keys(EXPERIMENT) == []

    class RenamedNoise(AddColoredNoise):
        def __init__(self, snr_low: float = 10.0, snr_max: float = 40.0, f_decay_min: float = -2.0,
                     f_decay_max: float = 2.0, colored_noise_p: float = 1.0, sample_rate: int = 16000):
            super().__init__(snr_low, snr_max, f_decay_min, f_decay_max, colored_noise_p, sample_rate)

    assert 'snr_low' in inspect.signature(RenamedNoise).parameters
    parts = tuple(RenamedNoise if part is AddColoredNoise else part for part in build.KEYWORD_PARTS)
    monkeypatch.setattr(build, 'KEYWORD_PARTS', parts)
    assert build.unread_keys(EXPERIMENT) == ['snr_min']
    with pytest.raises(ConfigError, match='experiment keys that no part reads: snr_min'):
        build.build_training_parts(get_args()[0], None)


def test_constructor_parameters_left_at_their_defaults_are_the_known_ones(monkeypatch, tmp_path):
    """Every parameter of every part built by keyword is fed by a key or an explicit argument,
    except those listed here on purpose; and every backbone factory parameter is a key."""
    import functools
    import inspect

    from arguments import EXPERIMENT, SYSTEM
    from models.registry import BACKBONES
    from trainer import build
    defaulted = {}

    def recorder(part):
        original = part.__init__

        @functools.wraps(original)  # keyword_args reads the signature through __wrapped__
        def recording(self, *positional, **named):
            bound = inspect.signature(original).bind(self, *positional, **named)
            defaulted[part.__name__] = sorted(set(inspect.signature(part).parameters) - set(bound.arguments))
            original(self, *positional, **named)
        return recording

    for part in build.KEYWORD_PARTS:
        monkeypatch.setattr(part, '__init__', recorder(part))
    trials = _noise_trials(tmp_path, 16000)
    args = get_args(['codec_p=1.0', 'rawboost=True', 'batch_size=4', 'ratio_bona=0.5', 'ratio_spoof=0.5',
                     'num_workers=0'])[0]
    objective, batch_augment = build.build_objective(args), build.build_batch_augment(args)
    build.build_training_loader(args, trials)
    model = torch.nn.Linear(1, 1)
    build.build_step(args, model, torch.optim.Adam(model.parameters()), objective, batch_augment)
    assert set(defaulted) == {part.__name__ for part in build.KEYWORD_PARTS}
    assert {name: left for name, left in defaulted.items() if left} == {'TwoViewDataset': ['max_failure_rate']}
    for name, backbone in BACKBONES.items():
        assert set(backbone.keys()) <= set(EXPERIMENT) | set(SYSTEM), name
