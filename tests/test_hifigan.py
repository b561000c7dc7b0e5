import glob
import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from data.sets import training_trials
from vocoder.hifigan import CONFIGS, GeneratorLoadError, HiFiGANConfig, HiFiGANGenerator, load_generator, save_generator
from vocoder.copy_synthesis import CopySynthesiser
from vocoder.mel_analysis import HiFiGANMel
from tests.helpers import FIXTURES, tiny_args
from tools import vocode_hifigan

TINY_CONFIG = HiFiGANConfig(resblock='2', upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
                            upsample_initial_channel=16, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 2]])


@pytest.mark.parametrize('name,count', [('v1', 13_936_130), ('v2', 928_514), ('v3', 1_464_322)])
def test_parameter_counts_and_release_names(name, count):
    generator = HiFiGANGenerator(CONFIGS[name])
    assert sum(p.numel() for p in generator.parameters()) == count
    layout = {}
    with open(os.path.join(FIXTURES, 'hifigan', f'generator_{name}_state_dict.txt')) as handle:
        for line in handle:
            if line.startswith('#') or not line.strip():
                continue
            key, shape = line.split(' ', 1)
            layout[key] = tuple(int(v) for v in shape.strip().strip('()').split(',') if v.strip())
    assert {k: tuple(v.shape) for k, v in generator.state_dict().items()} == layout


def test_output_length_and_range():
    generator = HiFiGANGenerator(CONFIGS['v3']).eval()
    with torch.no_grad():
        wave = generator(torch.randn(2, 80, 10))
    assert wave.shape == (2, 1, 10 * 256) and wave.abs().max() <= 1


def test_release_format_round_trip(tmp_path):
    torch.manual_seed(0)
    generator = HiFiGANGenerator(CONFIGS['v2']).eval()
    path = str(tmp_path / 'g' / 'generator_v2')
    save_generator(generator, path)
    assert json.load(open(tmp_path / 'g' / 'config.json'))['upsample_initial_channel'] == 128
    loaded = load_generator(path)  # the config.json beside it selects V2
    mel = torch.randn(1, 80, 6)
    with torch.no_grad():
        assert torch.equal(loaded(mel), generator(mel))


def test_wrong_key_set_is_reported_by_name(tmp_path):
    generator = HiFiGANGenerator(CONFIGS['v3'])
    state = generator.state_dict()
    state['extra.weight'] = state.pop('conv_post.weight_g')
    torch.save({'generator': state}, tmp_path / 'bad')
    with pytest.raises(GeneratorLoadError, match=r"missing keys \['conv_post.weight_g'\], unexpected keys "
                                                  r"\['extra.weight'\]"):
        load_generator(str(tmp_path / 'bad'), CONFIGS['v3'])
    torch.save({'generator': HiFiGANGenerator(CONFIGS['v2']).state_dict()}, tmp_path / 'v2')
    with pytest.raises(GeneratorLoadError, match=r"key 'conv_pre.weight_v' has shape \(128, 80, 7\)"):
        load_generator(str(tmp_path / 'v2'), CONFIGS['v1'])
    torch.save({'generator': HiFiGANGenerator(CONFIGS['v3']).state_dict()}, tmp_path / 'v3')
    with pytest.raises(GeneratorLoadError, match=r"missing keys \(\d+\) \['ups.3"):
        load_generator(str(tmp_path / 'v3'), CONFIGS['v1'])
    torch.save(generator.state_dict(), tmp_path / 'plain')
    with pytest.raises(GeneratorLoadError, match="key 'generator'"):
        load_generator(str(tmp_path / 'plain'), CONFIGS['v3'])


