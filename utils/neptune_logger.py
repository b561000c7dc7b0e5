"""Neptune logger on the `neptune` client (1.x).

A Neptune problem never ends a run: the first failure is reported once on stderr and
the logger turns itself off (utils/run_logger.py); the local logger keeps everything.
"""
import os
import threading
from typing import Optional, Sequence

from utils.run_logger import OptionalLogger


def neptune_credentials(user: str, token: str, project: str):
    """(project path 'user/project', api token), from the arguments or NEPTUNE_PROJECT / NEPTUNE_API_TOKEN.

    Returns (None, None) when either part is missing: Neptune stays off.
    """
    project_path = f"{user}/{project}" if user else os.environ.get('NEPTUNE_PROJECT')
    token = token or os.environ.get('NEPTUNE_API_TOKEN')
    if not project_path or not token:
        return None, None
    return project_path, token


class NeptuneTimeout(TimeoutError):
    """Neptune did not start a run within the time allowed."""


class NeptuneLogger(OptionalLogger):
    label = 'neptune'

    def __init__(self, project_path: str, api_token: Optional[str], name: str, tags: Sequence[str],
                 description: str = '', mode: str = 'async', timeout_s: float = 10.0):
        """Starts the run in a thread and waits at most `timeout_s` (neptune_timeout) for it:
        an unreachable server would otherwise hold the start of training for a minute or
        more. A run that starts after the wait is stopped at once."""
        super().__init__()
        import neptune
        started: dict = {}
        gave_up = threading.Event()

        def start() -> None:
            try:
                run = neptune.init_run(project=project_path, api_token=api_token, name=name, tags=list(tags),
                                       description=description, mode=mode, capture_hardware_metrics=False,
                                       capture_stdout=False, capture_stderr=False, source_files=[])
            except Exception as error:  # bad token, no network, missing project
                started['error'] = error
                return
            if gave_up.is_set():
                run.stop()
            started['run'] = run

        thread = threading.Thread(target=start, name='neptune-start', daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            gave_up.set()
            raise NeptuneTimeout(f"no answer within neptune_timeout={timeout_s:g} s")
        if 'error' in started:
            raise started['error']
        self.run = started['run']

    def log_parameters(self, params: dict) -> None:
        from neptune.utils import stringify_unsupported
        self._safely(lambda: self.run['parameters'].assign(stringify_unsupported(params)))

    def log_metric(self, name: str, value: float, step: Optional[int] = None) -> None:
        self._safely(lambda: self.run[name].append(value, step=step))

    def log_image(self, name: str, figure) -> None:
        from neptune.types import File
        self._safely(lambda: self.run[name].append(File.as_image(figure)))

    def close(self) -> None:
        self._safely(self.run.stop)
