"""The interface every backbone implements, and what all of them share (docs/method.md section 8c)."""
import abc
from typing import List, Sequence, Tuple

import torch
from torch import nn

from utils.similarity import cosine_to_centroid


def init_centroid(embedding_size: int) -> torch.Tensor:
    """QUIRK:centroid-plus-minus-one. A (1, D) centroid initialised as the authors' OC-Softmax weight: Kaiming-uniform
    with a = 0.25, then renorm along dim 1 to 1e-5 and times 1e5. Each column of a (1, D)
    tensor is one entry, so every entry becomes +-1 and the norm is sqrt(D). The scale
    matters: Adam moves each entry by about lr per step, so the centroid's turning rate
    is set by its norm."""
    centroid = torch.empty(1, embedding_size)
    nn.init.kaiming_uniform_(centroid, a=0.25)
    return centroid.renorm_(2, 1, 1e-5).mul_(1e5)


class EBMDetector(nn.Module, metaclass=abc.ABCMeta):
    """Waveform -> features -> one (B, D_k) embedding per head k, each head with its EOC-S centroid.

    A backbone implements `features` (waveform to the model's input; it may augment in
    training mode, as the HM-Conformer's masking does) and `forward` (features to the
    list of head embeddings), and calls `init_centroids` at the end of its constructor,
    after its own parts have drawn their random initial weights. The rest is shared: the
    system score is the cosine of the last head's embedding to the last centroid.
    """

    centroids: nn.ParameterList
    held: List[nn.Parameter] = []     # set by train_only (fine-tuning a part)

    def init_centroids(self, embedding_sizes: Sequence[int]) -> None:
        """One (1, D_k) centroid per head, owned here so that one checkpoint holds all a score needs."""
        self.centroids = nn.ParameterList(nn.Parameter(init_centroid(size)) for size in embedding_sizes)

    @abc.abstractmethod
    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """wave (B, N) -> the input of `forward`."""

    @abc.abstractmethod
    def forward(self, features: torch.Tensor) -> List[torch.Tensor]:
        """features -> [(B, D_k)] for every head k; the last is the system's."""

    @property
    def num_heads(self) -> int:
        return len(self.centroids)

    def centroid_names(self) -> List[str]:
        """State-dict names of the centroids (the parameters of the EBM step 2)."""
        return [f'centroids.{k}' for k in range(self.num_heads)]

    def start_epoch(self, epoch: int) -> None:
        """Called before each training epoch (a backbone may unfreeze a part)."""

    def always_frozen(self) -> List[nn.Parameter]:
        """Parameters the backbone itself never trains (now)."""
        return []

    def fine_tune_prefixes(self, scope: str) -> Tuple[str, ...]:
        """The parameter-name prefixes that train under init_train=`scope` ('heads' or
        'last_block'); each backbone names its own."""
        raise NotImplementedError(f"{type(self).__name__} names no parts for init_train={scope}")

    def train_only(self, scope: str) -> List[str]:
        """Hold every parameter outside `scope` (fine_tune_prefixes) fixed from now on; returns
        the names of those that still train."""
        prefixes = self.fine_tune_prefixes(scope)
        self.held = [p for name, p in self.named_parameters() if not name.startswith(prefixes)]
        for parameter in self.held:
            parameter.requires_grad_(False)
        return [name for name, _ in self.named_parameters() if name.startswith(prefixes)]

    def frozen_parameters(self) -> List[nn.Parameter]:
        """Parameters no optimisation step may train: the backbone's own, and those train_only holds."""
        return self.always_frozen() + list(self.held)

    def scores_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """features -> (B,) cosine of the last head's embedding to its centroid."""
        return cosine_to_centroid(self(features)[-1], self.centroids[-1])

    def score(self, wave: torch.Tensor) -> torch.Tensor:
        """wave (B, N) -> (B,) system scores; higher = more bona fide."""
        return self.scores_from_features(self.features(wave))