def slaney_bank(sr=22050, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0):
    """The Slaney mel filter bank from its formula (linear below 1 kHz, logarithmic above)."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, float)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    bank = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lower = (freqs - edges[m]) / (edges[m + 1] - edges[m])
        upper = (edges[m + 2] - freqs) / (edges[m + 2] - edges[m + 1])
        bank[m] = np.maximum(0, np.minimum(lower, upper)) * 2.0 / (edges[m + 2] - edges[m])
    return bank


def test_mel_analysis_against_an_independent_computation():
    audio, _ = sf.read(sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))[0])
    analysis = HiFiGANMel()
    assert np.allclose(analysis.mel_bank.numpy(), slaney_bank(), atol=1e-6)
    x = audio[:22050]
    ours = analysis(torch.from_numpy(x).float().unsqueeze(0))[0].double().numpy()
    padded = np.pad(x, (384, 384), mode='reflect')
    window = np.hanning(1025)[:-1]  # periodic Hann
    frames = [padded[i:i + 1024] * window for i in range(0, len(padded) - 1024 + 1, 256)]
    magnitude = np.sqrt(np.abs(np.fft.rfft(np.stack(frames), axis=1)) ** 2 + 1e-9).T
    expected = np.log(np.maximum(slaney_bank() @ magnitude, 1e-5))
    assert ours.shape == expected.shape == (80, len(x) // 256)
    assert np.max(np.abs(ours - expected)) < 1e-3


@pytest.fixture
def vocoder_corpus(demo_corpus, tmp_path):
    root = tmp_path / 'ASVspoof2019'
    shutil.copytree(demo_corpus['path_19LA'], root, ignore=shutil.ignore_patterns('vocoder'))
    torch.manual_seed(0)
    save_generator(HiFiGANGenerator(TINY_CONFIG), str(tmp_path / 'generator' / 'g_tiny'))
    return str(root), str(tmp_path / 'generator' / 'g_tiny')


@pytest.mark.slow
def test_vocoding_the_demo_corpus(vocoder_corpus, demo_corpus, tmp_path, capsys):
    root, checkpoint = vocoder_corpus
    assert vocode_hifigan.main(['--checkpoint', checkpoint, '--path_19LA', root]) == 0
    folder = os.path.join(root, 'LA/ASVspoof2019_LA_train/vocoder/hifi_gan/flac')
    jobs = vocode_hifigan.spoof_jobs(root)
    written = sorted(os.listdir(folder))
    assert written == sorted(os.path.basename(out) for _, out in jobs) and len(written) == 240
    assert not [name for name in written if 'tmp' in name]
    trial, output = jobs[0]
    copy, rate = sf.read(output)
    assert rate == 16000 and len(copy) == sf.info(trial.path).frames and np.max(np.abs(copy)) <= 1

    capsys.readouterr()
    assert vocode_hifigan.main(['--checkpoint', checkpoint, '--path_19LA', root]) == 0
    assert '240 already done, 0 to synthesise' in capsys.readouterr().out

    # an interrupted run: some copies never written, one cut short mid-write
    for _, output in jobs[:5]:
        os.remove(output)
    with open(jobs[5][1], 'r+b') as handle:
        handle.truncate(40)
    before = os.path.getmtime(jobs[10][1])
    assert vocode_hifigan.main(['--checkpoint', checkpoint, '--path_19LA', root]) == 0
    assert '6 to synthesise' in capsys.readouterr().out
    assert os.path.getmtime(jobs[10][1]) == before
    assert vocode_hifigan.main(['--path_19LA', root, '--check']) == 0

    args = tiny_args({**demo_corpus, 'path_19LA': root}, tmp_path / 'logs', 'use_vocoder_copies=True')
    train = training_trials(args, lambda line: None)
    copies = [t for t in train if t.conditions.get('vocoder') == 'hifi_gan']
    assert len(copies) == 240 and all(t.label == 0 for t in copies)


def test_check_reports_missing_copies(vocoder_corpus, capsys):
    root, checkpoint = vocoder_corpus
    assert vocode_hifigan.main(['--path_19LA', root, '--check']) == 1
    assert '0 of 240 spoof utterances have a good copy' in capsys.readouterr().out


@pytest.mark.slow
def test_parallel_cpu_workers_write_the_same_copies(vocoder_corpus):
    root, checkpoint = vocoder_corpus
    jobs = vocode_hifigan.spoof_jobs(root)[:6]
    synthesiser = CopySynthesiser(load_generator(checkpoint), torch.device('cpu'))
    single = synthesiser([sf.read(t.path)[0] for t, _ in jobs])
    assert vocode_hifigan.main(['--checkpoint', checkpoint, '--path_19LA', root, '--workers', '2']) == 0
    for (_, output), expected in zip(jobs, single):
        written, _ = sf.read(output)
        assert np.max(np.abs(written - expected)) < 1e-3  # 16-bit quantisation
