"""What a benchmark prints is also written to docs/results/<name>.md, which the docs link:
figures are never typed into prose, and a rerun rewrites its page.

    if __name__ == '__main__':
        with published('bench_model'):
            main()
"""
import contextlib
import io
import os
import platform
import sys
from typing import Iterator

import torch

from utils.atomic import atomic_text

DOCS_RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'docs', 'results')


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def published(name: str) -> Iterator[None]:
    """Print as usual; when the benchmark completes, write its output under the command that
    produced it and the machine it ran on (a failed or interrupted run writes nothing)."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, captured)):
        yield
    command = ' '.join(['python3 -m', f'benchmarks.{name}', *sys.argv[1:]])
    header = (f"`{command}` on {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
              f"torch {torch.__version__}" + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ''))
    path = os.path.join(DOCS_RESULTS, f"{name}.md")
    os.makedirs(DOCS_RESULTS, exist_ok=True)
    atomic_text(path, f"{header}\n\n```\n{captured.getvalue().rstrip()}\n```\n")
    print(f"written: {path}")
