"""The EBM objective over the detector's heads: weighted EOC-S plus BPL per head."""
from typing import List, Sequence

import torch
from torch import nn

from losses.bona_fide_pair import bona_fide_pair_loss
from losses.eoc_softmax import EOCSoftmax


class EBMObjective(nn.Module):
    """loss_1 = sum_h w_h * (EOCS_h(long, all rows) + BPL_h(long, short; bona fide rows));
    loss_2 = sum_h w_h * EOCS_h(long; bona fide rows), the centroid-only objective.

    Embedding lists hold one (B, D) tensor per head; `centroids` one (1, D) per head. A
    module, so that `.to(device)` moves the EOC-S class weights with it.
    """

    def __init__(self, eoc_softmax: EOCSoftmax, loss_weight: Sequence[float], alpha_cl: float = 30.0,
                 use_bpl: bool = True):
        super().__init__()
        self.eoc_softmax = eoc_softmax
        self.loss_weight = list(loss_weight)
        self.alpha_cl = alpha_cl
        self.use_bpl = use_bpl

    def main_loss(self, long_embeddings: List[torch.Tensor], short_embeddings: List[torch.Tensor],
                  centroids: Sequence[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        bona = labels == 1
        total = 0.0
        for h, weight in enumerate(self.loss_weight):
            loss = self.eoc_softmax(long_embeddings[h], centroids[h], labels)
            if self.use_bpl:
                loss = loss + bona_fide_pair_loss(long_embeddings[h][bona], short_embeddings[h][bona], self.alpha_cl)
            total = total + weight * loss
        return total

    def centroid_loss(self, bona_embeddings: List[torch.Tensor], centroids: Sequence[torch.Tensor]) -> torch.Tensor:
        labels = torch.ones(len(bona_embeddings[0]), dtype=torch.long, device=bona_embeddings[0].device)
        return sum(weight * self.eoc_softmax(bona_embeddings[h], centroids[h], labels)
                   for h, weight in enumerate(self.loss_weight))
