"""Where a run writes: the training run's folder, or a fresh folder of its own for an
evaluation-only (TEST) run, so that evaluating never touches a training run's files."""
import os
import tempfile
from typing import Sequence

from utils.config import ConfigError
from utils.local_logger import experiment_dir


def training_run_dir(args: dict) -> str:
    """path_log/project/<tags>/name."""
    return experiment_dir(args['path_log'], args['project'], args['tags'], args['name'])


def holds_a_run(folder: str) -> bool:
    """A training run has written here: a checkpoint, or metric lines (a run stopped before
    its first checkpoint still has them)."""
    metrics = os.path.join(folder, 'metrics')
    return (os.path.isfile(os.path.join(folder, 'models', 'last.pt'))
            or (os.path.isdir(metrics) and bool(os.listdir(metrics))))


def set_aside_unfinished_run(folder: str, keep: Sequence[str] = ()) -> str:
    """Move what a run stopped before its first checkpoint left in `folder` (metric lines,
    parameters, figures) into folder/interrupted_<N>/, so that a fresh start never appends to
    it; `keep` names entries that stay (the run's lock). Returns the folder they went to."""
    number = 1
    while os.path.exists(os.path.join(folder, f'interrupted_{number}')):
        number += 1
    target = os.path.join(folder, f'interrupted_{number}')
    os.makedirs(target)
    for name in sorted(os.listdir(folder)):
        if name not in keep and not name.startswith('interrupted_'):
            os.replace(os.path.join(folder, name), os.path.join(target, name))
    return target


def first_free_name(args: dict) -> str:
    """args['name'] when its folder holds no run, else the first of name_2, name_3, ... that
    holds none (the demo's numbering of repeated runs)."""
    name, number = args['name'], 1
    while holds_a_run(training_run_dir(dict(args, name=name))):
        number += 1
        name = f"{args['name']}_{number}"
    return name


def evaluation_run_name(checkpoint: str) -> str:
    """'test_<run>_<stem>' for <run>/models/<stem>.pt, else 'test_<stem>' (for a release
    folder, 'test_<folder>')."""
    stem = os.path.splitext(os.path.basename(os.path.normpath(checkpoint)))[0]
    folder = os.path.dirname(os.path.abspath(checkpoint))
    if os.path.basename(folder) == 'models':
        return f"test_{os.path.basename(os.path.dirname(folder))}_{stem}"
    return f"test_{stem}"


def evaluation_run_dir(args: dict) -> str:
    """path_log/project/<tags>/test_<run>_<stem>, or with _2, _3, ... when that folder
    already holds files: an evaluation never writes over an earlier one."""
    base = experiment_dir(args['path_log'], args['project'], args['tags'],
                          evaluation_run_name(args['checkpoint']))
    candidate, number = base, 1
    while os.path.isdir(candidate) and os.listdir(candidate):
        number += 1
        candidate = f"{base}_{number}"
    return candidate


def run_dir(args: dict) -> str:
    return evaluation_run_dir(args) if args['TEST'] else training_run_dir(args)


def check_writable(folder: str, path_log: str) -> None:
    """That the run folder can be created and written (a probe file); the folders made for
    the probe are removed again, so a failed pre-flight leaves nothing behind. ConfigError
    naming path_log when it fails (path_log is a file, under /proc, on a read-only mount,
    not permitted)."""
    missing = []
    parent = os.path.abspath(folder)
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        missing.append(parent)
        parent = os.path.dirname(parent)
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix='.write_check_'):
            pass
    except OSError as error:
        raise ConfigError(f"path_log={path_log!r}: the run folder {folder} cannot be created or written "
                          f"({error.strerror or error}); path_log must be a folder this process can write") from None
    finally:
        for made in missing:                # deepest first
            if os.path.isdir(made):
                os.rmdir(made)
