"""What every logger of a run does: the interface `ExperimentLogger` fans out to.

The local logger writes files and lets its errors through (a full disk must stop the run
before it loses work); the remote and optional ones (Neptune, TensorBoard, W&B) never end a
run: their first failure is reported once on stderr, they turn themselves off, and the
others go on.
"""
import abc
import sys
from typing import Callable, Optional


class RunLogger(abc.ABC):
    """log_parameters once per run segment, log_metric per value, log_image per figure;
    save_model returns the path it wrote, if any; truncate_metrics drops what a killed run
    logged past its last checkpoint (a resume logs those steps again)."""

    @abc.abstractmethod
    def log_parameters(self, params: dict) -> None:
        ...

    @abc.abstractmethod
    def log_metric(self, name: str, value: float, step: Optional[int] = None) -> None:
        ...

    @abc.abstractmethod
    def log_image(self, name: str, figure) -> None:
        ...

    def save_model(self, name: str, state_dict: dict) -> Optional[str]:
        return None

    def truncate_metrics(self, last_step: Callable[[str], int]) -> None:
        """Loggers that cannot cut a series (Neptune, W&B) keep it as sent."""

    def close(self) -> None:
        pass


class OptionalLogger(RunLogger):
    """A logger whose failures never end the run: `_safely(action)` runs one call and, on
    its first error, reports it once naming `label` and disables the logger."""

    label = 'logger'

    def __init__(self):
        self.enabled = True

    def _safely(self, action: Callable[[], None]) -> None:
        if not self.enabled:
            return
        try:
            action()
        except Exception as error:  # any client, network or disk failure of this logger
            self.enabled = False
            print(f"[{self.label}] logging disabled after an error: {error!r}; the other loggers continue",
                  file=sys.stderr)
