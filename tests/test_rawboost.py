import numpy as np
import pytest
from scipy import signal

from augment.rawboost import (NUM_CHOICES, RandomRawBoost, bandstop_taps, filter_fir, isd_additive_noise,
                              lnl_convolutive_noise, normalise_peak, peak_gain, random_notch_filter, rawboost,
                              ssi_additive_noise)


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


# The per-item path as first written (scipy's firwin / freqz and one fftconvolve per branch):
# the optimised path must give the same draws and outputs.
def _reference_notch(rng, min_gain=0.0, max_gain=0.0, fs=16000):
    taps = np.ones(1)
    for _ in range(5):
        centre, bandwidth = 20 + (fs / 2 - 20) * rng.random(), 100 + 900 * rng.random()
        length = int(10 + 90 * rng.random())
        length += 1 - length % 2
        low, high = max(centre - bandwidth / 2, 1e-3), min(centre + bandwidth / 2, fs / 2 - 1e-3)
        taps = np.convolve(signal.firwin(length, [low, high], window='hamming', pass_zero=True, fs=fs), taps)
    gain = min_gain + (max_gain - min_gain) * rng.random()
    return 10 ** (gain / 20) * taps / np.max(np.abs(signal.freqz(taps, 1, fs=fs)[1]))


def _reference_fir(x, taps):
    pad = len(taps) + 1
    padded = np.pad(x, (0, pad))
    return signal.fftconvolve(padded, taps)[:len(padded)][pad // 2:pad // 2 + len(x)]


def _reference_rawboost(x, choice, rng):
    def lnl(w):
        y, power = np.zeros_like(w), np.ones_like(w)
        for order in range(1, 6):
            power = power * w
            y = y + _reference_fir(power, _reference_notch(rng, *((0.0, 0.0) if order == 1 else (-5.0, -20.0))))
        return normalise_peak(y - np.mean(y))

    def ssi(w):
        noise = rng.normal(0, 1, len(w))
        noise = normalise_peak(_reference_fir(noise, _reference_notch(rng)), always=True)
        snr = 10 + 30 * rng.random()
        return w + noise / np.linalg.norm(noise) * np.linalg.norm(w) / 10.0 ** (0.05 * snr)

    steps = {'L': lnl, 'I': lambda w: isd_additive_noise(w, rng), 'S': ssi}
    if choice == 8:
        return normalise_peak(lnl(x) + isd_additive_noise(x, rng))
    for step in {0: '', 1: 'L', 2: 'I', 3: 'S', 4: 'LIS', 5: 'LI', 6: 'LS', 7: 'IS'}[choice]:
        x = steps[step](x)
    return x


def test_closed_form_designs_equal_scipy():
    rng = np.random.default_rng(3)
    for _ in range(200):
        length = 2 * int(rng.integers(5, 60)) + 1
        low = 1e-3 + 7000 * rng.random()
        high = min(low + 100 + 900 * rng.random(), 8000 - 1e-3)
        reference = signal.firwin(length, [low, high], window='hamming', pass_zero=True, fs=16000)
        assert np.max(np.abs(bandstop_taps(length, low, high, 16000) - reference)) < 1e-12
        taps = np.convolve(reference, rng.standard_normal(int(rng.integers(1, 400))))
        assert abs(peak_gain(taps) - np.max(np.abs(signal.freqz(taps, 1)[1]))) < 1e-12 * np.max(np.abs(taps)) * 500


@pytest.mark.parametrize('choice', range(NUM_CHOICES))
@pytest.mark.parametrize('length', [64_600, 48_440, 7_919])   # both training crops, and an odd length
def test_the_optimised_path_gives_the_reference_draws_and_outputs(choice, length):
    x = _speech_like(peak=0.6, n=length)
    for seed in range(4):
        fast_rng, reference_rng = np.random.default_rng([seed, choice]), np.random.default_rng([seed, choice])
        fast, reference = rawboost(x, choice, fast_rng), _reference_rawboost(x, choice, reference_rng)
        assert np.max(np.abs(fast - reference)) <= 1e-6 * max(np.max(np.abs(reference)), 1e-12), (choice, seed)
        assert fast_rng.random() == reference_rng.random()    # the same number of draws, in the same order
