"""Atomic file writes: a crash leaves the old file or the new one, never half of one."""
import os
from typing import Any, Callable

import torch


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call write(temporary) on a temporary file beside `path`, then rename it over `path`.
    The temporary name keeps the file's extension, so writers that choose the format by
    extension (soundfile) write the right one."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    stem, extension = os.path.splitext(path)
    temporary = f"{stem}.tmp{os.getpid()}{extension}"
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def atomic_text(path: str, text: str) -> None:
    def write(temporary: str) -> None:
        with open(temporary, 'w', encoding='utf-8') as handle:
            handle.write(text)
    atomic_write(path, write)


def atomic_torch_save(obj: Any, path: str) -> None:
    """torch.save to a temporary file beside `path`, then rename over it."""
    atomic_write(path, lambda temporary: torch.save(obj, temporary))
