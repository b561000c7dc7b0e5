"""LFCC front end of HM-Conformer (docs/method.md section 7)."""
import math
from typing import Optional

import torch
from torch import nn


def linear_filter_bank(n_fft: int, sample_rate: int, n_filters: int, f_min: float = 0.0,
                       f_max: Optional[float] = None) -> torch.Tensor:
    """Triangular filters on a linear frequency axis: (n_fft // 2 + 1, n_filters).

    The filter edges are `n_filters + 2` points spaced evenly from f_min to f_max (by
    default over all the bin frequencies, 0 to sample_rate / 2, as the authors'); filter k
    rises from edge k to edge k+1 (value 1) and falls to k+2.
    """
    # computed on the CPU even where the model is built on the meta device (the pre-flight's
    # shape check, trainer/build.check_model_fits): building the bank reads values
    bins = (sample_rate / 2) * torch.linspace(0, 1, n_fft // 2 + 1, device='cpu')
    edges = torch.linspace(f_min, bins.max().item() if f_max is None else f_max, n_filters + 2, device='cpu')
    bank = torch.zeros(len(bins), n_filters, device='cpu')
    for k in range(n_filters):
        low, centre, high = edges[k], edges[k + 1], edges[k + 2]
        rising = (bins > low) & (bins < centre)
        falling = (bins > centre) & (bins < high)
        bank[rising, k] = (bins[rising] - low) / (centre - low)
        bank[falling, k] = (high - bins[falling]) / (high - centre)
        bank[bins == centre, k] = 1.0
    return bank


def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II as a matrix M with coefficients = x @ M: (n, n)."""
    k = torch.arange(n, dtype=torch.float64)
    basis = torch.cos(math.pi / n * (k[None, :] + 0.5) * k[:, None])  # (coefficient, input)
    basis[0] *= 1 / math.sqrt(2)
    return (basis * math.sqrt(2 / n)).T.float()


def delta(features: torch.Tensor) -> torch.Tensor:
    """d[t] = c[t+1] - c[t-1] with the edge frames replicated: (B, T, D) -> (B, T, D)."""
    padded = torch.cat([features[:, :1], features, features[:, -1:]], dim=1)
    return padded[:, 2:] - padded[:, :-2]


class LFCC(nn.Module):
    """Waveform (B, N) -> LFCC with deltas (B, 1 + N // hop, 3 * n_lfcc).

    Pre-emphasis, centred zero-padded STFT with a periodic Hamming window, power
    spectrum, linear triangular filter bank (0 to sample_rate / 2, or f_min to f_max),
    log10, orthonormal DCT-II, energy in
    coefficient 0, then deltas and delta-deltas. No trainable parameters; computed
    without gradient, as in the authors' front end.
    """

    def __init__(self, sample_rate: int = 16000, n_lfcc: int = 40, coef: float = 0.97, n_fft: int = 512,
                 win_length: int = 320, hop: int = 160, f_min: float = 0.0, f_max: Optional[float] = None):
        super().__init__()
        self.coef, self.n_fft, self.win_length, self.hop = coef, n_fft, win_length, hop
        self.output_size = 3 * n_lfcc  # coefficients, deltas, delta-deltas
        self.register_buffer('window', torch.hamming_window(win_length), persistent=False)
        self.register_buffer('filter_bank', linear_filter_bank(n_fft, sample_rate, n_lfcc, f_min, f_max),
                             persistent=False)
        self.register_buffer('dct', dct_matrix(n_lfcc), persistent=False)

    @torch.no_grad()
    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        emphasised = torch.cat([wave[:, :1], wave[:, 1:] - self.coef * wave[:, :-1]], dim=1)
        spectrum = torch.stft(emphasised, self.n_fft, self.hop, self.win_length, window=self.window,
                              center=True, pad_mode='constant', onesided=True, return_complex=True)
        power = spectrum.abs().pow(2).transpose(1, 2)  # (B, T, n_fft // 2 + 1)
        eps = torch.finfo(torch.float32).eps
        cepstrum = torch.log10(power @ self.filter_bank + eps) @ self.dct
        energy = torch.log10((power / self.n_fft).sum(dim=2) + eps)
        cepstrum = torch.cat([energy.unsqueeze(2), cepstrum[:, :, 1:]], dim=2)
        first = delta(cepstrum)
        return torch.cat([cepstrum, first, delta(first)], dim=2)
