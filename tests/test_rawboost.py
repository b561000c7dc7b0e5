import numpy as np
import pytest
from scipy import signal

from augment.rawboost import (NUM_CHOICES, RandomRawBoost, filter_fir, isd_additive_noise, lnl_convolutive_noise,
                              random_notch_filter, rawboost, ssi_additive_noise)


def _speech_like(seed=0, n=16_000, peak=0.5):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16_000
    x = np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t)) + 0.1 * rng.standard_normal(n)
    return peak * x / np.max(np.abs(x))


@pytest.mark.parametrize('choice', range(NUM_CHOICES))
def test_length_preserved_and_seed_reproducible(choice):
    x = _speech_like()
    first = rawboost(x, choice, np.random.default_rng(7))
    np.random.seed(123)  # the global generator must not matter
    second = rawboost(x, choice, np.random.default_rng(7))
    assert len(first) == len(x)
    assert np.array_equal(first, second)
    if choice:
        assert not np.array_equal(first, x)


def test_unknown_choice_is_refused():
    with pytest.raises(ValueError, match='0..8'):
        rawboost(_speech_like(), 9, np.random.default_rng(0))


def test_ssi_realises_the_drawn_snr():
    x = _speech_like()
    for snr in (10.0, 23.5, 40.0):
        y = ssi_additive_noise(x, np.random.default_rng(3), min_snr=snr, max_snr=snr)
        realised = 20 * np.log10(np.linalg.norm(x) / np.linalg.norm(y - x))
        assert abs(realised - snr) < 0.01
    y = ssi_additive_noise(x, np.random.default_rng(4))
    assert 10 - 0.01 <= 20 * np.log10(np.linalg.norm(x) / np.linalg.norm(y - x)) <= 40 + 0.01


def test_isd_touches_at_most_ten_percent():
    x = _speech_like(peak=0.2)
    for seed in range(20):
        y = isd_additive_noise(x, np.random.default_rng(seed))
        assert np.count_nonzero(y != x) <= 0.1 * len(x)
    assert max(np.count_nonzero(isd_additive_noise(x, np.random.default_rng(s)) != x) for s in range(20)) > 0


def test_isd_peak_normalised_only_above_one():
    quiet = _speech_like(peak=0.2)
    assert np.max(np.abs(isd_additive_noise(quiet, np.random.default_rng(0)))) <= 0.6
    loud = _speech_like(peak=0.99)
    peaks = [np.max(np.abs(isd_additive_noise(loud, np.random.default_rng(s)))) for s in range(10)]
    assert all(p <= 1 + 1e-12 for p in peaks)
    assert any(abs(p - 1) < 1e-12 for p in peaks)


def test_lnl_with_identity_filters_returns_the_input():
    """Identity under the authors' trim is a length-3 filter with its tap at index 2."""
    x = _speech_like(peak=0.3)
    identity = np.array([0.0, 0.0, 1.0])
    assert np.allclose(filter_fir(x, identity), x)

    def make_filter(order, low, high):
        return identity if order == 1 else np.zeros(3)

    y = lnl_convolutive_noise(x, np.random.default_rng(0), make_filter=make_filter)
    assert np.allclose(y, x - x.mean())


def test_lnl_gain_ranges_per_order():
    seen = []

    def make_filter(order, low, high):
        seen.append((order, low, high))
        return np.zeros(3)

    lnl_convolutive_noise(_speech_like(), np.random.default_rng(0), make_filter=make_filter)
    assert seen == [(1, 0, 0), (2, -5, -20), (3, -5, -20), (4, -5, -20), (5, -5, -20)]


def test_filter_leads_by_one_sample_for_a_centred_filter():
    x = _speech_like()
    assert np.allclose(filter_fir(x, np.array([0.0, 1.0, 0.0]))[:-1], x[1:])


@pytest.mark.parametrize('choice', [1, 4, 5, 6, 8])
def test_lnl_outputs_respect_the_peak_rule(choice):
    x = _speech_like(peak=0.99)
    for seed in range(5):
        y = rawboost(x, choice, np.random.default_rng(seed))
        if choice in (1, 5, 8):
            assert np.max(np.abs(y)) <= 1 + 1e-12


def test_random_choice_covers_all_nine():
    x = _speech_like(n=2000)
    augment = RandomRawBoost()
    rng = np.random.default_rng(0)
    draws = [int(np.random.default_rng(s).integers(NUM_CHOICES)) for s in range(200)]
    assert set(draws) == set(range(NUM_CHOICES))
    assert len(augment(x, rng)) == len(x)


def _response_db(taps, freqs, fs=16_000):
    _, h = signal.freqz(taps, 1, worN=np.asarray(freqs, dtype=float), fs=fs)
    return 20 * np.log10(np.abs(h) + 1e-12)


def test_one_band_is_a_notch():
    """A fixed 2600-3400 Hz band: deep attenuation inside, the rest of the spectrum kept at 0 dB."""
    taps = random_notch_filter(np.random.default_rng(0), n_bands=1, min_freq=3000, max_freq=3000, min_bw=800,
                               max_bw=800, min_coeff=101, max_coeff=101)
    inside = _response_db(taps, [2900, 3000, 3100])
    outside = _response_db(taps, [100, 500, 1000, 1500, 2000, 4000, 5000, 6000, 7000, 7900])
    assert np.all(inside < -20), inside
    assert np.all(np.abs(outside) < 1.0), outside


def test_default_filter_bank_keeps_most_of_the_spectrum():
    """Five random notches remove narrow bands: most bins stay within 20 dB of the peak
    (a band-pass bank would keep about a tenth)."""
    grid = np.linspace(0, 8000, 1024, endpoint=False)
    kept = [np.mean(_response_db(random_notch_filter(np.random.default_rng(seed)), grid) > -20)
            for seed in range(30)]
    assert np.mean(kept) > 0.75, np.mean(kept)
    assert min(kept) > 0.4


def test_lnl_keeps_the_spectrum_of_speech_broad():
    """LnL on a broadband signal: the output's power stays spread over the band
    instead of being concentrated in a few narrow bands."""
    rng = np.random.default_rng(5)
    x = 0.3 * rng.standard_normal(32_000)
    f, p_in = signal.welch(x, 16_000, nperseg=512)
    fractions = []
    for seed in range(10):
        y = lnl_convolutive_noise(x, np.random.default_rng(seed))
        _, p_out = signal.welch(y, 16_000, nperseg=512)
        fractions.append(np.mean(10 * np.log10(p_out / p_out.max()) > -20))
    assert np.mean(fractions) > 0.75, fractions
