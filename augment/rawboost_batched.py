"""RawBoost on a batch of waveforms on the training device (DEVIATION:device-rawboost, rawboost_device=cuda).

The same per-item distribution as augment/rawboost.py (choice 0..8 uniform per item, the
paper's parameters, the authors' quirks: band-stop notches, the one-sample filter lead, the
inverted gain range) drawn from torch's generator on the batch's device instead of the
loader's numpy generator, so the outputs are equal in distribution, not draw for draw
(tests/test_rawboost_batched.py compares spectra and levels with the per-item version).

Every filter of a batch is one frame of a fixed length: a band of L <= F taps sits centred
in an F-tap frame (F = the longest odd length drawn), and the five bands convolved give a
5F - 4 tap frame centred on the filter's own centre, which with the authors' lead of
(length + 1) // 2 keeps the per-item alignment for every L.
"""
from typing import Optional

import torch
from scipy.fft import next_fast_len
from torch import nn

NUM_CHOICES = 9
LNL_CHOICES, ISD_CHOICES, SSI_CHOICES = (1, 4, 5, 6), (2, 4, 5, 7), (3, 4, 6, 7)  # each chain runs L, I, S in order
SUM_CHOICE = 8                                                                      # LnL(x) + ISD(x)


def _uniform(shape, low: float, high: float, like: torch.Tensor, generator=None) -> torch.Tensor:
    # low + (high - low) * U[0, 1): the published gain range [-5, -20] dB has low > high
    return low + (high - low) * torch.rand(shape, device=like.device, dtype=like.dtype, generator=generator)


def _normalise_peak(x: torch.Tensor, always: bool = False) -> torch.Tensor:
    """(B, N): each row divided by its peak, always or only where the peak exceeds 1."""
    peak = x.abs().amax(dim=1, keepdim=True)
    divide = peak > 0 if always else peak > 1
    return torch.where(divide, x / torch.where(divide, peak, torch.ones_like(peak)), x)


def bandstop_frames(low: torch.Tensor, high: torch.Tensor, length: torch.Tensor, frame: int,
                    fs: float) -> torch.Tensor:
    """Band-stop Hamming-window FIR taps (firwin(length, [low, high], pass_zero=True, fs=fs)),
    each centred in a `frame`-tap frame: (...) low, high in Hz and odd lengths -> (..., frame)."""
    nyquist = fs / 2
    m = torch.arange(frame, device=low.device, dtype=low.dtype) - (frame - 1) / 2
    f1, f2 = (low / nyquist).unsqueeze(-1), (high / nyquist).unsqueeze(-1)
    ideal = f1 * torch.sinc(f1 * m) + torch.sinc(m) - f2 * torch.sinc(f2 * m)
    half = ((length - 1) / 2).unsqueeze(-1).to(low.dtype)
    inside = m.abs() <= half
    window = 0.54 - 0.46 * torch.cos(torch.pi * (m + half) / half.clamp_min(1))
    taps = torch.where(inside, ideal * window, torch.zeros_like(ideal))
    return taps / taps.sum(dim=-1, keepdim=True)


def convolve_bands(bands: torch.Tensor) -> torch.Tensor:
    """(..., n_bands, F) -> (..., n_bands * (F - 1) + 1): the bands convolved together."""
    n_bands, frame = bands.shape[-2:]
    length = n_bands * (frame - 1) + 1
    size = next_fast_len(length, real=True)
    spectrum = torch.fft.rfft(bands, size, dim=-1).prod(dim=-2)
    return torch.fft.irfft(spectrum, size, dim=-1)[..., :length]


def peak_gain(taps: torch.Tensor) -> torch.Tensor:
    """(..., T) -> (...): max |H| on freqz's default grid, the first 512 bins of a 1,024-point FFT."""
    return torch.fft.rfft(taps, 1024, dim=-1)[..., :512].abs().amax(dim=-1)


def random_notch_filters(shape, like: torch.Tensor, min_gain: float, max_gain: float, n_bands: int = 5,
                         min_freq: float = 20, max_freq: Optional[float] = None, min_bw: float = 100,
                         max_bw: float = 1000, min_coeff: int = 10, max_coeff: int = 100, fs: int = 16000,
                         generator=None) -> torch.Tensor:
    """`shape` independent draws of augment.rawboost.random_notch_filter, each as a frame of
    n_bands * (F - 1) + 1 taps centred on the filter's centre (F the longest odd band)."""
    max_freq = fs / 2 if max_freq is None else max_freq
    band_shape = (*shape, n_bands)
    centre = _uniform(band_shape, min_freq, max_freq, like, generator)
    bandwidth = _uniform(band_shape, min_bw, max_bw, like, generator)
    length = _uniform(band_shape, min_coeff, max_coeff, like, generator).floor().long()
    length = length + (1 - length % 2)
    frame = (max_coeff - 1) | 1   # the longest odd length: int(U[min, max)) made odd
    low = (centre - bandwidth / 2).clamp_min(1 / 1000)
    high = (centre + bandwidth / 2).clamp_max(fs / 2 - 1 / 1000)
    taps = convolve_bands(bandstop_frames(low, high, length, frame, fs))
    gain_db = _uniform(shape, min_gain, max_gain, like, generator)
    return (10 ** (gain_db / 20) / peak_gain(taps)).unsqueeze(-1) * taps


