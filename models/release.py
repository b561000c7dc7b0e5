"""Exchange parameters with the HM-Conformer authors' release (eleven files).

    check_point_<tag>_frontend_<epoch>.pt         -> detector.frontend
    check_point_<tag>_backend{k}_<epoch>.pt       -> detector.backends[k]
    check_point_<tag>_loss{k}_<epoch>.pt          -> detector.centroids[k] (key 'weight')
Keys in the files carry the DistributedDataParallel prefix 'module.'.
"""
import os
from collections import OrderedDict
from typing import List, Tuple

from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from models.state_dict_check import state_dict_mismatch
from utils.atomic import atomic_torch_save
from utils.safe_load import UntrustedFile, torch_load


class ReleaseLoadError(RuntimeError):
    """A release file is missing, or its keys or shapes do not fit the detector."""


def release_files(directory: str, tag: str, epoch: int, num_heads: int) -> List[Tuple[str, str]]:
    """(part, path) pairs; part is 'frontend', 'backend{k}' or 'loss{k}'."""
    parts = ['frontend'] + [f'backend{k}' for k in range(num_heads)] + [f'loss{k}' for k in range(num_heads)]
    return [(part, os.path.join(directory, f'check_point_{tag}_{part}_{epoch}.pt')) for part in parts]


class _CentroidView(nn.Module):
    """Presents one centroid as a module whose state dict is {'weight': (1, D)}."""

    def __init__(self, centroid: nn.Parameter):
        super().__init__()
        self.weight = centroid


def load_hm_conformer_release(detector: nn.Module, directory: str, tag: str = 'DF', epoch: int = 20,
                              parts: Tuple[str, ...] = ('frontend', 'backend', 'loss')) -> List[str]:
    """Load the release files of the chosen parts into `detector`; returns the paths loaded.

    A missing file, a missing or unexpected key (all named) or a shape mismatch raises
    ReleaseLoadError before anything is changed in the detector.
    """
    plan = []
    for part, path in release_files(directory, tag, epoch, detector.num_heads):
        if not part.startswith(parts):
            continue
        if not os.path.isfile(path):
            raise ReleaseLoadError(f"release file not found: {path}")
        if part == 'frontend':
            target = detector.frontend
        elif part.startswith('backend'):
            target = detector.backends[int(part[len('backend'):])]
        else:
            target = _CentroidView(detector.centroids[int(part[len('loss'):])])
        try:
            state = torch_load(path)
        except UntrustedFile as error:
            raise ReleaseLoadError(str(error)) from None
        consume_prefix_in_state_dict_if_present(state, 'module.')
        plan.append((target, state, path))
    for target, state, path in plan:
        problem = state_dict_mismatch(target.state_dict(), state, path, 'the detector')
        if problem:
            raise ReleaseLoadError(problem)
    for target, state, path in plan:
        target.load_state_dict(state)
    return [path for _, _, path in plan]


def save_hm_conformer_release(detector: nn.Module, directory: str, tag: str = 'DF', epoch: int = 20) -> List[str]:
    """Write the eleven files in the release layout (keys prefixed with 'module.')."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for part, path in release_files(directory, tag, epoch, detector.num_heads):
        if part == 'frontend':
            state = detector.frontend.state_dict()
        elif part.startswith('backend'):
            state = detector.backends[int(part[len('backend'):])].state_dict()
        else:
            state = {'weight': detector.centroids[int(part[len('loss'):])].detach()}
        atomic_torch_save(OrderedDict((f'module.{key}', value.clone()) for key, value in state.items()), path)
        paths.append(path)
    return paths
