"""Masking of the LFCC features during training (SPEC section 7)."""
import torch
import torchaudio
from torch import nn


class FeatureMasking(nn.Module):
    """features (B, T, C) -> masked features, with probability p per batch.

    axis 'time' (faithful quirk): torchaudio FrequencyMasking(max_width) applied to the
    (B, T, C) tensor masks its second-to-last axis, i.e. up to `max_width` consecutive
    FRAMES (all coefficients), one mask shared by the whole batch.
    axis 'coefficient': the same mask over up to `max_width` consecutive coefficients.
    """

    def __init__(self, max_width: int = 20, p: float = 1.0, axis: str = 'time'):
        super().__init__()
        if axis not in ('time', 'coefficient'):
            raise ValueError(f"mask axis must be 'time' or 'coefficient', got {axis!r}")
        self.mask = torchaudio.transforms.FrequencyMasking(freq_mask_param=max_width)
        self.p, self.axis = p, axis

    @torch.no_grad()
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.training or torch.rand(()) >= self.p:
            return features
        if self.axis == 'time':
            return self.mask(features)
        return self.mask(features.transpose(1, 2)).transpose(1, 2)
