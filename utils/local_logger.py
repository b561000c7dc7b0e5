"""Local experiment logger: everything a run produces, as plain files.

Layout under `path_log/project/<tags joined by '_'>/name/`:
    parameters.txt          one `key: value` line per parameter (parameters_2.txt, ... per resume)
    metrics/<name>.txt      one `[step] name: value` line per call
    images/<name>.png       figures
    models/<name>.pt        state dicts (written atomically)
    scripts/                a copy of the source files of the run
Each write opens, appends and closes its file, so a crash loses nothing already logged.
"""
import os
import re
import shutil
import subprocess
from typing import Callable, Iterable, List, Optional, Sequence

from utils.atomic import atomic_text, atomic_torch_save
from utils.run_logger import RunLogger
from utils.secrets import redact_text


def experiment_dir(path_log: str, project: str, tags: Iterable[str], name: str) -> str:
    """The folder of one run: path_log/project/<tags>/name (no tag level when there are no tags)."""
    tag_level = '_'.join(str(tag) for tag in tags)
    parts = [path_log, project] + ([tag_level] if tag_level else []) + [name]
    return os.path.join(*parts)


def _file_name(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9_.=-]+', '_', name).strip('_') or 'unnamed'


def _past(line: str, last_step: Callable[[str], int]) -> bool:
    """True for a '[step] name: value' line whose step is beyond last_step(name)."""
    match = re.match(r'\[(\d+)\] (.+?): ', line)
    return bool(match) and int(match.group(1)) > last_step(match.group(2))


SOURCE_SUFFIXES = ('.py', '.md', '.sh')
SOURCE_FILES = ('requirements.txt', 'Dockerfile', 'pytest.ini')


class LocalLogger(RunLogger):
    def __init__(self, root: str):
        self.root = root
        for sub in ('metrics', 'images', 'models'):
            os.makedirs(os.path.join(root, sub), exist_ok=True)

    def _append(self, path: str, line: str) -> None:
        with open(path, 'a', encoding='utf-8') as handle:
            handle.write(line + '\n')

    def log_parameters(self, params: dict) -> None:
        """parameters.txt; each resumed segment of the run writes parameters_2.txt, _3, ...
        beside it, so that no segment's configuration is overwritten."""
        path, segment = os.path.join(self.root, 'parameters.txt'), 1
        while os.path.exists(path):
            segment += 1
            path = os.path.join(self.root, f'parameters_{segment}.txt')
        with open(path, 'w', encoding='utf-8') as handle:
            for key, value in params.items():
                handle.write(f"{key}: {value!r}\n")

    def log_metric(self, name: str, value: float, step: Optional[int] = None) -> None:
        prefix = f"[{step}] " if step is not None else ''
        self._append(os.path.join(self.root, 'metrics', _file_name(name) + '.txt'), f"{prefix}{name}: {value}")

    def truncate_metrics(self, last_step: Callable[[str], int]) -> None:
        """Drop every `[step] name: value` line whose step exceeds last_step(name): after a
        resume the steps past the checkpoint are logged again and must not appear twice."""
        folder = os.path.join(self.root, 'metrics')
        for file in sorted(os.listdir(folder)):
            path = os.path.join(folder, file)
            with open(path, encoding='utf-8') as handle:
                lines = handle.read().splitlines()
            kept = [line for line in lines if not _past(line, last_step)]
            if len(kept) < len(lines):
                atomic_text(path, ''.join(line + '\n' for line in kept))

    def log_image(self, name: str, figure) -> None:
        """Save a matplotlib figure as images/<name>.png (the figures lay themselves out with
        tight_layout; a second tight bounding box at save time would only cost time)."""
        figure.savefig(os.path.join(self.root, 'images', _file_name(name) + '.png'), dpi=100)

    def save_model(self, name: str, state_dict: dict) -> str:
        path = os.path.join(self.root, 'models', _file_name(name) + '.pt')
        atomic_torch_save(state_dict, path)
        return path

    def copy_source(self, source_root: str, secrets: Sequence[str] = ()) -> None:
        """Copy the repository's source files (see `source_files`) into scripts/, with every
        string of `secrets` (a token typed into arguments.py, say) replaced by '<redacted>'."""
        target = os.path.join(self.root, 'scripts')
        for relative in source_files(source_root, exclude=self.root):
            destination = os.path.join(target, relative)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            shutil.copy2(os.path.join(source_root, relative), destination)
            if secrets:
                with open(destination, encoding='utf-8', errors='surrogateescape') as handle:
                    text = handle.read()
                redacted = redact_text(text, list(secrets))
                if redacted != text:
                    with open(destination, 'w', encoding='utf-8', errors='surrogateescape') as handle:
                        handle.write(redacted)


def _tracked_files(source_root: str) -> Optional[List[str]]:
    """The files git tracks under `source_root`, or None when it is not a checkout (or
    git is not installed)."""
    try:
        listing = subprocess.run(['git', '-C', source_root, 'ls-files', '-z'], capture_output=True, check=True,
                                 timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [name for name in listing.decode('utf-8', 'replace').split('\0') if name]


def _walked_files(source_root: str, exclude: str) -> List[str]:
    """Every file under `source_root`, outside hidden folders and run folders (any folder
    holding a parameters.txt) and outside `exclude`."""
    files = []
    for folder, subfolders, names in os.walk(source_root):
        subfolders[:] = [s for s in subfolders if not s.startswith('.')
                         and not os.path.abspath(os.path.join(folder, s)).startswith(exclude)
                         and not os.path.isfile(os.path.join(folder, s, 'parameters.txt'))]
        files += [os.path.relpath(os.path.join(folder, name), source_root) for name in names]
    return files


def source_files(source_root: str, exclude: str = '') -> List[str]:
    """Relative paths of the source of a run: the files git tracks when `source_root` is
    a checkout (else every file outside hidden and run folders), keeping only .py, .md,
    .sh, requirements.txt, Dockerfile and pytest.ini, and nothing under tests/. So no
    output of another run (score files, metrics, parameters with secrets) and no
    untracked scratch file is copied."""
    exclude = os.path.abspath(exclude) if exclude else '\0'
    files = _tracked_files(source_root)
    if files is None:
        files = _walked_files(source_root, exclude)
    return sorted(name for name in files
                  if (name.endswith(SOURCE_SUFFIXES) or os.path.basename(name) in SOURCE_FILES)
                  and name.split('/')[0] != 'tests' and os.path.isfile(os.path.join(source_root, name)))
