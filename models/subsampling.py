"""conv2d2 subsampling with the CLS tokens of HM-Conformer."""
from typing import Tuple

import torch
from torch import nn

from models.positional_encoding import RelPositionalEncoding


class Conv2dSubsampling2(nn.Module):
    """Features (B, T, F) -> sequence (B, num_cls + T', d) and pos_emb (1, num_cls + T', d).

    Conv2d(1 -> d, 3x3, stride 2) + ReLU halves time and frequency (T' = (T - 1) // 2),
    a Linear maps d * ((F // 2) - 1) to d. The sequence is [c_1 .. c_{n-1}, c_0, frames]
    with n = num_cls, one CLS token per level the encoder reads out: `cls_token1` holds
    (c_1 .. c_{n-1}) (the authors' (1, 2, d) pair with the default two pooling blocks),
    `cls_token` is c_0, all initialised U[0, 1).
    """

    def __init__(self, input_size: int, d_model: int, num_cls: int = 3):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, d_model, 3, 2), nn.ReLU())
        self.out = nn.Sequential(nn.Linear(d_model * (input_size // 2 - 1), d_model))
        self.cls_token = nn.Parameter(torch.rand(1, 1, d_model))
        self.cls_token1 = nn.Parameter(torch.rand(1, num_cls - 1, d_model))
        self.pos_enc = RelPositionalEncoding(d_model)

    def forward(self, features: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.conv(features.unsqueeze(1))  # (B, d, T', F')
        batch, channels, time, freq = x.shape
        x = self.out(x.transpose(1, 2).reshape(batch, time, channels * freq))
        x = torch.cat([self.cls_token1.expand(batch, -1, -1), self.cls_token.expand(batch, -1, -1), x], dim=1)
        return self.pos_enc(x)
