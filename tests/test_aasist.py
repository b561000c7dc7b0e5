"""AASIST as the third backbone: equal to the AASIST authors' code (tests/fixtures/aasist, written
with their code by make_fixture.py), their released weights, clear errors for a file that does
not fit, and EBM training on it."""
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from arguments import get_args
from data.views import make_view
from models.aasist import AASISTLoadError, build_aasist_detector
from tests.helpers import AASIST_L, AASIST_L_KEYS, FIXTURES, ONE_HEAD, two_step_learning
from trainer.build import build_detector, build_objective
from utils.config import ConfigError

AASIST_FIXTURES = os.path.join(FIXTURES, 'aasist')
SMALL = dict(aasist_channels=[8, 8, 12, 12], aasist_gat_dims=[12, 8], aasist_pool_ratios=[0.5, 0.7, 0.5])


@pytest.fixture(scope='module')
def expected():
    return torch.load(os.path.join(AASIST_FIXTURES, 'expected.pt'))


@pytest.fixture(scope='module')
def waves(expected):
    """The three real utterances, padded to 64,600 samples as AASIST's evaluation pads (by repetition)."""
    folder = os.path.join(FIXTURES, 'asvspoof2019_la')
    return torch.stack([torch.from_numpy(make_view(sf.read(os.path.join(folder, name))[0], 64_600, False, None))
                        .float() for name in expected['names']])


def _close(ours, theirs):
    return all(torch.allclose(a, b, rtol=1e-5, atol=1e-5) for a, b in zip(ours, theirs))


def test_equal_to_their_code_in_evaluation(expected, waves):
    detector = build_aasist_detector(**SMALL, aasist_checkpoint=os.path.join(AASIST_FIXTURES, 'small_random.pth'))
    with torch.no_grad():
        ours = detector.eval().aasist(waves)
    assert ours[0].shape == (3, 40) and ours[1].shape == (3, 2)
    assert _close(ours, expected['small_eval'])


def test_equal_to_their_code_in_training_mode_dropout_and_batch_norm_statistics_included(expected, waves):
    """Same seed, same random draws in the same order; the running statistics after one
    training-mode forward equal theirs, bn1's included (QUIRK:aasist-unused-bn1)."""
    detector = build_aasist_detector(**SMALL, aasist_checkpoint=os.path.join(AASIST_FIXTURES, 'small_random.pth'))
    detector.train()
    torch.manual_seed(expected['small_train_seed'])
    with torch.no_grad():
        ours = detector.aasist(waves)
    assert _close(ours, expected['small_train'])
    state = detector.aasist.state_dict()
    assert any(key.endswith('bn1.running_mean') for key in expected['small_bn_after_train'])
    for key, value in expected['small_bn_after_train'].items():
        assert torch.allclose(state[key], value, rtol=1e-5, atol=1e-6), key


def test_their_released_aasist_l_loads_scores_as_theirs_and_separates_the_real_utterances(expected, waves):
    detector = build_detector(get_args(ONE_HEAD + AASIST_L_KEYS + [f'aasist_checkpoint={AASIST_L}',
                                                                   'aasist_score=logit'])[0]).eval()
    assert sum(p.numel() for p in detector.aasist.parameters()) == 85_306  # as their README states
    with torch.no_grad():
        ours = detector.aasist(waves)
        scores = dict(zip(expected['names'], detector.score(waves).tolist()))
    assert _close(ours, expected['aasist_l_eval'])
    assert scores['LA_T_1272637.flac'] > 5 and scores['LA_D_1003356.flac'] < -5 and scores['LA_E_6163791.flac'] < -5


def test_published_aasist_has_their_parameter_count_and_a_160_dimensional_embedding():
    detector = build_detector(get_args(ONE_HEAD)[0])
    assert sum(p.numel() for p in detector.aasist.parameters()) == 297_866  # "297K" in the AASIST paper
    assert detector.num_heads == 1 and detector.centroids[0].shape == (1, 160)
    assert detector.features(torch.zeros(2, 100)).shape == (2, 100)  # the waveform itself


