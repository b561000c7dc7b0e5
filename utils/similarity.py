"""The cosine of embeddings to a centroid: the EBM score and the quantity its losses shape."""
import torch
from torch.nn import functional as F


def cosine_to_centroid(embeddings: torch.Tensor, centroid: torch.Tensor) -> torch.Tensor:
    """embeddings (B, D), centroid (1, D) -> (B,) cosine similarity; higher = more bona fide."""
    return F.normalize(embeddings, dim=1) @ F.normalize(centroid, dim=1).squeeze(0)
