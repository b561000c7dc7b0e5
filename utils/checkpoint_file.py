"""Checkpoint files: written atomically; read on the CPU without running code they may carry; a
release folder (model.safetensors + config.json) read as the checkpoint it was made from."""
import json
import os
from typing import Any, Dict

from utils.atomic import atomic_torch_save
from utils.errors import BadInput
from utils.safe_load import UntrustedFile, torch_load


class CheckpointError(BadInput, RuntimeError):
    """A checkpoint cannot be read or lacks what is needed; the message names the file."""


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
