"""HM-Conformer: the encoder plus multi-level aggregation (the authors' 'frontend')."""
from typing import List, Sequence, Tuple

import torch
from torch import nn

from models.attentive_pooling import SelfWeightedPooling
from models.encoder import HierarchicalConformerEncoder


def num_heads(downsample_layer: Sequence[int]) -> int:
    """Embedding heads of an HM-Conformer detector: one per CLS level (a level per
    max-pooling block plus the last block), the pooled frames, the aggregate."""
    return len(downsample_layer) + 1 + 2


class HMConformer(nn.Module):
    """Features (B, T, F) -> (aggregated (B, d), level embeddings [(B, d)] * (n_cls + 1)).

    e_k = Dropout_emb(BN(Swish(fc_k(cls_k)))) for every CLS level k, then
    e_last = Dropout_emb(attentive pooling of the final frames), and
    out = BN(Swish(fc(Dropout(cat(e_0, ..., e_last))))). Parameter names follow the
    authors' release: conformer_mp.*, fc0/bn0 .. fc{n-1}/bn{n-1}, attn, fc{n}/bn{n}.

    Constructor arguments carry the names of their configuration keys (d = output_size);
    `input_size` is the feature size, 3 x n_lfcc with the LFCC front end.
    QUIRK:encoder-dropout-default: the authors never pass their dropout settings to the
    encoder, so its own default 0.1 applies; `encoder_dropout_rate` keeps that value.
    """

    def __init__(self, input_size: int = 120, output_size: int = 128, attention_heads: int = 4,
                 linear_units: int = 256, num_blocks: int = 6, cnn_module_kernel: int = 15,
                 downsample_layer: List[int] = (1, 3), pooling_size: int = 2,
                 encoder_dropout_rate: float = 0.1, dropout_rate: float = 0.35, embd_dropout_rate: float = 0.5):
        super().__init__()
        d_model = self.output_size = output_size
        self.conformer_mp = HierarchicalConformerEncoder(input_size, d_model, attention_heads, linear_units,
                                                         num_blocks, cnn_module_kernel, downsample_layer,
                                                         pooling_size, encoder_dropout_rate)
        self.num_cls = self.conformer_mp.num_cls
        self.num_heads = num_heads(downsample_layer)
        for k in range(self.num_cls):
            self.add_module(f'fc{k}', nn.Linear(d_model, d_model))
            self.add_module(f'bn{k}', nn.BatchNorm1d(d_model))
        self.attn = SelfWeightedPooling(d_model)
        self.add_module(f'fc{self.num_cls}', nn.Linear(d_model * (self.num_cls + 1), d_model))
        self.add_module(f'bn{self.num_cls}', nn.BatchNorm1d(d_model))
        self.silu = nn.SiLU()
        self.dropout = nn.Dropout(dropout_rate)
        self.emb_dropout = nn.Dropout(embd_dropout_rate)

    def _project(self, k: int, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, f'bn{k}')(self.silu(getattr(self, f'fc{k}')(x)))

    def forward(self, features: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        frames, cls = self.conformer_mp(features)
        levels = [self.emb_dropout(self._project(k, cls[:, k])) for k in range(self.num_cls)]
        levels.append(self.emb_dropout(self.attn(frames)))
        aggregated = self._project(self.num_cls, self.dropout(torch.cat(levels, dim=1)))
        return aggregated, levels
