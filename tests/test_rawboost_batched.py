"""RawBoost batched on the training device (rawboost_device=cuda) against the per-item
version: the same filters for the same parameters, and the same distribution of outputs
(spectra, levels, added noise) per choice on a real utterance, run here on CPU tensors."""
import glob
import os

import numpy as np
import pytest
import torch
from scipy import signal, stats

from arguments import get_args
from augment import rawboost as per_item
from augment.rawboost_batched import (BatchRawBoost, bandstop_frames, convolve_bands, filter_sum, peak_gain,
                                      rawboost_batch, random_notch_filters)
from data.audio import read_audio
from data.protocol import Trial
from tests.helpers import FIXTURES
from trainer.build import build_batch_augment, build_training_loader
from utils.config import ConfigError

DRAWS = 96


def _utterance(samples=24_000):
    path = sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))[0]
    return read_audio(path)[:samples]


def test_a_filter_bank_frame_is_the_per_item_design_centred():
    """Five band-stop designs of odd lengths 11..99 convolved: the per-item taps, centred in the
    491-tap frame; filtering with the frame equals filter_fir with the taps (the one-sample lead)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(3_000)
    for _ in range(30):
        lengths = [2 * int(rng.integers(5, 50)) + 1 for _ in range(5)]
        lows = [1e-3 + 7000 * rng.random() for _ in range(5)]
        highs = [min(low + 100 + 900 * rng.random(), 8000 - 1e-3) for low in lows]
        taps = np.ones(1)
        for length, low, high in zip(lengths, lows, highs):
            taps = np.convolve(per_item.bandstop_taps(length, low, high, 16000), taps)
        frame = convolve_bands(bandstop_frames(torch.tensor(lows, dtype=torch.float64),
                                               torch.tensor(highs, dtype=torch.float64),
                                               torch.tensor(lengths), 99, 16000)).numpy()
        assert frame.shape == (491,)
        centred = np.zeros(491)
        centred[245 - len(taps) // 2:245 + len(taps) // 2 + 1] = taps
        assert np.max(np.abs(frame - centred)) < 1e-9
        assert abs(peak_gain(torch.tensor(frame)).item() - per_item.peak_gain(taps)) < 1e-9
        filtered = filter_sum(torch.tensor(x)[None, None], torch.tensor(frame)[None, None])[0].numpy()
        expected = per_item.filter_fir(x, taps)
        assert np.max(np.abs(filtered - expected)) < 1e-9 * np.max(np.abs(expected))


def test_drawn_filters_are_normalised_to_their_drawn_gain():
    filters = random_notch_filters((200,), torch.zeros(1, dtype=torch.float64), -5.0, -20.0)
    gains = 20 * torch.log10(peak_gain(filters))
    assert filters.shape == (200, 491)
    assert gains.min() >= -20 - 1e-9 and gains.max() <= -5 + 1e-9 and gains.std() > 3


def _features(waves: np.ndarray, clean: np.ndarray):
    _, power = signal.welch(waves, 16000, nperseg=512, axis=-1)
    edges = np.linspace(0, power.shape[1], 17).astype(int)
    bands = np.stack([10 * np.log10(power[:, a:b].mean(axis=1)) for a, b in zip(edges[:-1], edges[1:])], axis=1)
    rms = np.sqrt(np.mean(waves ** 2, axis=1))
    added = np.sqrt(np.mean((waves - clean) ** 2, axis=1))
    return bands.mean(axis=0), {'rms': rms, 'peak': np.max(np.abs(waves), axis=1), 'added': added}


@pytest.mark.parametrize('choice', range(per_item.NUM_CHOICES))
def test_each_choice_has_the_per_item_distribution(choice):
    """DRAWS outputs of each choice on a real utterance: the mean spectrum in 16 bands within
    2.5 dB, and the distributions of the level, the peak and the added signal (y - x) not told
    apart by a two-sample Kolmogorov-Smirnov test at p = 0.001."""
    x = _utterance()
    cpu = np.stack([per_item.rawboost(x, choice, np.random.default_rng([choice, i])) for i in range(DRAWS)])
    torch.manual_seed(choice)
    batched = rawboost_batch(torch.tensor(x).expand(DRAWS, -1).clone(), torch.full((DRAWS,), choice)).numpy()
    assert batched.shape == cpu.shape
    (cpu_spectrum, cpu_levels), (batched_spectrum, batched_levels) = _features(cpu, x), _features(batched, x)
    assert np.max(np.abs(cpu_spectrum - batched_spectrum)) < 2.5, (cpu_spectrum - batched_spectrum).round(2)
    for name in cpu_levels:
        if np.ptp(cpu_levels[name]) == 0 and np.ptp(batched_levels[name]) == 0:
            assert np.allclose(cpu_levels[name], batched_levels[name], atol=1e-6), name
            continue
        assert stats.ks_2samp(cpu_levels[name], batched_levels[name]).pvalue > 1e-3, name


def test_the_batch_draws_every_choice_per_row():
    """Choices are drawn per row, uniformly: over 900 rows every choice comes up, and a row left
    unchanged (choice 0) is the only kind equal to its input."""
    x = torch.tensor(_utterance(4_000), dtype=torch.float32).expand(900, -1).clone()
    torch.manual_seed(0)
    y = BatchRawBoost()(x)
    unchanged = (y == x).all(dim=1).float().mean().item()
    assert abs(unchanged - 1 / 9) < 0.04
    assert y.dtype == torch.float32 and torch.isfinite(y).all()


def test_rawboost_device_moves_it_from_the_loader_to_the_batch(tmp_path):
    trials = [Trial('a', str(tmp_path / 'a.flac'), 1, 'bonafide')] * 4 + [Trial('b', str(tmp_path / 'b.flac'), 0, 'A01')] * 36
    on_loader = get_args([])[0]
    on_device = get_args(['rawboost_device=cuda'])[0]
    assert build_batch_augment(on_loader).device_rawboost is None
    assert isinstance(build_batch_augment(on_device).device_rawboost, BatchRawBoost)
    assert build_training_loader(on_loader, trials).datasets[0].rawboost is not None
    assert build_training_loader(on_device, trials).datasets[0].rawboost is None
    with pytest.raises(ConfigError, match='rawboost_device'):
        get_args(['rawboost=False', 'rawboost_device=cuda'])
