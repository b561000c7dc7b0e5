"""Extended One-Class Softmax (EOC-S): OC-Softmax whose centroid gets its own Adam step."""
from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from utils.similarity import cosine_to_centroid


def class_weights_from_ratios(ratio_bona: float, ratio_spoof: float) -> Tuple[float, float]:
    """(spoof, bona fide) weights, indexed by label: (rb + rs) / (2 rs), (rb + rs) / (2 rb).

    With the defaults 0.1 / 0.9: (0.556, 5.0).
    """
    total = ratio_bona + ratio_spoof
    return total / (2 * ratio_spoof), total / (2 * ratio_bona)


class EOCSoftmax(nn.Module):
    """Per-row loss on cosines s = cos(x, w) to the centroid w:

        bona fide (label 1): softplus(alpha * (r_real - s))
        spoof     (label 0): softplus(alpha * (s - r_fake))

    QUIRK:class-weight-over-four-rows: rows are weighted by `class_weight[label]` only when the batch has more than four
    rows (faithful quirk of the authors' code: the bona-fide-only centroid step of a
    default batch has exactly four rows and so is never weighted), then averaged.
    The centroid itself is a parameter of the model; it is passed in as a tensor.
    """

    def __init__(self, r_real: float = 0.9, r_fake: float = 0.2, alpha: float = 20.0,
                 class_weight: Optional[Tuple[float, float]] = None):
        super().__init__()
        self.r_real, self.r_fake, self.alpha = r_real, r_fake, alpha
        self.register_buffer('class_weight', torch.tensor(class_weight, dtype=torch.float32)
                             if class_weight is not None else None, persistent=False)

    def forward(self, embeddings: torch.Tensor, centroid: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """embeddings (B, D), centroid (1, D), labels (B,) in {0, 1} -> scalar loss."""
        cosine = cosine_to_centroid(embeddings, centroid)
        bona = labels == 1
        margins = torch.where(bona, self.r_real - cosine, cosine - self.r_fake)
        losses = F.softplus(self.alpha * margins)
        if self.class_weight is not None and len(labels) > 4:
            losses = losses * self.class_weight[labels.long()]
        return losses.mean()
