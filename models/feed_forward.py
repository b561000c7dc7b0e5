"""Position-wise feed-forward module of a Conformer block."""
import torch
from torch import nn


class PositionwiseFeedForward(nn.Module):
    """Linear(d, units), Swish, dropout, Linear(units, d): (B, L, d) -> (B, L, d)."""

    def __init__(self, d_model: int, hidden_units: int, dropout_rate: float):
        super().__init__()
        self.w_1 = nn.Linear(d_model, hidden_units)
        self.w_2 = nn.Linear(hidden_units, d_model)
        self.activation = nn.SiLU()
        self.dropout = nn.Dropout(dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(self.dropout(self.activation(self.w_1(x))))
