"""RawBoost data boosting (Tak et al., ICASSP 2022) with the paper's default parameters.

All randomness comes from the `numpy.random.Generator` passed in; waveforms are
float64 numpy arrays. Choices 0..8 as in the EBM/SSL anti-spoofing recipes:
0 none, 1 LnL, 2 ISD, 3 SSI, 4 LnL->ISD->SSI, 5 LnL->ISD, 6 LnL->SSI, 7 ISD->SSI,
8 LnL(x) + ISD(x) on the same input, summed, then peak-normalised if above 1.
"""
from typing import Callable, Optional, Sequence

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

NUM_CHOICES = 9


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    # low + (high - low) * U[0, 1), as numpy's legacy uniform: the published gain range
    # [-5, -20] dB has low > high, which Generator.uniform would refuse
    return low + (high - low) * float(rng.random())


def normalise_peak(x: np.ndarray, always: bool = False) -> np.ndarray:
    """Divide by the peak: always, or only when the peak exceeds 1."""
    peak = np.max(np.abs(x))
    if peak > 0 and (always or peak > 1):
        return x / peak
    return x


def bandstop_taps(length: int, low: float, high: float, fs: float) -> np.ndarray:
    """`scipy.signal.firwin(length, [low, high], window='hamming', pass_zero=True, fs=fs)`
    in closed form (odd `length`): the ideal band-stop response, the bands [0, low] and
    [high, fs / 2], times a symmetric Hamming window, scaled to unit gain at 0 Hz.
    A tenth of firwin's time, which is mostly argument handling."""
    nyquist = fs / 2
    m = np.arange(length) - (length - 1) / 2
    f1, f2 = low / nyquist, high / nyquist
    ideal = f1 * np.sinc(f1 * m) + np.sinc(m) - f2 * np.sinc(f2 * m)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(length) / (length - 1))
    taps = ideal * window
    return taps / np.sum(taps)


def peak_gain(taps: np.ndarray) -> float:
    """max |H| on `scipy.signal.freqz(taps)`'s default grid of 512 frequencies in [0, pi),
    which freqz computes as the first 512 bins of a 1,024-point FFT."""
    return float(np.max(np.abs(np.fft.rfft(taps, 1024)[:512])))


def random_notch_filter(rng: np.random.Generator, min_gain: float = 0.0, max_gain: float = 0.0, n_bands: int = 5,
                        min_freq: float = 20, max_freq: Optional[float] = None, min_bw: float = 100,
                        max_bw: float = 1000, min_coeff: int = 10, max_coeff: int = 100,
                        fs: int = 16000) -> np.ndarray:
    """FIR taps of `n_bands` random Hamming-window notch (band-stop) filters convolved
    together, normalised to a peak gain of G dB, G ~ U[min_gain, max_gain].

    Each band is `firwin(n, [f1, f2])` with scipy's default pass_zero=True, which for two
    cutoffs is a band-stop filter (the authors' genNotchCoeffs): the filter bank removes
    up to five narrow bands and keeps the rest of the spectrum. Centres range up to
    `max_freq`, by default the Nyquist frequency fs / 2 (the authors' 8,000 Hz at 16 kHz).
    The designs are `bandstop_taps` and `peak_gain`, firwin's and freqz's results in
    closed form (tests/test_rawboost.py checks both against scipy to 1e-12).
    """
    max_freq = fs / 2 if max_freq is None else max_freq
    taps = np.ones(1)
    for _ in range(n_bands):
        centre = _uniform(rng, min_freq, max_freq)
        bandwidth = _uniform(rng, min_bw, max_bw)
        length = int(_uniform(rng, min_coeff, max_coeff))
        if length % 2 == 0:
            length += 1
        low = max(centre - bandwidth / 2, 1 / 1000)
        high = min(centre + bandwidth / 2, fs / 2 - 1 / 1000)
        taps = np.convolve(bandstop_taps(length, low, high, fs), taps)
    gain_db = _uniform(rng, min_gain, max_gain)
    return 10 ** (gain_db / 20) * taps / peak_gain(taps)


