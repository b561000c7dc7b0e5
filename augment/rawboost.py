"""RawBoost data boosting (Tak et al., ICASSP 2022) with the paper's default parameters.

All randomness comes from the `numpy.random.Generator` passed in; waveforms are
float64 numpy arrays. Choices 0..8 as in the EBM/SSL anti-spoofing recipes:
0 none, 1 LnL, 2 ISD, 3 SSI, 4 LnL->ISD->SSI, 5 LnL->ISD, 6 LnL->SSI, 7 ISD->SSI,
8 LnL(x) + ISD(x) on the same input, summed, then peak-normalised if above 1.
"""
from typing import Callable, Optional

import numpy as np
from scipy import signal

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
        taps = np.convolve(signal.firwin(length, [low, high], window='hamming', pass_zero=True, fs=fs), taps)
    gain_db = _uniform(rng, min_gain, max_gain)
    _, response = signal.freqz(taps, 1, fs=fs)
    return 10 ** (gain_db / 20) * taps / np.max(np.abs(response))


def filter_fir(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Filter with end padding of len(taps) + 1 zeros and keep a centred segment of len(x).

    QUIRK:fir-one-sample-lead: the kept segment starts at (len(taps) + 1) // 2, one sample past
    the group delay of an odd-length linear-phase filter, so the output leads by one
    sample. The FIR filter runs as an FFT convolution: the authors' `lfilter` result up
    to float rounding, several times faster for these long filters.
    """
    pad = len(taps) + 1
    padded = np.pad(x, (0, pad))
    y = signal.fftconvolve(padded, taps)[:len(padded)]
    start = pad // 2
    return y[start:start + len(x)]


def lnl_convolutive_noise(x: np.ndarray, rng: np.random.Generator, n_orders: int = 5,
                          min_bias: float = 5, max_bias: float = 20,
                          make_filter: Optional[Callable[[int, float, float], np.ndarray]] = None,
                          sample_rate: int = 16000) -> np.ndarray:
    """Linear and non-linear convolutive noise: sum_i filter_i(x ** i), i = 1..n_orders.

    Order 1 has gain U[0, 0] dB, orders >= 2 gain U[-min_bias, -max_bias] dB (QUIRK:rawboost-gain-range:
    the lower bound above the upper, as published and drawn as such); the sum is
    mean-removed and peak-normalised if above 1. `make_filter(order, min_gain, max_gain)`
    replaces the random notch filters (tests use it).
    """
    if make_filter is None:
        def make_filter(order, low, high):
            return random_notch_filter(rng, low, high, fs=sample_rate)
    y = np.zeros_like(x)
    power = np.ones_like(x)
    min_gain, max_gain = 0.0, 0.0
    for order in range(1, n_orders + 1):
        if order == 2:
            min_gain, max_gain = min_gain - min_bias, max_gain - max_bias
        power = power * x  # x ** order
        y = y + filter_fir(power, make_filter(order, min_gain, max_gain))
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
