"""The hierarchical (max-pooling) Conformer encoder of HM-Conformer."""
from typing import List, Tuple

import torch
from torch import nn

from models.conformer_block import ConformerBlock
from models.subsampling import Conv2dSubsampling2


class HierarchicalConformerEncoder(nn.Module):
    """Features (B, T, F) -> frames (B, T_out, d) and level CLS outputs (B, n_cls, d).

    With the defaults: 404 frames -> 201 after subsampling -> 100 after block 1 ->
    50 after block 3; CLS outputs come from blocks 1, 3 and the last block.
    """

    def __init__(self, input_size: int = 120, d_model: int = 128, attention_heads: int = 4,
                 linear_units: int = 256, num_blocks: int = 6, kernel_size: int = 15,
                 downsample_layer: List[int] = (1, 3), pooling_size: int = 2, dropout_rate: float = 0.1):
        super().__init__()
        self.downsample_layer = list(downsample_layer)
        self.embed = Conv2dSubsampling2(input_size, d_model, self.num_cls)
        blocks, len_cls = [], self.num_cls
        for index in range(num_blocks):
            pooling = pooling_size if index in self.downsample_layer else 0
            blocks.append(ConformerBlock(d_model, attention_heads, linear_units, kernel_size, dropout_rate,
                                         len_cls, pooling))
            if pooling:
                len_cls -= 1
        self.encoders = nn.ModuleList(blocks)
        self.after_norm = nn.LayerNorm(d_model, eps=1e-12)

    @property
    def num_cls(self) -> int:
        return len(self.downsample_layer) + 1

    def forward(self, features: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x, pos_emb = self.embed(features)
        levels = []
        for index, block in enumerate(self.encoders):
            x, pos_emb = block(x, pos_emb)
            if index in self.downsample_layer:
                levels.append(x[:, 0])
                x = x[:, 1:]
        levels.append(x[:, 0])
        return self.after_norm(x[:, 1:]), torch.stack(levels, dim=1)
