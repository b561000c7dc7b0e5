import os

import matplotlib
import pytest
import torch

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from arguments import get_args  # noqa: E402
from utils.atomic import atomic_text, atomic_write  # noqa: E402
from utils.experiment_logger import ExperimentLogger, build_logger  # noqa: E402
from utils.local_logger import LocalLogger, experiment_dir  # noqa: E402
from utils.neptune_logger import NeptuneLogger, neptune_credentials  # noqa: E402


def _args(tmp_path, *extra):
    args, _, _ = get_args([f'path_log={tmp_path}', 'project=P', 'name=run1', 'tags=[a,b]', *extra])
    return args


def test_experiment_dir_layout(tmp_path):
    assert experiment_dir('/r', 'P', ['a', 'b'], 'n') == '/r/P/a_b/n'
    assert experiment_dir('/r', 'P', [], 'n') == '/r/P/n'


def test_local_logger_writes_every_kind_of_file(tmp_path, monkeypatch):
    monkeypatch.delenv('NEPTUNE_API_TOKEN', raising=False)
    monkeypatch.delenv('NEPTUNE_PROJECT', raising=False)
    args = _args(tmp_path)
    logger = build_logger(args)
    root = os.path.join(tmp_path, 'P', 'a_b', 'run1')
    assert [type(each) for each in logger.loggers] == [LocalLogger]

    logger.log_parameters({'lr': 1e-6, 'loss_weight': [1, 1]})
    logger.log_metric('train/loss_1', 0.5, step=1)
    logger.log_metric('train/loss_1', 0.25, step=2)
    logger.log_metric('eer_19LA', 1.5)
    figure = plt.figure()
    plt.plot([0, 1])
    logger.log_image('hist/19LA', figure)
    plt.close(figure)
    path = logger.save_model('epoch_3', {'w': torch.arange(3)})
    logger.local.copy_source(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    with open(os.path.join(root, 'parameters.txt')) as handle:
        assert handle.read().splitlines() == ['lr: 1e-06', 'loss_weight: [1, 1]']
    with open(os.path.join(root, 'metrics', 'train_loss_1.txt')) as handle:
        assert handle.read().splitlines() == ['[1] train/loss_1: 0.5', '[2] train/loss_1: 0.25']
    with open(os.path.join(root, 'metrics', 'eer_19LA.txt')) as handle:
        assert handle.read() == 'eer_19LA: 1.5\n'
    with open(os.path.join(root, 'images', 'hist_19LA.png'), 'rb') as handle:
        assert handle.read(8) == b'\x89PNG\r\n\x1a\n'
    assert path == os.path.join(root, 'models', 'epoch_3.pt')
    assert torch.equal(torch.load(path)['w'], torch.arange(3))
    assert not [name for name in os.listdir(os.path.join(root, 'models')) if '.tmp' in name]
    assert os.path.isfile(os.path.join(root, 'scripts', 'arguments.py'))
    assert os.path.isfile(os.path.join(root, 'scripts', 'utils', 'local_logger.py'))
    assert not os.path.exists(os.path.join(root, 'scripts', 'tests'))


def test_credentials_from_arguments_or_environment(monkeypatch):
    monkeypatch.delenv('NEPTUNE_API_TOKEN', raising=False)
    monkeypatch.delenv('NEPTUNE_PROJECT', raising=False)
    assert neptune_credentials('', '', 'P') == (None, None)
    assert neptune_credentials('me', '', 'P') == (None, None)
    assert neptune_credentials('me', 'tok', 'P') == ('me/P', 'tok')
    monkeypatch.setenv('NEPTUNE_API_TOKEN', 'envtok')
    monkeypatch.setenv('NEPTUNE_PROJECT', 'ws/proj')
    assert neptune_credentials('', '', 'P') == ('ws/proj', 'envtok')


def test_neptune_debug_mode_records_parameters_and_metrics():
    logger = NeptuneLogger('me/P', None, 'run1', ['a'], 'desc', mode='debug')
    logger.log_parameters({'lr': 1e-6, 'loss_weight': [1, 1], 'resume': None})
    logger.log_metric('train/loss_1', 0.5, step=1)
    logger.log_metric('train/loss_1', 0.25, step=2)
    run = logger.run
    assert run['parameters/lr'].fetch() == 1e-6
    assert list(run['train/loss_1'].fetch_values()['value']) == [0.5, 0.25]
    assert run['sys/name'].fetch() == 'run1'
    assert run['sys/tags'].fetch() == {'a'}
    logger.close()


def test_failing_neptune_init_falls_back_to_local(tmp_path, capsys):
    args = _args(tmp_path, 'neptune_user=me', 'neptune_token=not-a-real-token')
    logger = build_logger(args)
    assert [type(each) for each in logger.loggers] == [LocalLogger]
    assert 'could not start a run' in capsys.readouterr().err
    logger.log_metric('loss', 1.0, step=0)


def test_neptune_failure_after_start_is_reported_once(capsys):
    class BrokenRun:
        def __getitem__(self, key):
            raise ConnectionError('network down')

    neptune_logger = NeptuneLogger.__new__(NeptuneLogger)
    neptune_logger.run, neptune_logger.enabled = BrokenRun(), True
    front = ExperimentLogger([neptune_logger])
    front.log_metric('loss', 1.0, step=0)
    front.log_metric('loss', 2.0, step=1)
    assert capsys.readouterr().err.count('logging disabled') == 1
    assert neptune_logger.enabled is False


@pytest.mark.parametrize('script', ['docker_build.sh', 'docker_run.sh', '.ci/run'])
def test_shell_scripts_parse(script):
    import subprocess
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(['bash', '-n', os.path.join(repo, script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_dockerfile_torch_matches_requirements():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(repo, 'requirements.txt')) as handle:
        pins = dict(line.strip().split('==') for line in handle if '==' in line)
    with open(os.path.join(repo, 'Dockerfile')) as handle:
        base = next(line for line in handle if line.startswith('FROM'))
    assert f":{pins['torch']}-" in base
    assert pins['torch'] == pins['torchaudio']


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = str(tmp_path / 'sub' / 'table.txt')
    atomic_text(path, 'old\n')
    seen = []

    def failing(temporary):
        seen.append(temporary)
        with open(temporary, 'w') as handle:
            handle.write('half')
        raise OSError('disk full')

    with pytest.raises(OSError, match='disk full'):
        atomic_write(path, failing)
    with open(path) as handle:
        assert handle.read() == 'old\n'
    assert seen[0].endswith('.txt') and not os.path.exists(seen[0])
    assert os.listdir(tmp_path / 'sub') == ['table.txt']
