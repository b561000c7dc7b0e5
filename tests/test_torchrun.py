"""torchrun (issue 26, items 2 and 4): two nodes on this machine (two torchrun commands, the
c10d rendezvous on localhost) train one run into one folder; under --max-restarts 1 a worker
SIGKILLed mid-epoch restarts the group, which resumes from last.pt and ends with the
parameters of the uninterrupted two-node run, each metric step logged once."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import REPO, TINY, metric_steps
from trainer.launch import free_port
from utils.checkpoint_file import load_checkpoint

STEPS_PER_EPOCH = 20      # the demo corpus's 240 spoof rows, 6 per process and step


def _overrides(demo_corpus, log_dir, name):
    paths = [f"{key}={value}" for key, value in demo_corpus.items()]
    return paths + TINY + [f'path_log={log_dir}', f'name={name}', 'path_21LA=None', 'path_21DF=None',
                           'collective_timeout=30', 'eval_from_epoch=2']      # one evaluation, after the restart


def _torchrun(options, overrides):
    environment = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}
    return subprocess.Popen([sys.executable, '-m', 'torch.distributed.run', *options, os.path.join(REPO, 'main.py'),
                             *overrides], cwd=REPO, env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _without_progress_bars(output: str) -> str:
    lines = [line for line in output.replace('\r', '\n').splitlines() if line.strip() and 'it/s' not in line]
    return '\n'.join(lines[-80:])


def _finish(process, timeout=240):
    """The output of a torchrun command that must succeed within `timeout`; past it, the
    agent and its workers are killed (none left to load the rest of the suite) and the
    failure shows what they printed, progress bars left out."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for worker in _workers_of(process.pid):      # each in its own session under torchrun
            os.kill(worker, signal.SIGKILL)
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"torchrun did not finish within {timeout} s:\n{_without_progress_bars(output)}")
    assert process.returncode == 0, _without_progress_bars(output)
    return output


def _workers_of(agent_pid):
    """{pid: environment entries} of the torchrun agent's child processes."""
    workers = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as handle:
                parent = int(handle.read().rsplit(')', 1)[1].split()[1])
            with open(f'/proc/{entry}/environ', 'rb') as handle:
                environment = handle.read().split(b'\0')
        except OSError:
            continue
        if parent == agent_pid:
            workers[int(entry)] = environment
    return workers


def _worker_of_rank(agent_pid, rank):
    """The pid of the worker process with RANK=rank among the torchrun agent's children."""
    return next((pid for pid, environment in _workers_of(agent_pid).items()
                 if f'RANK={rank}'.encode() in environment), None)


def _parameters(run_dir):
    return load_checkpoint(os.path.join(run_dir, 'models', 'last.pt'))['model']


@pytest.mark.slow
def test_two_nodes_train_one_run_and_an_elastic_restart_resumes_it_exactly(demo_corpus, tmp_path):
    port = free_port()
    nodes = ['--nnodes', '2', '--nproc_per_node', '1', '--rdzv_backend', 'c10d', '--rdzv_endpoint',
             f'127.0.0.1:{port}', '--rdzv_id', 'two-nodes']
    runs = [_torchrun(nodes, _overrides(demo_corpus, tmp_path / 'logs', 'nodes')) for _ in range(2)]
    outputs = [_finish(run) for run in runs]
    tags = tmp_path / 'logs' / 'P' / 't'
    assert sorted(os.listdir(tags)) == ['nodes']                     # one run folder, whichever node wrote it
    two_nodes = str(tags / 'nodes')
    assert metric_steps(two_nodes, 'train_loss_1.txt') == list(range(1, 2 * STEPS_PER_EPOCH + 1))
    assert metric_steps(two_nodes, 'eval_19LA_eer.txt') == [2]
    assert sum('selected epoch' in output for output in outputs) == 1     # rank 0 alone reports

    elastic = _torchrun(['--standalone', '--nnodes', '1', '--nproc_per_node', '2', '--max-restarts', '1'],
                        _overrides(demo_corpus, tmp_path / 'logs', 'elastic'))
    losses = tags / 'elastic' / 'metrics' / 'train_loss_1.txt'
    deadline = time.monotonic() + 180
    while not (losses.is_file() and len(losses.read_text().splitlines()) >= STEPS_PER_EPOCH + 5):
        assert elastic.poll() is None and time.monotonic() < deadline, _finish(elastic, timeout=1)
        time.sleep(0.05)
    worker = _worker_of_rank(elastic.pid, 1)
    assert worker is not None
    os.kill(worker, signal.SIGKILL)                                   # mid-epoch 2
    output = _finish(elastic)
    assert 'torchrun restart 1: resume=auto' in output, output
    run_dir = str(tags / 'elastic')
    assert metric_steps(run_dir, 'train_loss_1.txt') == list(range(1, 2 * STEPS_PER_EPOCH + 1))
    assert metric_steps(run_dir, 'eval_19LA_eer.txt') == [2]
    expected, resumed = _parameters(two_nodes), _parameters(run_dir)
    assert all(torch.allclose(expected[name], resumed[name], atol=1e-6) for name in expected)


@pytest.mark.parametrize('restarts, resume, test, expected', [
    ('0', None, False, None), ('1', None, False, 'auto'), ('2', '/x/last.pt', False, '/x/last.pt'),
    ('1', None, True, None)])
def test_a_torchrun_restart_implies_resume_auto_unless_a_resume_or_test_is_given(monkeypatch, restarts, resume,
                                                                                  test, expected):
    from trainer.launch import resume_after_elastic_restart
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', restarts)
    args = {'resume': resume, 'TEST': test, 'lr': 0.001}
    assert resume_after_elastic_restart(args) == {**args, 'resume': expected}


@pytest.mark.slow
def test_a_sigterm_to_one_worker_stops_the_whole_job_cleanly(demo_corpus, tmp_path):
    """The stop is agreed by both workers, which save and exit; neither may hang on the way out
    (freeing a gloo group could deadlock there, and torchrun would wait for ever)."""
    job = _torchrun(['--standalone', '--nnodes', '1', '--nproc_per_node', '2'],
                    _overrides(demo_corpus, tmp_path / 'logs', 'stopped'))
    losses = tmp_path / 'logs' / 'P' / 't' / 'stopped' / 'metrics' / 'train_loss_1.txt'
    deadline = time.monotonic() + 180
    while not (losses.is_file() and len(losses.read_text().splitlines()) >= 5):
        assert job.poll() is None and time.monotonic() < deadline, _finish(job, timeout=1)
        time.sleep(0.05)
    os.kill(_worker_of_rank(job.pid, 0), signal.SIGTERM)
    output = _finish(job, timeout=90)
    assert 'stopped in epoch 1 after step' in output, _without_progress_bars(output)
    state = load_checkpoint(str(tmp_path / 'logs' / 'P' / 't' / 'stopped' / 'models' / 'last.pt'))
    assert state['epoch'] == 0 and 5 <= state['step_in_epoch'] < STEPS_PER_EPOCH