def filter_fir(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Filter with end padding of len(taps) + 1 zeros and keep a centred segment of len(x).

    QUIRK:fir-one-sample-lead: the kept segment starts at (len(taps) + 1) // 2, one sample past
    the group delay of an odd-length linear-phase filter, so the output leads by one
    sample. The FIR filter runs as an FFT convolution: the authors' `lfilter` result up
    to float rounding, several times faster for these long filters.
    """
    return filter_fir_sum(x[None], [taps])


def filter_fir_sum(signals: np.ndarray, filters: Sequence[np.ndarray]) -> np.ndarray:
    """sum_i filter_fir(signals[i], filters[i]), computed as one batched FFT convolution.

    Output sample n of filter_fir(x, t) is the linear convolution (x * t)[n + s] with
    s = (len(t) + 1) // 2; each filter is therefore placed circularly shifted by -s in an
    FFT frame as long as the linear convolution (so nothing wraps around), rounded up to
    the next 2-3-5-smooth size, and the branches are summed in the frequency domain (one
    inverse FFT instead of one per branch). The FFTs stay in float64: in float32 they are
    2.2 times faster but up to 1.2e-6 off relative to the peak of an LnL output.
    """
    length = signals.shape[1]
    size = next_fast_len(length + max(len(t) for t in filters) - 1, real=True)
    padded = np.zeros((len(signals), size))
    padded[:, :length] = signals
    shifted = np.zeros((len(filters), size))
    for row, taps in zip(shifted, filters):
        lead = (len(taps) + 1) // 2
        row[:len(taps) - lead] = taps[lead:]
        row[size - lead:] = taps[:lead]
    spectra = rfft(padded, axis=1) * rfft(shifted, axis=1)
    return irfft(spectra.sum(axis=0), size)[:length]


def lnl_convolutive_noise(x: np.ndarray, rng: np.random.Generator, n_orders: int = 5,
                          min_bias: float = 5, max_bias: float = 20,
                          make_filter: Optional[Callable[[int, float, float], np.ndarray]] = None,
                          sample_rate: int = 16000) -> np.ndarray:
    """Linear and non-linear convolutive noise: sum_i filter_i(x ** i), i = 1..n_orders.

    Order 1 has gain U[0, 0] dB, orders >= 2 gain U[-min_bias, -max_bias] dB (QUIRK:rawboost-gain-range:
    the lower bound above the upper, as published and drawn as such); the sum is
    mean-removed and peak-normalised if above 1. `make_filter(order, min_gain, max_gain)`
    replaces the random notch filters (tests use it). The filters are drawn in order
    first (filtering draws nothing, so the draws are the authors'), then applied to the
    powers of x in one batched FFT.
    """
    if make_filter is None:
        def make_filter(order, low, high):
            return random_notch_filter(rng, low, high, fs=sample_rate)
    filters = []
    min_gain, max_gain = 0.0, 0.0
    for order in range(1, n_orders + 1):
        if order == 2:
            min_gain, max_gain = min_gain - min_bias, max_gain - max_bias
        filters.append(make_filter(order, min_gain, max_gain))
    powers = np.empty((n_orders, len(x)))
    powers[0] = x
    for order in range(1, n_orders):
        powers[order] = powers[order - 1] * x  # x ** (order + 1), multiplied up as the authors do
    y = filter_fir_sum(powers, filters)
    return normalise_peak(y - np.mean(y))


def isd_additive_noise(x: np.ndarray, rng: np.random.Generator, max_percent: float = 10,
                       g_sd: float = 2) -> np.ndarray:
    """Impulsive signal-dependent noise on P ~ U[0, max_percent] % of the samples:
    x[p] += g_sd * x[p] * u1 * u2, u1, u2 ~ U[-1, 1]; peak-normalised if above 1."""
    percent = _uniform(rng, 0, max_percent)
    count = int(len(x) * percent / 100)
    positions = rng.permutation(len(x))[:count]
    factors = (2 * rng.random(count) - 1) * (2 * rng.random(count) - 1)
    y = x.copy()
    y[positions] = x[positions] + g_sd * x[positions] * factors
    return normalise_peak(y)


def ssi_additive_noise(x: np.ndarray, rng: np.random.Generator, min_snr: float = 10,
                       max_snr: float = 40, sample_rate: int = 16000) -> np.ndarray:
    """Stationary signal-independent noise: white Gaussian noise through a random
    5-band notch filter, scaled to SNR ~ U[min_snr, max_snr] dB against x, added."""
    noise = rng.normal(0, 1, len(x))
    noise = normalise_peak(filter_fir(noise, random_notch_filter(rng, fs=sample_rate)), always=True)
    snr = _uniform(rng, min_snr, max_snr)
    noise = noise / np.linalg.norm(noise, 2) * np.linalg.norm(x, 2) / 10.0 ** (0.05 * snr)
    return x + noise


def rawboost(x: np.ndarray, choice: int, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """Apply RawBoost choice 0..8 to a float64 waveform (length preserved)."""
    if choice == 0:
        return x
    if choice == 8:
        return normalise_peak(lnl_convolutive_noise(x, rng, sample_rate=sample_rate) + isd_additive_noise(x, rng))
    chains = {1: 'L', 2: 'I', 3: 'S', 4: 'LIS', 5: 'LI', 6: 'LS', 7: 'IS'}
    steps = {'L': lambda w, r: lnl_convolutive_noise(w, r, sample_rate=sample_rate), 'I': isd_additive_noise,
             'S': lambda w, r: ssi_additive_noise(w, r, sample_rate=sample_rate)}
    if choice not in chains:
        raise ValueError(f"RawBoost choice must be 0..8, got {choice}")
    for step in chains[choice]:
        x = steps[step](x, rng)
    return x


class RandomRawBoost:
    """Draw a RawBoost choice uniformly from 0..8 and apply it: (x, rng) -> x."""

    def __init__(self, sample_rate: int = 16000):
        self.sample_rate = sample_rate

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rawboost(x, int(rng.integers(NUM_CHOICES)), rng, self.sample_rate)
