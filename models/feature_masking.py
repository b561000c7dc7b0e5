"""Masking of the LFCC features during training, part of the feature front end as in the
HM-Conformer authors' LFCC module (docs/method.md section 7)."""
import torch
import torchaudio
from torch import nn


class FeatureMasking(nn.Module):
    """features (B, T, C) -> masked features, with probability mask_p per batch, in
    training mode only.

    mask_axis 'time' (QUIRK:mask-frames): torchaudio FrequencyMasking(mask_max) applied to the
    (B, T, C) tensor masks its second-to-last axis, i.e. up to `mask_max` consecutive
    FRAMES (all coefficients), one mask shared by the whole batch.
    mask_axis 'coefficient': the same mask over up to `mask_max` consecutive coefficients.
    """

    def __init__(self, mask_max: int = 20, mask_p: float = 1.0, mask_axis: str = 'time'):
        super().__init__()
        if mask_axis not in ('time', 'coefficient'):
            raise ValueError(f"mask_axis must be 'time' or 'coefficient', got {mask_axis!r}")
        self.mask = torchaudio.transforms.FrequencyMasking(freq_mask_param=mask_max)
        self.p, self.axis = mask_p, mask_axis

    @torch.no_grad()
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.training or torch.rand(()) >= self.p:
            return features
        if self.axis == 'time':
            return self.mask(features)
        return self.mask(features.transpose(1, 2)).transpose(1, 2)
