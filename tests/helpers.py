"""Shared test helpers: paths to the fixtures and reference data, the tiny configuration."""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), 'shared')
REFERENCE = os.path.join(SHARED, 'reference')
FIXTURES = os.path.join(REPO, 'tests', 'fixtures')


def reference_path(*parts: str) -> str:
    """A path under ../shared/reference; the calling test is skipped when it is absent."""
    path = os.path.join(REFERENCE, *parts)
    if not os.path.exists(path):
        pytest.skip(f"needs {path} (the shared reference data beside the checkout), absent here")
    return path


TINY = ['output_size=32', 'linear_units=64', 'embedding_size=16', 'num_train_frames=54',
        'num_train_frames_short=44', 'num_test_frames=54', 'batch_size=16', 'ratio_bona=0.25', 'ratio_spoof=0.75',
        'epoch=2', 'eval_from_epoch=1', 'eval_every=1', 'lr=0.001', 'T_0=2', 'num_workers=0',
        'use_vocoder_copies=False', 'project=P', 'tags=[t]']


def tiny_args(demo_corpus, log_dir, *extra):
    """A small, fast configuration over the demo corpus (a few seconds per epoch on CPU)."""
    from arguments import get_args
    paths = [f"{key}={value}" for key, value in demo_corpus.items()]
    return get_args(paths + TINY + [f'path_log={log_dir}'] + list(extra))[0]


def metric_steps(run_dir, name):
    with open(os.path.join(run_dir, 'metrics', name)) as handle:
        return [int(line.split(']')[0][1:]) for line in handle.read().splitlines()]
