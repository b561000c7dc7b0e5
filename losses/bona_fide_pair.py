"""Bonafide-Pair Learning (BPL)."""
import torch
from torch.nn import functional as F


def bona_fide_pair_loss(long_view: torch.Tensor, short_view: torch.Tensor, beta: float = 30.0,
                        offset: float = 0.3) -> torch.Tensor:
    """Pull together the two views of bona fide utterances.

    long_view, short_view: (B_bona, D) embeddings of the bona fide rows only.
    QUIRK:bpl-all-pairs: C = unit(long) @ unit(short)^T over ALL pairs (not only the matching diagonal, as
    in the authors' code, so different bona fide utterances are drawn together too);
    loss = mean(softplus(beta * (1 - C))) - offset.
    """
    similarity = F.normalize(long_view, dim=1) @ F.normalize(short_view, dim=1).T
    return F.softplus(beta * (1 - similarity)).mean() - offset
