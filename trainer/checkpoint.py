"""Training checkpoints: complete enough to resume exactly (the file format: utils/checkpoint_file.py)."""
import os
import random
from typing import Any, Dict, Iterable, Optional

import numpy as np
import torch

from utils.checkpoint_file import CheckpointError


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
