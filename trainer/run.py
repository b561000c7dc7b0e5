"""What a run owns besides its model and its loop: its folder and the lock on it, its loggers,
the files an earlier interrupted run left there, and the stop signals (Ctrl-C, SIGTERM).

Only the process that writes (rank 0) has a folder, a lock and loggers; the others log
nothing and their `dir` is None.
"""
import os
import signal
from typing import Optional

from utils.atomic import remove_stale_temporaries
from utils.experiment_logger import ExperimentLogger, build_logger
from utils.run_folder import holds_a_run, run_dir, set_aside_unfinished_run
from utils.run_lock import LOCK_NAME, RunLock


class RunSession:
    def __init__(self, args: dict, rank: int = 0):
        """Rank 0 locks the run's folder (another live process holding it is refused), sets aside
        what a run stopped before its first checkpoint left there when resuming it, starts the
        loggers and removes the half-written files of killed processes."""
        self.args, self.is_main = args, rank == 0
        self.dir: Optional[str] = None
        self.lock: Optional[RunLock] = None
        self.logger = ExperimentLogger([])
        self.stop_requested = False
        self._previous_handlers: dict = {}
        if self.is_main:
            self._open()

    def _open(self) -> None:
        self.dir = run_dir(self.args)
        self.lock = RunLock(self.dir)
        self.lock.acquire()
        if self.args['TEST']:
            self.log(f"evaluation-only run: writing to {self.dir} (nothing is written beside the checkpoint)")
        elif self.args['resume'] == 'auto' and not os.path.isfile(self.path('models', 'last.pt')) \
                and holds_a_run(self.dir):
            aside = set_aside_unfinished_run(self.dir, keep=(LOCK_NAME,))
            self.log(f"resume=auto: {self.dir} holds a run stopped before its first checkpoint, so there "
                     f"is nothing to resume: starting afresh; the earlier run's files were moved to {aside}")
        self.logger = build_logger(self.args, root=self.dir)
        for folder in ('models', 'metrics', '.'):
            for path in remove_stale_temporaries(os.path.join(self.dir, folder)):
                self.log(f"removed {path}: half written by a process that was killed")

    def log(self, text: str) -> None:
        if self.is_main:
            print(text, flush=True)

    def path(self, *parts: str) -> Optional[str]:
        """A path in the run's folder (None on the processes that do not write)."""
        return os.path.join(self.dir, *parts) if self.dir else None

    def watch_stop_signals(self) -> None:
        """From now on Ctrl-C and SIGTERM set `stop_requested` (the loop finishes its step or
        evaluation batch, saves and returns) instead of interrupting."""
        def request_stop(signum, frame):
            self.stop_requested = True
            self.log(f"\nsignal {signum}: finishing the current step or evaluation batch, then saving and exiting")
        self._previous_handlers = {number: signal.signal(number, request_stop)
                                   for number in (signal.SIGINT, signal.SIGTERM)}

    def close(self) -> None:
        """Ctrl-C and SIGTERM back to whoever handled them before; the loggers closed; the lock released."""
        for number, handler in self._previous_handlers.items():
            signal.signal(number, handler)
        self._previous_handlers = {}
        self.logger.close()
        if self.lock is not None:
            self.lock.release()
