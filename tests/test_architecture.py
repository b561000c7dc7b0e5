"""The packages know only what the architecture allows: data, augment, models and losses
nothing of each other beyond tensors; utils nothing of the method at all."""
import ast
import os

import pytest

from tests.helpers import REPO

PACKAGES = ('augment', 'data', 'demo', 'evaluation', 'losses', 'models', 'recipes', 'tools', 'trainer', 'utils',
            'vocoder')
ALLOWED = {
    'utils': {'utils'},
    'recipes': {'recipes'},
    'augment': {'augment'},
    'losses': {'losses', 'utils'},
    'models': {'models', 'utils'},
    'data': {'data', 'utils'},
    'evaluation': {'evaluation', 'data', 'utils'},
    'vocoder': {'vocoder', 'data', 'models', 'utils'},
    'demo': {'demo', 'data', 'augment', 'vocoder', 'models', 'utils'},
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


def _python_files_outside_tests():
    for folder, _, names in os.walk(REPO):
        relative = os.path.relpath(folder, REPO)
        if relative.split(os.sep)[0] in ('tests', 'results', '.git', '.cache') or '/.' in folder:
            continue
        yield from (os.path.join(folder, name) for name in sorted(names) if name.endswith('.py'))


def _branches_on_a_backbone(tree, names):
    """Comparisons with a backbone's name, `backbone=<name>`, or `args['backbone']`."""
    def names_one(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value in names or node.value.startswith('backbone=')
        return isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and \
            node.slice.value == 'backbone'
    return sorted(node.lineno for node in ast.walk(tree) if isinstance(node, ast.Compare)
                  and any(names_one(side) for side in [node.left, *node.comparators]))


def test_no_module_outside_the_registry_branches_on_a_backbone():
    """Everything that depends on the backbone reads models/registry.py: nowhere does code
    compare the `backbone` key or a backbone's name (`if backbone == 'ssl_bridge'`)."""
    from models.registry import BACKBONES
    found = {}
    for path in _python_files_outside_tests():
        with open(path, encoding='utf-8') as handle:
            lines = _branches_on_a_backbone(ast.parse(handle.read()), set(BACKBONES))
        if lines:
            found[os.path.relpath(path, REPO)] = lines
    assert found == {}


def test_the_branch_finder_finds_what_the_registry_replaced():
    code = ("if args['backbone'] == 'ssl_bridge':\n    pass\n"
            "heads = 5 if name == 'hm_conformer' else 1\n"
            "extra = 'backbone=ssl_bridge' in overrides\n")
    assert _branches_on_a_backbone(ast.parse(code), {'hm_conformer', 'ssl_bridge'}) == [1, 3, 4]
