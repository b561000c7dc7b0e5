"""AASIST's graph layers: graph attention, heterogeneous (spectral + temporal) graph attention
with a master node, and graph pooling. Parameter names follow clovaai/aasist."""
from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F


def _xavier_parameter(*size: int) -> nn.Parameter:
    parameter = nn.Parameter(torch.empty(*size))
    nn.init.xavier_normal_(parameter)
    return parameter


def _batch_norm_nodes(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over every node of every graph: (B, N, D) -> (B, N, D)."""
    return bn(x.reshape(-1, x.size(-1))).view(x.shape)


def _pairwise_products(x: torch.Tensor) -> torch.Tensor:
    """(B, N, D) -> (B, N, N, D): x_i * x_j for every pair of nodes."""
    return x.unsqueeze(2) * x.unsqueeze(1)


class GraphAttentionLayer(nn.Module):
    """x (B, N, in_dim) -> (B, N, out_dim) over a fully connected graph.

    Attention a_ij = softmax_j(w . tanh(W_a (x_i * x_j)) / temperature); output
    SELU(BN(W_1 (A x) + W_2 x)), after dropout 0.2 on the input.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0):
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = _xavier_parameter(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(p=0.2)
        self.act = nn.SELU()
        self.temp = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_drop(x)
        attention = torch.tanh(self.att_proj(_pairwise_products(x))) @ self.att_weight   # (B, N, N, 1)
        attention = F.softmax(attention / self.temp, dim=-2).squeeze(-1)
        x = self.proj_with_att(attention @ x) + self.proj_without_att(x)
        return self.act(_batch_norm_nodes(self.bn, x))


class HtrgGraphAttentionLayer(nn.Module):
    """Two node types (B, N1, in_dim), (B, N2, in_dim) and a master node (1 or B, 1, in_dim) ->
    the same three with out_dim.

    Both types are projected (proj_type1, proj_type2) and joined into one graph whose
    attention uses one weight vector per pair of types (att_weight11, 22, 12; the 1-2 and
    2-1 blocks share att_weight12). The master node attends to every node (att_weightM)
    and is updated before the nodes. Without a master node the mean of the nodes is used.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0):
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        self.att_weight11 = _xavier_parameter(out_dim, 1)
        self.att_weight22 = _xavier_parameter(out_dim, 1)
        self.att_weight12 = _xavier_parameter(out_dim, 1)
        self.att_weightM = _xavier_parameter(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(p=0.2)
        self.act = nn.SELU()
        self.temp = temperature

    def _node_attention(self, x: torch.Tensor, n1: int) -> torch.Tensor:
        """(B, N, D) -> (B, N, N) attention over the joined graph; each row sums to one."""
        hidden = torch.tanh(self.att_proj(_pairwise_products(x)))   # (B, N, N, out)
        first = torch.arange(x.size(1), device=x.device) < n1
        both_first, both_second = first[:, None] & first[None, :], ~first[:, None] & ~first[None, :]
        logits_11, logits_22, logits_12 = ((hidden @ weight).squeeze(-1) for weight in
                                           (self.att_weight11, self.att_weight22, self.att_weight12))
        logits = torch.where(both_first, logits_11, torch.where(both_second, logits_22, logits_12))
        return F.softmax(logits / self.temp, dim=-1)

    def _update_master(self, x: torch.Tensor, master: torch.Tensor) -> torch.Tensor:
        attention = torch.tanh(self.att_projM(x * master)) @ self.att_weightM        # (B, N, 1)
        attention = F.softmax(attention / self.temp, dim=-2)
        return self.proj_with_attM(attention.transpose(1, 2) @ x) + self.proj_without_attM(master)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor,
                master: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n1 = x1.size(1)
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)
        if master is None:
            master = x.mean(dim=1, keepdim=True)
        x = self.input_drop(x)
        attention = self._node_attention(x, n1)
        master = self._update_master(x, master)
        x = self.proj_with_att(attention @ x) + self.proj_without_att(x)
        x = self.act(_batch_norm_nodes(self.bn, x))
        return x[:, :n1], x[:, n1:], master


class GraphPool(nn.Module):
    """h (B, N, D) -> (B, max(int(N * k), 1), D): the nodes with the highest sigmoid(w . h_i)
    (computed after dropout p), each scaled by that score, in descending order of score."""

    def __init__(self, k: float, in_dim: int, p: float):
        super().__init__()
        self.k = k
        self.proj = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(p=p) if p > 0 else nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.proj(self.drop(h)))               # (B, N, 1)
        # The number of nodes kept follows the input's length (the temporal graph has a node per
        # few frames). A trace would freeze it at the example's count, so a TorchScript trace runs
        # the scripted copy and torch.export (ONNX) keeps it symbolic.
        top = _top_nodes_scripted if torch.jit.is_tracing() else _top_nodes
        return top(h, scores, self.k)


def _top_nodes(h: torch.Tensor, scores: torch.Tensor, ratio: float) -> torch.Tensor:
    keep = torch.sym_max(torch.sym_int(h.size(1) * ratio), 1)      # max(int(N * k), 1), symbolic under export
    _, index = torch.topk(scores, keep, dim=1)
    return torch.gather(h * scores, 1, index.expand(-1, -1, h.size(2)))


@torch.jit.script_if_tracing
def _top_nodes_scripted(h: torch.Tensor, scores: torch.Tensor, ratio: float) -> torch.Tensor:
    keep = max(int(h.size(1) * ratio), 1)
    _, index = torch.topk(scores, keep, dim=1)
    return torch.gather(h * scores, 1, index.expand(-1, -1, h.size(2)))