def test_a_file_that_does_not_fit_names_its_keys_and_the_settings_it_needs(tmp_path):
    with pytest.raises(AASISTLoadError, match=r"key 'pos_S' has shape \(1, 23, 24\), the configured AASIST "
                                              r"expects \(1, 23, 64\); its shapes are those of aasist_channels="
                                              r"\[32,32,24,24\] aasist_gat_dims=\[24,32\] \(AASIST-L; its "
                                              r"published aasist_pool_ratios=\[0.4,0.5,0.7\]\)"):
        build_aasist_detector(aasist_checkpoint=AASIST_L)
    state = torch.load(AASIST_L, map_location='cpu')
    del state['pos_S']
    state['extra.weight'] = torch.zeros(1)
    torch.save(state, tmp_path / 'broken.pth')
    with pytest.raises(AASISTLoadError, match=r"missing keys \['pos_S'\], unexpected keys \['extra.weight'\]"):
        build_aasist_detector(aasist_channels=[32, 32, 24, 24], aasist_gat_dims=[24, 32],
                              aasist_checkpoint=str(tmp_path / 'broken.pth'))
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    with pytest.raises(AASISTLoadError, match='cannot read the AASIST weights .*text.pth'):
        build_aasist_detector(aasist_checkpoint=str(tmp_path / 'text.pth'))


def test_main_names_a_wrong_aasist_checkpoint_before_anything_starts(demo_corpus, tmp_path, capsys):
    import main
    paths = [f"{key}={value}" for key, value in demo_corpus.items()]
    code = main.main(paths + ONE_HEAD + [f'path_log={tmp_path}', f'aasist_checkpoint={AASIST_L}'])
    assert code == 2
    error = capsys.readouterr().err
    assert f"aasist_checkpoint='{AASIST_L}'" in error and 'aasist_channels=[32,32,24,24]' in error
    assert not os.path.exists(tmp_path / 'EBM')


def test_their_own_score_is_for_evaluation_only(demo_corpus, tmp_path, capsys):
    import main
    paths = [f"{key}={value}" for key, value in demo_corpus.items()]
    assert main.main(paths + ONE_HEAD + [f'path_log={tmp_path}', 'aasist_score=logit']) == 2
    assert "aasist_score='logit': AASIST's own output layer is not trained by EBM" in capsys.readouterr().err


def test_configuration_rules_of_the_aasist_keys():
    for override, message in (('aasist_channels=[32,32,64]', 'aasist_channels=.*must have 4 entries'),
                              ('aasist_pool_ratios=[0.5,0.5]', 'aasist_pool_ratios=.*must have 3 entries'),
                              ('aasist_pool_ratios=[0.5,0.5,1.5]', r'each in \(0, 1\]'),
                              ('aasist_sinc_filters=2', 'aasist_sinc_filters=2: must be an int >= 3')):
        with pytest.raises(ConfigError, match=message):
            get_args(ONE_HEAD + [override])
    assert get_args(['backbone=aasist'])[0]['loss_weight'] == [1.0]   # the backbone brings its one head
    with pytest.raises(ConfigError, match=r'one weight per head: 1 with backbone=aasist \(e.g. loss_weight=\[1.0\]\)'):
        get_args(['backbone=aasist', 'loss_weight=[1.0,1.0]'])


def test_sinc_filter_masking_in_training_only():
    """aasist_freq_aug: a run of 0..19 consecutive sinc filters is zeroed per training batch."""
    detector = build_aasist_detector(**SMALL, aasist_freq_aug=True)
    wave = torch.randn(2, 8000)
    outputs = []
    handle = detector.aasist.conv_time.register_forward_hook(lambda module, inputs, output: outputs.append(output))
    with torch.no_grad():
        detector.eval()(wave)
        detector.train()
        for seed in range(10):
            torch.manual_seed(seed)
            detector(wave)
    handle.remove()
    clean, widths = outputs[0], []
    for masked in outputs[1:]:
        zeroed = masked.abs().sum(dim=2)[0] == 0
        rows = torch.nonzero(zeroed).flatten().tolist()
        assert rows == list(range(rows[0], rows[0] + len(rows))) if rows else True   # one consecutive run
        assert torch.equal(masked[:, ~zeroed], clean[:, ~zeroed])
        widths.append(len(rows))
    assert not (clean.abs().sum(dim=2) == 0).any()
    assert max(widths) > 0 and all(0 <= width <= 19 for width in widths), widths


