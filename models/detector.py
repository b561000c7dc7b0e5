"""The EBM detector: LFCC, feature masking, HM-Conformer, the embedding heads and their centroids."""
from typing import List

import torch
from torch import nn

from models.feature_masking import FeatureMasking
from models.head import EmbeddingHead
from models.hm_conformer import HMConformer
from models.lfcc import LFCC
from models.release import load_hm_conformer_release, save_hm_conformer_release


def init_centroid(embedding_size: int) -> torch.Tensor:
    """QUIRK:centroid-plus-minus-one. A (1, D) centroid initialised as the authors' OC-Softmax weight: Kaiming-uniform
    with a = 0.25, then renorm along dim 1 to 1e-5 and times 1e5. Each column of a (1, D)
    tensor is one entry, so every entry becomes +-1 and the norm is sqrt(D). The scale
    matters: Adam moves each entry by about lr per step, so the centroid's turning rate
    is set by its norm."""
    centroid = torch.empty(1, embedding_size)
    nn.init.kaiming_uniform_(centroid, a=0.25)
    return centroid.renorm_(2, 1, 1e-5).mul_(1e5)


def cosine_to_centroid(embedding: torch.Tensor, centroid: torch.Tensor) -> torch.Tensor:
    """cos(embedding, centroid): (B, D), (1, D) -> (B,). Higher = more bona fide."""
    return nn.functional.normalize(embedding, dim=1) @ nn.functional.normalize(centroid, dim=1).squeeze(0)


class Detector(nn.Module):
    """Waveform -> features -> one (B, embedding_size) embedding per head.

    The detector decides its own features: `features(wave)` is the LFCC front end and,
    in training mode, the feature masking; `forward(features)` gives the embeddings.
    Heads 0..n_cls-1 take the CLS levels, head n_cls the attentive pooling of the
    frames, the last head the aggregated embedding; the last head's cosine to its
    centroid is the system score. Each head has its own EOC-S centroid, owned here so
    that one checkpoint holds everything needed to score.
    """

    def __init__(self, lfcc: LFCC, masking: FeatureMasking, frontend: HMConformer, embedding_size: int = 64):
        super().__init__()
        self.lfcc = lfcc
        self.masking = masking
        self.frontend = frontend
        self.backends = nn.ModuleList(EmbeddingHead(frontend.output_size, embedding_size)
                                      for _ in range(frontend.num_heads))
        self.centroids = nn.ParameterList(nn.Parameter(init_centroid(embedding_size))
                                          for _ in range(frontend.num_heads))

    @property
    def num_heads(self) -> int:
        return len(self.backends)

    def start_epoch(self, epoch: int) -> None:
        """Nothing changes with the epoch here (the SSL detector unfreezes its front end)."""

    def frozen_parameters(self) -> List[nn.Parameter]:
        """Parameters no step may train (none here)."""
        return []

    def centroid_names(self) -> List[str]:
        """State-dict names of the centroids (the parameters of the EBM step 2)."""
        return [f'centroids.{k}' for k in range(self.num_heads)]

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """wave (B, N) -> features (B, 1 + N // hop, bin_size); masked in training mode."""
        return self.masking(self.lfcc(wave))

    def forward(self, features: torch.Tensor) -> List[torch.Tensor]:
        """features (B, T, bin_size) -> [(B, embedding_size)] * num_heads."""
        aggregated, levels = self.frontend(features)
        inputs = levels + [aggregated]
        return [head(x) for head, x in zip(self.backends, inputs)]

    def scores_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, T, bin_size) -> (B,) cosine of the last head to its centroid."""
        return cosine_to_centroid(self(features)[-1], self.centroids[-1])

    def score(self, wave: torch.Tensor) -> torch.Tensor:
        """wave (B, N) -> (B,) system scores."""
        return self.scores_from_features(self.features(wave))

    def load_hm_conformer_release(self, directory: str, tag: str = 'DF', epoch: int = 20,
                                  parts=('frontend', 'backend', 'loss')) -> List[str]:
        """Load the authors' release files (see models/release.py); returns the paths loaded."""
        return load_hm_conformer_release(self, directory, tag, epoch, tuple(parts))

    def save_hm_conformer_release(self, directory: str, tag: str = 'DF', epoch: int = 20) -> List[str]:
        """Write the eleven files of the authors' release layout; returns their paths."""
        return save_hm_conformer_release(self, directory, tag, epoch)
