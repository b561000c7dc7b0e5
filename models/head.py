"""The CLS back end: one embedding head per level."""
import torch
from torch import nn


class EmbeddingHead(nn.Module):
    """x (B, d) -> BN(Swish(Linear(x))): (B, embedding_size)."""

    def __init__(self, in_dim: int = 128, embedding_size: int = 64):
        super().__init__()
        self.fc = nn.Linear(in_dim, embedding_size)
        self.bn = nn.BatchNorm1d(embedding_size)
        self.silu = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.silu(self.fc(x)))
