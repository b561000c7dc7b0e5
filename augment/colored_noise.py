"""Coloured noise added on the training device, per example (docs/method.md section 6)."""
import torch
from torch import nn


def colored_noise(f_decay: torch.Tensor, num_samples: int, sample_rate: int = 16000,
                  generator: torch.Generator = None) -> torch.Tensor:
    """Unit-RMS coloured noise as torch-audiomentations' AddColoredNoise makes it:
    (B,) f_decay -> (B, num_samples).

    QUIRK:colored-noise-one-second. One second of white Gaussian noise per example, its spectrum multiplied by the
    amplitude mask 1 / linspace(1, sqrt(sample_rate / 2), n_bins) ** f_decay, back to
    the time domain, RMS-normalised, and tiled to `num_samples` (the noise repeats every
    second). The library's docstring says power 1 / f ** f_decay; its mask is linear in
    the bin index only up to sqrt(sample_rate / 2), so above ~90 Hz the power falls about
    twice as fast as that and is flat below. 0 is white, positive values darker.
    """
    device = f_decay.device
    white = torch.randn(len(f_decay), sample_rate, device=device, dtype=f_decay.dtype, generator=generator)
    spectrum = torch.fft.rfft(white, dim=1)
    ramp = torch.linspace(1, (sample_rate / 2) ** 0.5, spectrum.size(1), device=device, dtype=f_decay.dtype)
    mask = 1 / ramp.unsqueeze(0) ** f_decay.unsqueeze(1)
    second = torch.fft.irfft(spectrum * mask, n=sample_rate, dim=1)
    second = second / second.pow(2).mean(dim=1, keepdim=True).sqrt()
    repeats = -(-num_samples // sample_rate)
    return second.repeat(1, repeats)[:, :num_samples]


class AddColoredNoise(nn.Module):
    """wave (B, N) -> wave + noise at SNR ~ U[snr_min, snr_max] dB, f_decay ~ U[f_decay_min,
    f_decay_max], drawn per example, applied with probability colored_noise_p per example."""

    def __init__(self, snr_min: float = 10.0, snr_max: float = 40.0, f_decay_min: float = -2.0,
                 f_decay_max: float = 2.0, colored_noise_p: float = 1.0, sample_rate: int = 16000):
        super().__init__()
        self.snr_min, self.snr_max = snr_min, snr_max
        self.f_decay_min, self.f_decay_max = f_decay_min, f_decay_max
        self.p, self.sample_rate = colored_noise_p, sample_rate

    def draw(self, batch: int, device, generator=None):
        """(snr_db, f_decay, apply) per example."""
        def uniform(low, high):
            return low + (high - low) * torch.rand(batch, device=device, generator=generator)
        apply = torch.rand(batch, device=device, generator=generator) < self.p
        return uniform(self.snr_min, self.snr_max), uniform(self.f_decay_min, self.f_decay_max), apply

    @torch.no_grad()
    def forward(self, wave: torch.Tensor, generator: torch.Generator = None) -> torch.Tensor:
        snr_db, f_decay, apply = self.draw(wave.size(0), wave.device, generator)
        noise = colored_noise(f_decay, wave.size(1), self.sample_rate, generator)
        signal_rms = wave.pow(2).mean(dim=1, keepdim=True).sqrt()
        noise = noise * signal_rms / 10 ** (snr_db.unsqueeze(1) / 20)
        return torch.where(apply.unsqueeze(1), wave + noise, wave)
