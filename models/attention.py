"""Multi-head self-attention with relative positions (older WeNet form, no relative shift)."""
import math

import torch
from torch import nn


class RelPositionMultiHeadedAttention(nn.Module):
    """scores = ((q + u) k^T + (q + v) p^T) / sqrt(d_k), p = linear_pos(pos_emb).

    x (B, L, d), pos_emb (1, L, d) -> (B, L, d).
    """

    def __init__(self, n_head: int, n_feat: int, dropout_rate: float = 0.0):
        super().__init__()
        self.h, self.d_k = n_head, n_feat // n_head
        self.linear_q = nn.Linear(n_feat, n_feat)
        self.linear_k = nn.Linear(n_feat, n_feat)
        self.linear_v = nn.Linear(n_feat, n_feat)
        self.linear_out = nn.Linear(n_feat, n_feat)
        self.linear_pos = nn.Linear(n_feat, n_feat, bias=False)
        self.pos_bias_u = nn.Parameter(torch.empty(self.h, self.d_k))
        self.pos_bias_v = nn.Parameter(torch.empty(self.h, self.d_k))
        nn.init.xavier_uniform_(self.pos_bias_u)
        nn.init.xavier_uniform_(self.pos_bias_v)
        self.dropout = nn.Dropout(dropout_rate)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1, self.h, self.d_k)  # (B, L, h, d_k)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor) -> torch.Tensor:
        batch = x.size(0)
        q = self._split_heads(self.linear_q(x))
        k = self._split_heads(self.linear_k(x)).transpose(1, 2)
        v = self._split_heads(self.linear_v(x)).transpose(1, 2)
        p = self._split_heads(self.linear_pos(pos_emb)).transpose(1, 2)  # (1, h, L, d_k)
        q_u = (q + self.pos_bias_u).transpose(1, 2)
        q_v = (q + self.pos_bias_v).transpose(1, 2)
        scores = (q_u @ k.transpose(-2, -1) + q_v @ p.transpose(-2, -1)) / math.sqrt(self.d_k)
        attention = self.dropout(torch.softmax(scores, dim=-1))
        context = (attention @ v).transpose(1, 2).reshape(batch, -1, self.h * self.d_k)
        return self.linear_out(context)