def test_ebm_never_trains_their_output_layer_and_the_centroid_learns_on_separable_audio():
    """On waveforms where bona fide rows carry a tone, loss_2 falls and the centroid turns
    toward the bona fide embeddings; AASIST's two-class layer keeps its weights."""
    torch.manual_seed(0)
    args = get_args(ONE_HEAD + ['use_bpl=False'])[0]
    detector = build_aasist_detector(**SMALL).train()
    out_layer = detector.aasist.out_layer.weight.detach().clone()
    optimizer = torch.optim.Adam(detector.parameters(), lr=0.003)
    objective = build_objective(args)
    generator = torch.Generator().manual_seed(1)
    tone = torch.sin(2 * np.pi * 440 * torch.arange(4000) / 16000)

    def batch(rows, bona):
        labels = (torch.arange(rows) < bona).long()
        return 0.1 * torch.randn(rows, 4000, generator=generator) + 0.3 * tone * labels[:, None], labels

    # 45 steps: at 30 the cosine had only just crossed the bar, and on 2 threads with AVX-512
    # it ended at 0.356 (1 thread: 0.429); at 45 both give 0.79
    before, after, losses_2 = two_step_learning(detector, objective, optimizer, batch, 45)
    assert sum(losses_2[-5:]) < 0.7 * sum(losses_2[:5]), losses_2
    assert after > before + 0.2, (before, after)
    assert torch.equal(detector.aasist.out_layer.weight, out_layer)
    assert detector.aasist.out_layer.weight.grad is None


@pytest.mark.slow
def test_ebm_on_aasist_end_to_end_and_their_own_score_in_test_and_infer(demo_corpus, tmp_path, capsys):
    """A short EBM run on the demo corpus (AASIST at a quarter of its width, short crops, for
    the CPU): loss_2 falls and the centroid turns toward the bona fide embeddings. A TEST run
    with aasist_score=logit scores with AASIST's own output; their released AASIST-L imported
    with tools.import_release separates the real utterances in tools.infer."""
    from tests.helpers import tiny_args
    from tools import import_release, infer
    from trainer.trainer import Trainer
    small = ['aasist_channels=[4,4,8,8]', 'aasist_gat_dims=[8,8]', 'num_train_frames=34',
             'num_train_frames_short=30', 'num_test_frames=34', 'path_21LA=None', 'path_21DF=None',
             'codec_p=0', 'rawboost=False'] + ONE_HEAD   # the per-item augmentation is the same for every backbone
    trainer = Trainer(tiny_args(demo_corpus, tmp_path, 'name=aasist', 'eval_from_epoch=2', *small))
    trainer.run()
    metrics = os.path.join(trainer.run_dir, 'metrics')
    loss_2 = [float(line.split(': ')[1]) for line in open(os.path.join(metrics, 'train_loss_2.txt'))]
    half = len(loss_2) // 2
    assert np.mean(loss_2[half:]) < np.mean(loss_2[:half])
    cosines = [float(line.split(': ')[1]) for line in open(os.path.join(metrics, 'train_centroid_cosine_head_0.txt'))]
    assert len(cosines) == 2 and cosines[1] > cosines[0]

    checkpoint = os.path.join(trainer.run_dir, 'models', 'epoch_2.pt')
    tester = Trainer(tiny_args(demo_corpus, tmp_path, 'name=aasist', 'TEST=True', f'checkpoint={checkpoint}',
                               'aasist_score=logit', 'calibration_set=None', *small))
    tester.run()
    with open(os.path.join(tester.run_dir, 'scores', '19LA_epoch2.txt')) as handle:
        first_id, first_score = handle.readline().split()
    from data.audio import read_audio
    from data.protocol import read_asvspoof2019
    trial = next(t for t in read_asvspoof2019(demo_corpus['path_19LA'], 'eval') if t.utt_id == first_id)
    wave = torch.from_numpy(make_view(read_audio(trial.path), 34 * 160 - 40, False, None)).float()[None]
    with torch.no_grad():
        logit = tester.detector.eval().aasist(wave)[1][0, 1]
    assert float(first_score) == pytest.approx(float(logit), abs=1e-5)

    out = str(tmp_path / 'aasist_l.pt')
    assert import_release.main(['--release', AASIST_L, '--out', out, '--threshold', '0', 'aasist_score=logit',
                                *ONE_HEAD, *AASIST_L_KEYS]) == 0
    capsys.readouterr()
    folder = os.path.join(FIXTURES, 'asvspoof2019_la')
    assert infer.main(['--checkpoint', out, folder]) == 0
    decisions = {line.split()[0].rsplit('/', 1)[1]: line.split()[2] for line in capsys.readouterr().out.splitlines()}
    assert decisions == {'LA_D_1003356.flac': 'spoof', 'LA_E_6163791.flac': 'spoof', 'LA_T_1272637.flac': 'bonafide'}
    assert import_release.main(['--release', AASIST_L, '--out', out, '--tag', 'LA', *ONE_HEAD, *AASIST_L_KEYS]) == 2
    assert '--tag: not an option of backbone=aasist' in capsys.readouterr().err
