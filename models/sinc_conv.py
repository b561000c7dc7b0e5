"""AASIST's front end: a bank of fixed band-pass sinc filters on the raw waveform."""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def hz_to_mel(hz):
    return 2595 * np.log10(1 + hz / 700)


def mel_to_hz(mel):
    return 700 * (10 ** (mel / 2595) - 1)


def sinc_band_pass_filters(num_filters: int, kernel_size: int, sample_rate: int = 16000,
                           n_fft: int = 512) -> torch.Tensor:
    """(num_filters, kernel_size) Hamming-windowed ideal band-pass filters, float32.

    The band edges are `num_filters + 1` points evenly spaced on the mel scale between the
    lowest and highest of the n_fft // 2 + 1 bin frequencies up to int(sample_rate / 2);
    filter i passes [edge_i, edge_i+1]: the difference of two windowed sinc low-pass
    filters, as AASIST's `CONV` computes them (the filters are not trained).
    """
    bins = int(sample_rate / 2) * np.linspace(0, 1, n_fft // 2 + 1)
    mel = hz_to_mel(bins)
    edges = mel_to_hz(np.linspace(mel.min(), mel.max(), num_filters + 1))
    # the sinc argument in float32, as AASIST computes it (its tap positions are a float32 tensor);
    # in float64 the filters differ by 4e-6 relative and the scores by 2e-5
    taps = np.arange(-(kernel_size - 1) / 2, (kernel_size - 1) / 2 + 1, dtype=np.float32)
    window = np.hamming(kernel_size).astype(np.float32)

    def low_pass(cutoff):
        return (2 * cutoff / sample_rate) * np.sinc(np.float32(2 * cutoff) * taps / np.float32(sample_rate))

    return torch.tensor(np.stack([window * (low_pass(high) - low_pass(low)).astype(np.float32)
                                  for low, high in zip(edges[:-1], edges[1:])]))


class SincConv(nn.Module):
    """wave (B, 1, N) -> (B, num_filters, N - kernel_size + 1); an even kernel size is made odd.

    `forward(x, mask=True)` zeroes a random run of up to 19 consecutive filters (AASIST's
    `freq_aug`, used in training only and off in its published configurations).
    """

    def __init__(self, num_filters: int = 70, kernel_size: int = 128, sample_rate: int = 16000):
        super().__init__()
        kernel_size += 1 - kernel_size % 2
        self.register_buffer('band_pass', sinc_band_pass_filters(num_filters, kernel_size, sample_rate),
                             persistent=False)

    def forward(self, x: torch.Tensor, mask: bool = False) -> torch.Tensor:
        filters = self.band_pass
        if mask:
            width = int(torch.rand(()) * 20)
            start = int(torch.randint(0, len(filters) - width + 1, ()))
            filters = filters.clone()
            filters[start:start + width] = 0
        return F.conv1d(x, filters.unsqueeze(1))
