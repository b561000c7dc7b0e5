import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

SHARED = os.path.join(os.path.dirname(REPO), 'shared')
REFERENCE = os.path.join(SHARED, 'reference')
FIXTURES = os.path.join(REPO, 'tests', 'fixtures')


def reference_path(*parts: str) -> str:
    """A path under ../shared/reference; the calling test is skipped when it is absent."""
    path = os.path.join(REFERENCE, *parts)
    if not os.path.exists(path):
        pytest.skip(f"needs {path} (the shared reference data beside the checkout), absent here")
    return path


@pytest.fixture(scope='session')
def demo_corpus(tmp_path_factory):
    """The generated demo corpus, written once per test session: {'path_19LA': ..., ...}."""
    from data.demo_corpus import make_demo_corpus
    return make_demo_corpus(str(tmp_path_factory.mktemp('demo')), seed=0, workers=2)
