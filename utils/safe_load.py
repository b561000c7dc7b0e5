"""Reading .pt files without running the code they may carry.

A pickle can name any Python callable and have it called while it loads (a `__reduce__`
payload), so `torch.load(weights_only=False)` of a file from someone else runs whatever they
put in it. Every file this project reads is loaded with `weights_only=True`: tensors, numbers,
strings, lists, dicts, tuples and nothing that can act. Checkpoints written before their
random-generator state was stored as tensors hold NumPy's state as an array; exactly the NumPy
classes that rebuild such an array are allowed for them (`LEGACY_NUMPY`). A file that needs
more is refused (`UntrustedFile`, naming what it asks for) unless the caller says it trusts
the file (`trust_checkpoint=True`, `--trust`), which is never the default.
"""
import pickle
from typing import Any, List

import numpy as np
import torch
from torch.serialization import get_unsafe_globals_in_checkpoint, safe_globals

TRUST_HINT = ("load it only if you made it or trust who did: trust_checkpoint=True for main.py, --trust for "
              "the tools")

# what NumPy needs to rebuild the uint32 key array of np.random.get_state() (numpy 2 and numpy 1 names)
LEGACY_NUMPY = [np.ndarray, np.dtype, type(np.dtype(np.uint32)),
                (np._core.multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
                np._core.multiarray._reconstruct]


class UntrustedFile(RuntimeError):
    """A file that a weights-only load refuses: loading it could run code it carries."""


def _requested_globals(path: str) -> List[str]:
    """The classes and functions the pickle in `path` names that a weights-only load refuses
    (read from its opcodes, nothing is executed); [] when the file cannot be scanned."""
    try:
        with safe_globals(LEGACY_NUMPY):
            return list(get_unsafe_globals_in_checkpoint(path))
    except Exception:   # not a torch zip file, truncated: torch.load says what is wrong
        return []


def torch_load(path: str, trust: bool = False) -> Any:
    """torch.load on CPU with weights_only=True (the legacy NumPy state allowed); with `trust`,
    a full unpickling. Raises UntrustedFile naming the objects a refused file asks for; any
    other failure (missing, truncated, not a torch file) propagates as torch raises it."""
    if trust:
        return torch.load(path, map_location='cpu', weights_only=False)
    try:
        with safe_globals(LEGACY_NUMPY):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        asked = _requested_globals(path)
        if not asked:         # not refused for what it holds: damaged, or not a torch file
            raise
        named = f" ({', '.join(asked[:5])}{', ...' if len(asked) > 5 else ''})"
        raise UntrustedFile(f"{path} holds objects that a weights-only load refuses{named}: loading it would run "
                            f"code it carries. This project's checkpoints and the releases it reads never need "
                            f"that; {TRUST_HINT}") from None
