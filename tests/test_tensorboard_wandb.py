"""TensorBoard and W&B loggers (issue 23, item 1): behind the same interface as the local and
Neptune loggers, their values read back equal metrics/*.txt, a resume does not draw replayed
steps twice, and a logger that cannot start or send is reported once while the run goes on."""
import os

import matplotlib
import pytest

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from arguments import get_args  # noqa: E402
from tests.helpers import local_metrics, tensorboard_scalars  # noqa: E402
from trainer.launch import free_port  # noqa: E402
from utils.experiment_logger import build_logger  # noqa: E402
from utils.local_logger import LocalLogger  # noqa: E402
from utils.tensorboard_logger import TensorBoardLogger  # noqa: E402


def _args(tmp_path, *extra):
    return get_args([f'path_log={tmp_path}', 'project=P', 'name=run', 'tags=[t]', *extra])[0]


def test_tensorboard_holds_the_local_values_and_a_resume_replaces_the_replayed_steps(tmp_path):
    args = _args(tmp_path, 'tensorboard=True')
    first = build_logger(args)
    assert [type(each) for each in first.loggers] == [LocalLogger, TensorBoardLogger]
    first.log_parameters(args)
    for step in range(1, 6):
        first.log_metric('train/loss_1', 10.0 - step, step)
    first.log_metric('eval/19LA/eer', 0.25, 1)
    figure = plt.figure()
    plt.plot([0, 1])
    first.log_image('19LA_det_epoch1', figure)
    plt.close(figure)
    first.close()                           # killed after step 5; its checkpoint holds step 3

    resumed = build_logger(args)
    resumed.truncate_metrics(lambda name: 3 if name.startswith('train') else 1)
    for step in (4, 5, 6):
        resumed.log_metric('train/loss_1', 100.0 + step, step)
    resumed.close()
    run_dir = os.path.join(tmp_path, 'P', 't', 'run')
    expected = [(1, 9.0), (2, 8.0), (3, 7.0), (4, 104.0), (5, 105.0), (6, 106.0)]
    assert local_metrics(run_dir)['train/loss_1'] == expected
    assert tensorboard_scalars(run_dir) == local_metrics(run_dir)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(os.path.join(run_dir, 'tensorboard'))
    events.Reload()
    assert events.Tags()['images'] == ['19LA_det_epoch1']                 # kept through the rewrite
    image = events.Images('19LA_det_epoch1')[0].encoded_image_string
    assert image.startswith(b'\x89PNG')


def test_a_tensorboard_logger_that_cannot_write_is_reported_once_and_the_local_one_goes_on(tmp_path, capsys):
    args = _args(tmp_path, 'tensorboard=True')
    run_dir = os.path.join(tmp_path, 'P', 't', 'run')
    os.makedirs(run_dir)
    open(os.path.join(run_dir, 'tensorboard'), 'w').close()      # a file where its folder would go
    logger = build_logger(args)
    for step in (1, 2, 3):
        logger.log_metric('train/loss_1', float(step), step)
    logger.close()
    assert capsys.readouterr().err.count('[tensorboard] logging disabled after an error') == 1
    assert local_metrics(run_dir)['train/loss_1'] == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_an_unreachable_wandb_server_is_reported_and_the_run_goes_on_without_it(tmp_path, monkeypatch, capsys):
    key = 'k' * 40
    monkeypatch.setenv('WANDB_API_KEY', key)
    monkeypatch.setenv('WANDB_BASE_URL', f'http://127.0.0.1:{free_port()}')     # nothing listens there
    for variable in ('WANDB_DIR', 'WANDB_CONFIG_DIR', 'WANDB_CACHE_DIR', 'WANDB_DATA_DIR'):
        monkeypatch.setenv(variable, str(tmp_path / 'wandb_home'))
    logger = build_logger(_args(tmp_path, 'wandb_project=ebm', 'wandb_mode=online', 'wandb_timeout=3'))
    assert [type(each) for each in logger.loggers] == [LocalLogger]
    logger.log_metric('train/loss_1', 1.0, 1)
    logger.close()
    output = capsys.readouterr()
    assert "[wandb] could not start a run for 'ebm'" in output.err and 'continuing with the local logger' in output.err
    assert key not in output.out + output.err


def test_a_wandb_run_is_off_without_a_project_or_when_disabled(tmp_path):
    for extra in ((), ('wandb_project=ebm', 'wandb_mode=disabled')):
        assert [type(each) for each in build_logger(_args(tmp_path, *extra)).loggers] == [LocalLogger]


@pytest.mark.parametrize('value', ['on', 'sometimes'])
def test_the_wandb_mode_is_checked_before_anything_starts(value):
    from utils.config import ConfigError
    with pytest.raises(ConfigError, match='wandb_mode'):
        get_args([f'wandb_mode={value}'])
