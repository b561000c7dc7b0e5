"""Where a tool writes, checked before it does any work: never over a file it reads, a file
where a file is wanted (a folder where a folder is), in a place this process can write."""
import os
import tempfile
from typing import Iterable, Optional


class OutputPathError(ValueError):
    """An output path that would overwrite an input, is of the wrong kind or cannot be written."""


def _same_path(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def unwritable_reason(folder: str) -> Optional[str]:
    """Why nothing can be written in `folder` (or, when it does not exist yet, in its nearest
    existing parent, where it would be made), or None when a probe file can be written there."""
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix='.write_check_'):
            pass
    except OSError as error:
        return f"{existing} cannot be written ({error.strerror or error})"
    return None


def check_output(out: str, inputs: Iterable[str] = (), flag: str = '--out', kind: str = 'file') -> None:
    """OutputPathError naming `flag` and the paths when `out` is one of `inputs`, is not of
    `kind` ('file' or 'folder') or cannot be written."""
    for source in inputs:
        if _same_path(out, source):
            raise OutputPathError(f"{flag} {out} is the input {source}: a tool never writes over what it reads; "
                                  f"give another path")
    if kind == 'file' and os.path.isdir(out):
        raise OutputPathError(f"{flag} {out} is a folder; give the name of the file to write")
    if kind == 'folder' and os.path.exists(out) and not os.path.isdir(out):
        raise OutputPathError(f"{flag} {out} is a file; give a folder")
    reason = unwritable_reason(out if kind == 'folder' else os.path.dirname(os.path.abspath(out)))
    if reason:
        raise OutputPathError(f"{flag} {out} cannot be written: {reason}")
