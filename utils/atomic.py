"""Atomic file writes: a crash leaves the old file or the new one, never half of one."""
import errno
import os
import re
import shutil
from typing import Any, Callable, List

import torch

from utils.errors import RunFailed
from utils.run_lock import process_alive


class WriteFailed(RunFailed, OSError):
    """A file could not be written (often: the disk is full); the previous one is intact."""


LOW_SPACE_BYTES = 64 * 2 ** 20


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call write(temporary) on a temporary file beside `path`, then rename it over `path`.
    The temporary name keeps the file's extension, so writers that choose the format by
    extension (soundfile) write the right one. A failed write removes the temporary and
    raises WriteFailed saying whether the disk is full or the folder not writable, and
    that the old `path` is intact."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, extension = os.path.splitext(path)
    temporary = f"{stem}.tmp{os.getpid()}{extension}"
    try:
        write(temporary)
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:   # torch.save reports a full disk as a RuntimeError
        if isinstance(error, WriteFailed):
            raise
        free = shutil.disk_usage(folder).free
        code = getattr(error, 'errno', None)
        if code in (errno.EROFS, errno.EACCES, errno.EPERM) or not os.access(folder, os.W_OK):
            cause = 'the folder is not writable (read-only or no permission)'
        elif code in (errno.ENOSPC, errno.EDQUOT) or free < LOW_SPACE_BYTES:
            cause = 'the disk is full'
        else:
            cause = 'the write failed'
        kept = f"the previous {os.path.basename(path)} is intact" if os.path.exists(path) else \
            f"no earlier {os.path.basename(path)} existed"
        raise WriteFailed(f"{path} could not be written: {cause} ({free / 2 ** 20:.0f} MiB free in {folder}; "
                          f"{str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}); "
                          f"{kept}") from error
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


_TEMPORARY = re.compile(r'.+\.tmp(\d+)(\.[^.]*)?$')


def remove_stale_temporaries(folder: str) -> List[str]:
    """Remove the temporaries of atomic_write left in `folder` by processes that no longer
    run (a SIGKILL between writing and renaming); returns the paths removed."""
    removed = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        match = _TEMPORARY.fullmatch(name)
        if match and not process_alive(int(match.group(1))):
            os.remove(os.path.join(folder, name))
            removed.append(os.path.join(folder, name))
    return removed


def atomic_text(path: str, text: str) -> None:
    def write(temporary: str) -> None:
        with open(temporary, 'w', encoding='utf-8') as handle:
            handle.write(text)
    atomic_write(path, write)


def atomic_torch_save(obj: Any, path: str) -> None:
    """torch.save to a temporary file beside `path`, then rename over it."""
    atomic_write(path, lambda temporary: torch.save(obj, temporary))
