"""Comparing a loaded state dict with the one a module expects, for clear load errors."""
from typing import Dict, List, Optional

import torch


def _named(keys: List[str]) -> str:
    return f"{keys}" if len(keys) <= 10 else f"({len(keys)}) {keys[:10]} ..."


def state_dict_mismatch(expected: Dict[str, torch.Tensor], state: Dict[str, torch.Tensor], path: str,
                        expecting: str = 'the model') -> Optional[str]:
    """None when `state` fits `expected`; else a message naming the missing and unexpected
    keys (the first ten of a long list) or the first key whose shape differs."""
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        return f"{path}: missing keys {_named(missing)}, unexpected keys {_named(unexpected)}"
    for key, value in state.items():
        if value.shape != expected[key].shape:
            return f"{path}: key {key!r} has shape {tuple(value.shape)}, {expecting} expects {tuple(expected[key].shape)}"
    return None
