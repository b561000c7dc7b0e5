"""Relative positional encoding in the older WeNet form used by HM-Conformer."""
import math
from typing import Tuple

import torch
from torch import nn


def sinusoid_table(length: int, d_model: int) -> torch.Tensor:
    """Standard sin/cos position table: (length, d_model)."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * -(math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)
    return table


class RelPositionalEncoding(nn.Module):
    """x (B, L, d) -> (x * sqrt(d), pos_emb (1, L, d)); the positions are not added to x."""

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model
        self.scale = math.sqrt(d_model)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        pos_emb = sinusoid_table(x.size(1), self.d_model).to(device=x.device, dtype=x.dtype)
        return x * self.scale, pos_emb.unsqueeze(0)
