"""The packages know only what the architecture allows: data, augment, models and losses
nothing of each other beyond tensors; utils nothing of the method at all."""
import ast
import os

import pytest

from tests.helpers import REPO
from tests.helpers import python_files_outside_tests as _python_files_outside_tests

PACKAGES = ('augment', 'data', 'evaluation', 'losses', 'models', 'recipes', 'tools', 'trainer', 'utils',
            'vocoder')
ALLOWED = {
    'utils': {'utils'},
    'recipes': {'recipes', 'data', 'augment', 'vocoder', 'models', 'evaluation', 'utils'},
    'augment': {'augment'},
    'losses': {'losses', 'utils'},
    'models': {'models', 'utils'},
    'data': {'data', 'utils'},
    'evaluation': {'evaluation', 'data', 'utils'},
    'vocoder': {'vocoder', 'data', 'models', 'utils'},
}


def _imported_packages(package):
    found = {}
    root = os.path.join(REPO, package)
    files = sorted(os.path.relpath(os.path.join(folder, name), root) for folder, _, names in os.walk(root)
                   for name in names if name.endswith('.py'))
    for name in files:
        with open(os.path.join(root, name), encoding='utf-8') as handle:
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


def _calls(path, name):
    with open(os.path.join(REPO, path), encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and
            (getattr(node.func, 'id', None) == name or getattr(node.func, 'attr', None) == name)]


def test_only_the_evaluator_writes_reports_and_cards():
    """Evaluation, reports, selection and the results card live behind evaluation/evaluator.py."""
    writers = {os.path.relpath(path, REPO) for path in _python_files_outside_tests()
               for name in ('report_set', 'write_card') if _calls(path, name)}
    assert writers == {'evaluation/evaluator.py'}, writers


def test_the_trainer_names_no_dataset():
    """Datasets come from data/sets.py; neither the training loop nor the evaluator branches on one."""
    for path in ('trainer/trainer.py', 'trainer/launch.py', 'trainer/run.py', 'trainer/build.py',
                 'evaluation/evaluator.py', 'evaluation/report.py'):
        with open(os.path.join(REPO, path), encoding='utf-8') as handle:
            constants = [node.value for node in ast.walk(ast.parse(handle.read())) if isinstance(node, ast.Constant)]
        assert not {'19LA', '19LA_dev', '21LA', '21DF', 'ITW', 'ASV5', 'ASV5dev', 'ASV5eval'} & set(constants), path


def test_main_catches_what_users_can_act_on_in_two_classes():
    with open(os.path.join(REPO, 'main.py'), encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    caught = {ast.unparse(handler.type) for node in ast.walk(tree) if isinstance(node, ast.Try)
              for handler in node.handlers}
    assert caught == {'BadInput', 'RunFailed', 'KeyboardInterrupt'}, caught


def test_the_command_line_tools_score_through_the_inference_api():
    """tools.infer, tools.serve and tools.export build no detector of their own."""
    for path in ('tools/infer.py', 'tools/serve.py', 'tools/export.py'):
        with open(os.path.join(REPO, path), encoding='utf-8') as handle:
            source = handle.read()
        assert 'from inference import' in source, path
        assert 'build_detector' not in source and 'load_checkpoint(' not in source, path


def test_checkpoints_are_averaged_behind_the_evaluator():
    """average_last's averaging reads and averages behind evaluation/evaluator.py; the trainer only
    puts the weights it is given into its model."""
    callers = {os.path.relpath(path, REPO) for path in _python_files_outside_tests()
               for name in ('average_checkpoints', 'last_evaluated_checkpoints') if _calls(path, name)}
    assert callers == {'evaluation/evaluator.py', 'tools/average_checkpoints.py'}, callers


def test_the_loop_hands_the_step_no_settings():
    """The two-step update is bound to its settings once (trainer/build.py); the loop reads none."""
    import inspect
    from trainer.ebm_step import TwoStepUpdate
    settings = set(inspect.signature(TwoStepUpdate).parameters) - {'model', 'optimizer', 'objective', 'batch_augment'}
    with open(os.path.join(REPO, 'trainer', 'trainer.py'), encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    read = {node.slice.value for node in ast.walk(tree) if isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)}
    assert settings and not settings & read, settings & read
