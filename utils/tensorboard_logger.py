"""TensorBoard logger (tensorboard=True): event files in <run folder>/tensorboard, so that
`tensorboard --logdir path_log` shows every run under path_log side by side."""
import glob
import os
from typing import Callable, Dict, Optional

from utils.run_logger import OptionalLogger

FOLDER = 'tensorboard'


class TensorBoardLogger(OptionalLogger):
    label = 'tensorboard'

    def __init__(self, run_dir: str):
        super().__init__()
        from torch.utils.tensorboard import SummaryWriter   # needs the tensorboard package
        self.folder = os.path.join(run_dir, FOLDER)
        self._writer_class = SummaryWriter
        self._writer = None
        self.counts: Dict[str, int] = {}      # the step of values and figures logged without one

    @property
    def writer(self):
        if self._writer is None:
            self._writer = self._writer_class(log_dir=self.folder, flush_secs=10)
        return self._writer

    def _next_step(self, name: str, step: Optional[int]) -> int:
        self.counts[name] = self.counts.get(name, 0) + 1
        return step if step is not None else self.counts[name]

    def log_parameters(self, params: dict) -> None:
        rows = '\n'.join(f"| {key} | `{value!r}` |" for key, value in params.items())
        self._safely(lambda: self.writer.add_text('parameters', f"| key | value |\n|---|---|\n{rows}"))

    def log_metric(self, name: str, value: float, step: Optional[int] = None) -> None:
        self._safely(lambda: self.writer.add_scalar(name, float(value), self._next_step(name, step)))

    def log_image(self, name: str, figure) -> None:
        # close=False: the other loggers and the caller still hold the figure
        self._safely(lambda: self.writer.add_figure(name, figure, self._next_step(name, None), close=False))

    def truncate_metrics(self, last_step: Callable[[str], int]) -> None:
        """Rewrite the event files of the run's earlier segments without the scalars past
        last_step(tag), as the local logger cuts its metric files: TensorBoard would otherwise
        draw the replayed steps twice. Figures and text are kept."""
        self._safely(lambda: self._truncate(last_step))

    def _truncate(self, last_step: Callable[[str], int]) -> None:
        from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
        from tensorboard.compat.proto.event_pb2 import Event
        from torch.utils.tensorboard.writer import FileWriter
        old = sorted(glob.glob(os.path.join(self.folder, 'events.out.tfevents.*')))
        if not old:
            return
        kept = []
        for path in old:
            for record in RawEventFileLoader(path).Load():   # as written: scalars stay simple values
                event = Event.FromString(record)
                if event.HasField('file_version'):
                    continue
                if event.HasField('summary'):
                    values = [value for value in event.summary.value
                              if not (value.HasField('simple_value') and event.step > last_step(value.tag))]
                    if not values:
                        continue
                    del event.summary.value[:]
                    event.summary.value.extend(values)
                kept.append(event)
        writer = FileWriter(self.folder, filename_suffix='.resumed')
        for event in kept:
            writer.add_event(event)
        writer.close()
        for path in old:
            os.remove(path)

    def close(self) -> None:
        if self._writer is not None:
            self._safely(self._writer.close)
