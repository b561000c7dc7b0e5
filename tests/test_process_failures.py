"""One failing process stops the group within a bound (issue 26, item 3): an exception, a
hang or a SIGKILL on rank 1 of two gloo processes; rank 0 names it once and exits, the last
checkpoint as it was."""
import os
import signal
import time

import pytest

from tests.helpers import tiny_args
from trainer import launch
from utils.checkpoint_file import load_checkpoint

STEPS_PER_EPOCH = 20      # the demo corpus's 240 spoof rows, 6 per process and step


def _faulty_worker(rank, world_size, args, port, trials, fault, at_step):
    """run_worker, with `fault` happening on rank 1 when it starts step `at_step`."""
    import trainer.ebm_step as module
    real_step, calls = module.TwoStepUpdate.__call__, [0]

    def step(*arguments, **options):
        calls[0] += 1
        if rank == 1 and calls[0] == at_step:
            if fault == 'raise':
                raise ValueError('an injected fault')
            if fault == 'hang':
                time.sleep(600)
            if fault == 'kill':
                os.kill(os.getpid(), signal.SIGKILL)
        return real_step(*arguments, **options)

    module.TwoStepUpdate.__call__ = step
    launch.run_worker(rank, world_size, args, port, trials)


@pytest.mark.slow
@pytest.mark.parametrize('fault, named', [
    ('raise', 'rank 1 stopped (its heartbeat stopped'),
    ('hang', 'rank 1 is alive but did not answer'),
    ('kill', 'rank 1 stopped (its heartbeat stopped')])
def test_a_failing_process_stops_the_group_and_is_named_once(fault, named, demo_corpus, tmp_path, capfd,
                                                             monkeypatch):
    monkeypatch.setattr(launch, 'STOP_GRACE_SECONDS', 6)   # more than the board's 3 s watch
    args = tiny_args(demo_corpus, tmp_path / 'logs', 'name=fault', 'world_size=2', 'collective_timeout=5',
                     'eval_from_epoch=2')
    trials = launch.preflight(args).trials
    started = time.monotonic()
    with pytest.raises(launch.ProcessFailed, match='process 1|process 0'):
        launch.spawn(_faulty_worker, 2, (2, args, launch.free_port(), trials, fault, STEPS_PER_EPOCH + 5))
    elapsed = time.monotonic() - started
    error = capfd.readouterr().err
    assert error.count('a collective operation') == 1, error
    assert named in error and 'in step 25 (epoch 2)' in error and 'resume=auto continues from it' in error, error
    last = tmp_path / 'logs' / 'P' / 't' / 'fault' / 'models' / 'last.pt'
    assert load_checkpoint(str(last))['epoch'] == 1
    assert elapsed < 60, elapsed
