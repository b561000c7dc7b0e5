"""One run folder, one process: a lock file holding the owner's process id."""
import os
import socket
from typing import Optional, Tuple

from utils.errors import BadInput

LOCK_NAME = 'run.lock'


class RunFolderInUse(BadInput, RuntimeError):
    """Another live process holds the run folder; the message names it and the lock file."""


def _start_time(pid: int) -> Optional[str]:
    """The process start time (clock ticks since boot) from /proc, None where unavailable:
    it tells a live owner from a new process that reused a dead owner's id."""
    try:
        with open(f'/proc/{pid}/stat') as handle:
            return handle.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """`run.lock` in a run folder: 'pid host start_time'. `acquire` refuses while another
    live process holds it, takes over a stale lock (its process is gone), and is
    re-entrant within one process; `release` removes it if it is ours."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, LOCK_NAME)

    def _read(self) -> Optional[Tuple[int, str, str]]:
        try:
            with open(self.path) as handle:
                pid, host, start = (handle.read().split() + ['', '', ''])[:3]
            return int(pid), host, start
        except (OSError, ValueError):
            return None

    def holder(self) -> Optional[Tuple[int, str]]:
        """(pid, host) of another live process holding the folder, else None."""
        if not os.path.exists(self.path):
            return None
        owner = self._read()
        if owner is None:
            return -1, 'unknown (an unreadable lock file)'
        pid, host, start = owner
        if pid == os.getpid() and host == socket.gethostname():
            return None
        if host != socket.gethostname():
            return pid, host  # cannot be checked from here: assume it runs
        if not process_alive(pid) or (start and _start_time(pid) not in (None, start)):
            return None
        return pid, host

    def check(self) -> None:
        """Raise RunFolderInUse when another live process holds the folder."""
        owner = self.holder()
        if owner is not None:
            pid, host = owner
            raise RunFolderInUse(
                f"run folder {self.run_dir} is in use by process {pid} on {host} (lock file {self.path}). "
                f"Wait for that run to end or stop it, or give this run another name=...; if that process "
                f"is gone for good, delete the lock file.")

    def acquire(self) -> None:
        """Create the lock file exclusively (atomic against a concurrent start)."""
        os.makedirs(self.run_dir, exist_ok=True)
        for _ in range(3):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                self.check()
                if self._is_ours():
                    return
                os.remove(self.path)  # stale: its process is gone
                continue
            with os.fdopen(descriptor, 'w') as handle:
                handle.write(f"{os.getpid()} {socket.gethostname()} {_start_time(os.getpid()) or ''}\n")
            return
        self.check()

    def _is_ours(self) -> bool:
        owner = self._read()
        return owner is not None and owner[0] == os.getpid() and owner[1] == socket.gethostname()

    def release(self) -> None:
        if self._is_ours():
            os.remove(self.path)
