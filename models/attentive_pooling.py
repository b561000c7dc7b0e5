"""Single-head self-weighted (attentive) pooling, mean only."""
import torch
from torch import nn


class SelfWeightedPooling(nn.Module):
    """frames (B, T, d) -> sum_t softmax_t(tanh(frames @ w))_t * frames_t: (B, d)."""

    def __init__(self, feature_dim: int):
        super().__init__()
        self.mm_weights = nn.Parameter(torch.empty(1, feature_dim))
        nn.init.kaiming_uniform_(self.mm_weights)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(torch.tanh(frames @ self.mm_weights.T), dim=1)  # (B, T, 1)
        return (frames * weights).sum(dim=1)
