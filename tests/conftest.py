import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests.helpers import tiny_args  # noqa: E402


@pytest.fixture(scope='session')
def demo_corpus(tmp_path_factory):
    """The generated demo corpus, written once per test session: {'path_19LA': ..., ...}."""
    from recipes.demo.corpus import make_demo_corpus
    return make_demo_corpus(str(tmp_path_factory.mktemp('demo')), seed=0, workers=2)


@pytest.fixture(scope='session')
def tiny_run(demo_corpus, tmp_path_factory):
    """One trained epoch with 19LA and 21LA evaluation; returns its run folder."""
    from trainer.trainer import Trainer
    log_dir = tmp_path_factory.mktemp('tiny_run')
    trainer = Trainer(tiny_args(demo_corpus, log_dir, 'name=tiny', 'epoch=1', 'path_21DF=None'))
    trainer.run()
    return trainer.run_dir
