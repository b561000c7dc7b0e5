"""Training checkpoints: written atomically, complete enough to resume exactly."""
import json
import os
import random
from typing import Any, Dict, Iterable, Optional

import numpy as np
import torch

from utils.atomic import atomic_torch_save
from utils.errors import BadInput
from utils.safe_load import UntrustedFile, torch_load


class CheckpointError(BadInput, RuntimeError):
    """A checkpoint cannot be read or lacks what is needed; the message names the file."""


def rng_states() -> Dict[str, Any]:
    """Every generator's state in types a weights-only load accepts (tensors, numbers, tuples)."""
    name, key, position, has_gauss, cached = np.random.get_state()
    states = {'torch': torch.get_rng_state(), 'python': random.getstate(),
              'numpy': {'bit_generator': name, 'key': torch.from_numpy(key.astype(np.int64)), 'pos': int(position),
                        'has_gauss': int(has_gauss), 'cached_gaussian': float(cached)}}
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: Dict[str, Any]) -> None:
    """The states of rng_states(), or of a checkpoint written before it stored NumPy's as tensors."""
    torch.set_rng_state(states['torch'])
    numpy_state = states['numpy']
    if isinstance(numpy_state, dict):
        numpy_state = (numpy_state['bit_generator'], numpy_state['key'].numpy().astype(np.uint32),
                       numpy_state['pos'], numpy_state['has_gauss'], numpy_state['cached_gaussian'])
    np.random.set_state(numpy_state)
    random.setstate(states['python'])
    if 'cuda' in states and torch.cuda.is_available() and len(states['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states['cuda'])


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    atomic_torch_save(state, path)


# A release folder (tools/export_release.py) is a Hugging Face model folder: the weights in
# model.safetensors, the configuration in config.json with what the model decides with (its
# threshold and calibration) under RELEASE_KEY. Release folders written before hold model.pt.
RELEASE_WEIGHTS, RELEASE_CONFIG, RELEASE_KEY = 'model.safetensors', 'config.json', 'ebm_release'
RELEASE_MODEL = 'model.pt'


def checkpoint_file(path: str) -> str:
    """`path` itself, or for a release folder the model file in it."""
    if not os.path.isdir(path):
        return path
    earlier = os.path.join(path, RELEASE_MODEL)
    return earlier if os.path.isfile(earlier) else os.path.join(path, RELEASE_WEIGHTS)


def release_state(folder: str) -> Dict[str, Any]:
    """A release folder's model as a checkpoint: {'model', 'args', 'threshold', ...}. Neither
    file can run code (safetensors holds tensors only; config.json is JSON)."""
    from safetensors.torch import load_file
    config_path = os.path.join(folder, RELEASE_CONFIG)
    try:
        with open(config_path, encoding='utf-8') as handle:
            config = json.load(handle)
        weights = load_file(os.path.join(folder, RELEASE_WEIGHTS))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read the release {folder}: {error}") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path} holds a {type(config).__name__}, expected the configuration")
    decided = config.pop(RELEASE_KEY, {})
    return {'model': weights, 'args': config, **decided}


def load_checkpoint(path: str, required=('model',), trust: bool = False) -> Dict[str, Any]:
    """Load on CPU (a file, or a release folder's model) without running code it may carry
    (utils/safe_load.py; `trust` lifts that, never by default); a missing, unreadable,
    incomplete or refused file raises CheckpointError naming it."""
    if os.path.isdir(path) and checkpoint_file(path).endswith(RELEASE_WEIGHTS):
        state = release_state(path)
        missing = [key for key in required if key not in state]
        if missing:
            raise CheckpointError(f"the release {path} lacks {missing} (a release holds a model to score with, "
                                  f"not a run to resume)")
        return state
    path = checkpoint_file(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch_load(path, trust)
    except UntrustedFile as error:
        raise CheckpointError(f"checkpoint {error}") from None
    except Exception as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    return state


RESUME_KEYS = ('model', 'optimizer', 'scheduler', 'epoch', 'rng')


def load_model_state(detector: torch.nn.Module, state: Dict[str, Any], args: dict, path: str,
                     model_keys: Iterable[str]) -> None:
    """Load state['model'] into `detector`; when it does not fit, say which of
    `model_keys` (the configuration keys the detector is built from) differ between
    the checkpoint's stored configuration and this run's."""
    try:
        detector.load_state_dict(state['model'])
    except RuntimeError as error:
        saved = state.get('args') or {}
        differ = [key for key in model_keys if key in saved and saved[key] != args[key]]
        if differ:
            raise CheckpointError(
                f"checkpoint {path} holds a model built with "
                f"{', '.join(f'{key}={saved[key]!r}' for key in differ)}; this run has "
                f"{', '.join(f'{key}={args[key]!r}' for key in differ)}. Set "
                f"{' '.join(f'{key}={saved[key]!r}'.replace(' ', '') for key in differ)} to use it") from None
        first = str(error).strip().splitlines()
        raise CheckpointError(f"checkpoint {path} does not fit this model: "
                              f"{' '.join(line.strip() for line in first[:3])}") from None


def resolve_resume(resume: Optional[str], last_path: str) -> Optional[str]:
    """'auto' -> this run's last checkpoint when it exists (else a fresh start); a path -> itself."""
    if resume is None:
        return None
    if resume == 'auto':
        return last_path if os.path.isfile(last_path) else None
    return resume
