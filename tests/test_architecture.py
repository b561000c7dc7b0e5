"""The packages know only what the architecture allows: data, augment, models and losses
nothing of each other beyond tensors; utils nothing of the method at all."""
import ast
import os

import pytest

from tests.helpers import REPO

PACKAGES = ('augment', 'data', 'demo', 'evaluation', 'losses', 'models', 'tools', 'trainer', 'utils', 'vocoder')
ALLOWED = {
    'utils': {'utils'},
    'augment': {'augment'},
    'losses': {'losses'},
    'models': {'models', 'utils'},
    'data': {'data', 'utils'},
    'evaluation': {'evaluation', 'data', 'utils'},
    'vocoder': {'vocoder', 'data', 'models', 'utils'},
    'demo': {'demo', 'data', 'augment', 'vocoder', 'utils'},
}


def _imported_packages(package):
    found = {}
    folder = os.path.join(REPO, package)
    for name in sorted(os.listdir(folder)):
        if not name.endswith('.py'):
            continue
        with open(os.path.join(folder, name), encoding='utf-8') as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for module in modules:
                top = module.split('.')[0]
                if top in PACKAGES:
                    found.setdefault(top, []).append(name)
    return found


@pytest.mark.parametrize('package', sorted(ALLOWED))
def test_package_imports_only_what_it_may(package):
    found = _imported_packages(package)
    assert {top: files for top, files in found.items() if top not in ALLOWED[package]} == {}
