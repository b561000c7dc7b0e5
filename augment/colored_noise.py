"""Coloured noise added on the training device, per example."""
import torch
from torch import nn


def colored_noise(f_decay: torch.Tensor, num_samples: int, sample_rate: int = 16000,
                  generator: torch.Generator = None) -> torch.Tensor:
    """Unit-RMS noise whose power spectrum falls as f ** -f_decay: (B,) -> (B, num_samples).

    0 is white, 1 pink, 2 brown, negative values blue / violet. The DC bin takes the
    gain of the first non-zero frequency.
    """
    device = f_decay.device
    white = torch.randn(len(f_decay), num_samples, device=device, generator=generator)
    spectrum = torch.fft.rfft(white, dim=1)
    freqs = torch.fft.rfftfreq(num_samples, 1 / sample_rate, device=device)
    freqs[0] = freqs[1]
    spectrum = spectrum * freqs.unsqueeze(0) ** (-f_decay.unsqueeze(1) / 2)
    noise = torch.fft.irfft(spectrum, n=num_samples, dim=1)
    return noise / noise.pow(2).mean(dim=1, keepdim=True).sqrt()


class AddColoredNoise(nn.Module):
    """wave (B, N) -> wave + noise at SNR ~ U[snr_min, snr_max] dB, f_decay ~ U[decay_min, decay_max],
    drawn per example, applied with probability p per example."""

    def __init__(self, snr_min: float = 10.0, snr_max: float = 40.0, decay_min: float = -2.0,
                 decay_max: float = 2.0, p: float = 1.0, sample_rate: int = 16000):
        super().__init__()
        self.snr_min, self.snr_max = snr_min, snr_max
        self.decay_min, self.decay_max = decay_min, decay_max
        self.p, self.sample_rate = p, sample_rate

    def draw(self, batch: int, device, generator=None):
        """(snr_db, f_decay, apply) per example."""
        def uniform(low, high):
            return low + (high - low) * torch.rand(batch, device=device, generator=generator)
        apply = torch.rand(batch, device=device, generator=generator) < self.p
        return uniform(self.snr_min, self.snr_max), uniform(self.decay_min, self.decay_max), apply

    @torch.no_grad()
    def forward(self, wave: torch.Tensor, generator: torch.Generator = None) -> torch.Tensor:
        snr_db, f_decay, apply = self.draw(wave.size(0), wave.device, generator)
        noise = colored_noise(f_decay, wave.size(1), self.sample_rate, generator)
        signal_rms = wave.pow(2).mean(dim=1, keepdim=True).sqrt()
        noise = noise * signal_rms / 10 ** (snr_db.unsqueeze(1) / 20)
        return torch.where(apply.unsqueeze(1), wave + noise, wave)
