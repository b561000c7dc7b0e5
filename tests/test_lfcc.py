"""LFCC against an independent numpy/scipy computation written from docs/method.md section 7."""
import glob
import os

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import soundfile as sf
import torch

from models.lfcc import LFCC
from tests.helpers import FIXTURES

FILES = sorted(glob.glob(os.path.join(FIXTURES, 'asvspoof2019_la', '*.flac')))


def reference_lfcc(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    y = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    n_fft, hop, win = 512, 160, 320
    window = np.zeros(n_fft)
    offset = (n_fft - win) // 2
    window[offset:offset + win] = scipy.signal.get_window('hamming', win, fftbins=True)
    padded = np.pad(y, (n_fft // 2, n_fft // 2))
    n_frames = 1 + (len(padded) - n_fft) // hop
    power = np.stack([np.abs(np.fft.rfft(padded[t * hop:t * hop + n_fft] * window)) ** 2 for t in range(n_frames)])
    freqs = np.linspace(0, 8000, 257)
    edges = np.linspace(0, 8000, 42)
    bank = np.zeros((257, 40))
    for k in range(40):
        a, b, c = edges[k], edges[k + 1], edges[k + 2]
        for i, f in enumerate(freqs):
            if a < f < b:
                bank[i, k] = (f - a) / (b - a)
            elif b < f < c:
                bank[i, k] = (c - f) / (c - b)
            elif f == b:
                bank[i, k] = 1.0
    eps = np.finfo(np.float32).eps
    cepstrum = scipy.fft.dct(np.log10(power @ bank + eps), type=2, norm='ortho', axis=1)
    cepstrum[:, 0] = np.log10(power.sum(axis=1) / 512 + eps)

    def delta(c):
        p = np.concatenate([c[:1], c, c[-1:]])
        return p[2:] - p[:-2]

    d = delta(cepstrum)
    return np.concatenate([cepstrum, d, delta(d)], axis=1)


@pytest.mark.parametrize('path', FILES, ids=os.path.basename)
def test_lfcc_matches_independent_computation_on_real_speech(path):
    audio, rate = sf.read(path, dtype='float32')
    assert rate == 16000
    ours = LFCC()(torch.from_numpy(audio).unsqueeze(0))[0].double().numpy()
    expected = reference_lfcc(audio)
    assert ours.shape == expected.shape == (1 + len(audio) // 160, 120)
    assert np.max(np.abs(ours - expected)) < 1e-4


def test_fixture_files_present():
    assert len(FILES) == 3


def test_long_crop_gives_404_frames():
    assert LFCC()(torch.randn(2, 64_600)).shape == (2, 404, 120)
    assert LFCC()(torch.randn(2, 48_440)).shape == (2, 303, 120)


def test_no_gradient_and_no_parameters():
    lfcc = LFCC()
    wave = torch.randn(1, 16_000, requires_grad=True)
    assert not lfcc(wave).requires_grad
    assert list(lfcc.parameters()) == [] and lfcc.state_dict() == {}


def test_a_band_limited_filter_bank_spends_every_filter_inside_the_band():
    """lfcc_f_min / lfcc_f_max (e.g. the 150-3400 Hz of telephone speech): the triangles are
    spread evenly over the band and nothing outside it reaches a coefficient."""
    from models.lfcc import linear_filter_bank
    bins = torch.linspace(0, 8000, 257)
    bank = linear_filter_bank(512, 16000, 40, 150.0, 3400.0)
    used = bank.sum(dim=1) > 0
    assert bins[used].min() > 150 and bins[used].max() < 3400
    centres = bins[bank.argmax(dim=0)]
    spacing = (3400 - 150) / 41
    assert torch.allclose(centres, 150 + spacing * torch.arange(1, 41), atol=8000 / 256)
    assert torch.equal(linear_filter_bank(512, 16000, 40, 0.0, None), linear_filter_bank(512, 16000, 40))
    assert torch.equal(LFCC(f_min=150.0, f_max=3400.0).filter_bank, bank)
