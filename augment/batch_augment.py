"""Batch augmentation on the training device (docs/method.md section 6): RawBoost when it was
moved here (rawboost_device=cuda), coloured noise, then speed."""
from typing import Optional, Sequence

import torch
import torchaudio
from torch import nn

from augment.colored_noise import AddColoredNoise


class BatchAugment(nn.Module):
    """wave (B, N) -> (B, N'): RawBoost per example when `device_rawboost` is given (a
    BatchRawBoost: in the per-item pipeline it comes last, so here it comes first), coloured
    noise per example, then one speed factor from `speed_factors` for the whole batch
    (torchaudio SpeedPerturbation, which resamples and so changes N' to about N / factor)."""

    def __init__(self, colored_noise: AddColoredNoise, speed_factors: Sequence[float] = (0.9, 1.1, 1.0),
                 sample_rate: int = 16000, device_rawboost: Optional[nn.Module] = None):
        super().__init__()
        self.device_rawboost = device_rawboost
        self.colored_noise = colored_noise
        self.speed = torchaudio.transforms.SpeedPerturbation(sample_rate, list(speed_factors))

    @torch.no_grad()
    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if self.device_rawboost is not None:
            wave = self.device_rawboost(wave)
        return self.speed(self.colored_noise(wave))[0]
