"""The health signal of the centroid step: how close each head's centroid is to the
bona fide embeddings it should represent."""
from typing import List, Sequence

import torch
import torch.distributed as dist
from torch.nn import functional as F

from trainer.distributed import is_distributed


class CentroidMonitor:
    """Accumulates, per head, the sum of the unit-normalised bona fide embeddings seen
    during an epoch; `cosines` gives cos(centroid_h, mean bona fide direction_h).

    A healthy EBM run shows these rising toward 1 while `train/loss_2` falls; a
    centroid that never approaches its class stays near 0 or below.
    """

    def __init__(self, num_heads: int):
        self.num_heads = num_heads
        self.reset()

    def reset(self) -> None:
        self.sums: List[torch.Tensor] = [None] * self.num_heads
        self.count = 0

    def update(self, bona_embeddings: Sequence[torch.Tensor]) -> None:
        """bona_embeddings: one (n_bona, D) tensor per head."""
        for h, embedding in enumerate(bona_embeddings):
            unit = F.normalize(embedding.detach().float(), dim=1).sum(0)
            self.sums[h] = unit if self.sums[h] is None else self.sums[h] + unit
        self.count += len(bona_embeddings[0])

    def cosines(self, centroids: Sequence[torch.Tensor]) -> List[float]:
        """One cosine per head over all ranks (a collective under DDP: every rank calls it)."""
        device = centroids[0].device
        sums = torch.stack([s if s is not None else torch.zeros(centroids[h].size(1), device=device)
                            for h, s in enumerate(self.sums)]).to(device)
        if is_distributed():
            dist.all_reduce(sums)
        centroid_matrix = torch.cat([c.detach().float() for c in centroids])
        return F.cosine_similarity(sums, centroid_matrix, dim=1).tolist()
