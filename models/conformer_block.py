"""One HM-Conformer block: macaron Conformer block, optionally followed by max-pooling."""
from typing import Tuple

import torch
from torch import nn

from models.attention import RelPositionMultiHeadedAttention
from models.convolution import ConvolutionModule
from models.feed_forward import PositionwiseFeedForward
from models.positional_encoding import RelPositionalEncoding


class ConformerBlock(nn.Module):
    """x (B, L, d), pos_emb (1, L, d) -> (x', pos_emb'); L shrinks when the block pools.

    Pre-norm, LayerNorm eps 1e-12:
        x += 0.5 * FFN_macaron(LN(x)); x += MHSA_rel(LN(x)); x += Conv(LN(x));
        x += 0.5 * FFN(LN(x)); x = LN_final(x)
    A pooling block then splits [first CLS, other CLS, frames], max-pools the frames
    in time, re-applies the relative positional encoding to [other CLS, pooled frames]
    (QUIRK:pool-rescale: a fresh sqrt(d) scaling and position table, as the authors do) and puts the first
    CLS back in front. The encoder records and removes that first CLS afterwards.
    """

    def __init__(self, d_model: int, attention_heads: int, linear_units: int, kernel_size: int,
                 dropout_rate: float, len_cls: int, pooling_size: int = 0):
        super().__init__()
        self.self_attn = RelPositionMultiHeadedAttention(attention_heads, d_model, 0.0)
        self.feed_forward = PositionwiseFeedForward(d_model, linear_units, dropout_rate)
        self.feed_forward_macaron = PositionwiseFeedForward(d_model, linear_units, dropout_rate)
        self.conv_module = ConvolutionModule(d_model, kernel_size)
        self.norm_ff = nn.LayerNorm(d_model, eps=1e-12)
        self.norm_mha = nn.LayerNorm(d_model, eps=1e-12)
        self.norm_ff_macaron = nn.LayerNorm(d_model, eps=1e-12)
        self.norm_conv = nn.LayerNorm(d_model, eps=1e-12)
        self.norm_final = nn.LayerNorm(d_model, eps=1e-12)
        self.dropout = nn.Dropout(dropout_rate)
        self.len_cls = len_cls
        self.pool = nn.MaxPool1d(pooling_size, pooling_size) if pooling_size else None
        self.pos_enc = RelPositionalEncoding(d_model) if pooling_size else None

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = x + 0.5 * self.dropout(self.feed_forward_macaron(self.norm_ff_macaron(x)))
        x = x + self.dropout(self.self_attn(self.norm_mha(x), pos_emb))
        x = x + self.dropout(self.conv_module(self.norm_conv(x), self.len_cls))
        x = x + 0.5 * self.dropout(self.feed_forward(self.norm_ff(x)))
        x = self.norm_final(x)
        if self.pool is None:
            return x, pos_emb
        first_cls, other_cls, frames = x[:, :1], x[:, 1:self.len_cls], x[:, self.len_cls:]
        frames = self.pool(frames.transpose(1, 2)).transpose(1, 2)
        x, pos_emb = self.pos_enc(torch.cat([other_cls, frames], dim=1))
        return torch.cat([first_cls, x], dim=1), pos_emb