def filter_sum(signals: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """(B, K, N) signals, (B, K, T) centred odd-length filter frames -> (B, N):
    sum_k of each signal filtered with the authors' one-sample lead, as one FFT convolution."""
    length, taps = signals.shape[-1], filters.shape[-1]
    size = next_fast_len(length + taps - 1, real=True)
    lead = (taps + 1) // 2
    shifted = torch.zeros(*filters.shape[:-1], size, device=filters.device, dtype=filters.dtype)
    shifted[..., :taps - lead] = filters[..., lead:]
    shifted[..., size - lead:] = filters[..., :lead]
    spectra = torch.fft.rfft(signals, size, dim=-1) * torch.fft.rfft(shifted, dim=-1)
    return torch.fft.irfft(spectra.sum(dim=-2), size, dim=-1)[..., :length]


def lnl_convolutive_noise(x: torch.Tensor, n_orders: int = 5, min_bias: float = 5, max_bias: float = 20,
                          sample_rate: int = 16000, generator=None) -> torch.Tensor:
    """(B, N) -> (B, N): sum_i filter_i(x ** i), order 1 at 0 dB, orders >= 2 at U[-5, -20] dB,
    mean removed, peak-normalised where above 1."""
    first = random_notch_filters((len(x), 1), x, 0.0, 0.0, fs=sample_rate, generator=generator)
    rest = random_notch_filters((len(x), n_orders - 1), x, -min_bias, -max_bias, fs=sample_rate,
                                generator=generator)
    powers = torch.cumprod(x.unsqueeze(1).expand(-1, n_orders, -1), dim=1)
    y = filter_sum(powers, torch.cat([first, rest], dim=1))
    return _normalise_peak(y - y.mean(dim=1, keepdim=True))


def isd_additive_noise(x: torch.Tensor, max_percent: float = 10, g_sd: float = 2, generator=None) -> torch.Tensor:
    """(B, N) -> (B, N): impulsive noise on floor(N * P / 100) samples, P ~ U[0, max_percent],
    chosen uniformly without replacement per row; peak-normalised where above 1."""
    batch, length = x.shape
    count = (length * _uniform((batch,), 0, max_percent, x, generator) / 100).floor().long()
    order = torch.rand(batch, length, device=x.device, generator=generator).argsort(dim=1)
    rank = torch.arange(length, device=x.device).expand(batch, -1)
    chosen = torch.zeros_like(x, dtype=torch.bool).scatter(1, order, rank < count.unsqueeze(1))
    factors = _uniform((batch, length), -1, 1, x, generator) * _uniform((batch, length), -1, 1, x, generator)
    return _normalise_peak(torch.where(chosen, x + g_sd * x * factors, x))


def ssi_additive_noise(x: torch.Tensor, min_snr: float = 10, max_snr: float = 40, sample_rate: int = 16000,
                       generator=None) -> torch.Tensor:
    """(B, N) -> (B, N): white noise through a random notch filter bank, peak-normalised,
    added at SNR ~ U[min_snr, max_snr] dB."""
    noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
    filters = random_notch_filters((len(x), 1), x, 0.0, 0.0, fs=sample_rate, generator=generator)
    noise = _normalise_peak(filter_sum(noise.unsqueeze(1), filters), always=True)
    snr = _uniform((len(x), 1), min_snr, max_snr, x, generator)
    scale = x.norm(dim=1, keepdim=True) / noise.norm(dim=1, keepdim=True).clamp_min(1e-12) / 10 ** (0.05 * snr)
    return x + noise * scale


def rawboost_batch(x: torch.Tensor, choice: torch.Tensor, sample_rate: int = 16000, generator=None) -> torch.Tensor:
    """(B, N) waveforms and (B,) choices 0..8 -> (B, N), each row as augment.rawboost.rawboost."""
    def among(choices) -> torch.Tensor:   # (B,) bool
        return torch.isin(choice, torch.tensor(choices, device=choice.device))

    y = x.clone()
    lnl = torch.zeros_like(x)
    lnl_rows = (among(LNL_CHOICES) | (choice == SUM_CHOICE)).nonzero().squeeze(1)
    if len(lnl_rows):
        lnl[lnl_rows] = lnl_convolutive_noise(x[lnl_rows], sample_rate=sample_rate, generator=generator)
        y = torch.where(among(LNL_CHOICES).unsqueeze(1), lnl, y)
    isd_rows = (among(ISD_CHOICES) | (choice == SUM_CHOICE)).nonzero().squeeze(1)
    if len(isd_rows):
        isd = y.clone()   # the sum choice's rows of y are still its input
        isd[isd_rows] = isd_additive_noise(y[isd_rows], generator=generator)
        y = torch.where(among(ISD_CHOICES).unsqueeze(1), isd, y)
        y = torch.where((choice == SUM_CHOICE).unsqueeze(1), _normalise_peak(lnl + isd), y)
    ssi_rows = among(SSI_CHOICES).nonzero().squeeze(1)
    if len(ssi_rows):
        y[ssi_rows] = ssi_additive_noise(y[ssi_rows], sample_rate=sample_rate, generator=generator)
    return y


class BatchRawBoost(nn.Module):
    """wave (B, N) -> (B, N): a RawBoost choice drawn uniformly from 0..8 per row and applied,
    on the batch's device (the per-item RandomRawBoost's distribution)."""

    def __init__(self, sample_rate: int = 16000):
        super().__init__()
        self.sample_rate = sample_rate

    @torch.no_grad()
    def forward(self, wave: torch.Tensor, generator: torch.Generator = None) -> torch.Tensor:
        choice = torch.randint(NUM_CHOICES, (len(wave),), device=wave.device, generator=generator)
        return rawboost_batch(wave, choice, self.sample_rate, generator)
