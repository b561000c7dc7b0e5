"""The two kinds of error a run reports in one line, without a traceback.

BadInput: found before any work starts (a key, a dataset, a protocol, a checkpoint, a run
folder); `main.py` exits 2 and nothing was written. RunFailed: the run stopped on a failure
its message explains (a process, a write, unreadable data); `main.py` exits 1 and what was
written is kept. Each error class of the project derives from one of them beside its usual
base (ValueError, FileNotFoundError, ...), so that `main.py` catches two classes, not a list.
"""


class BadInput(Exception):
    """Bad input found before any work starts; the message names the file, line or key."""


class RunFailed(Exception):
    """A run stopped on a failure its message explains; what it had written is kept."""


def original_message(error: BaseException) -> str:
    """The message `error` was raised with, without the worker traceback that a DataLoader
    wraps around an exception raised in one of its workers."""
    text, marker = str(error), f"{type(error).__module__}.{type(error).__name__}: "
    return text.rsplit(marker, 1)[-1].strip() if marker in text else text.strip()
