"""Secrets, evaluation-only runs, the run-folder lock, save-before-evaluate, resumed
metric files and runs that would never evaluate (what must not lose data or leak)."""
import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.helpers import REPO, metric_steps, tiny_args
from trainer.trainer import Trainer, should_evaluate
from utils.checkpoint_file import load_checkpoint
from utils.experiment_logger import ExperimentLogger
from utils.local_logger import LocalLogger
from utils.run_lock import RunFolderInUse, RunLock

TOKEN = 'eyJTOKEN-do-not-leak-4f1c9a'
WANDB_KEY = 'wandbkey0do0not0leak0' + '9' * 20         # W&B keys are 40 characters
ONE_SET = ['path_21LA=None', 'path_21DF=None']


def _files_containing(root, needle: bytes):
    hits = []
    for folder, _, files in os.walk(root):
        for file in files:
            with open(os.path.join(folder, file), 'rb') as handle:
                if needle in handle.read():
                    hits.append(os.path.join(folder, file))
    return hits


def _snapshot(root):
    digests = {}
    for folder, _, files in os.walk(root):
        for file in files:
            path = os.path.join(folder, file)
            with open(path, 'rb') as handle:
                digests[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return digests


@pytest.mark.slow
def test_no_secret_is_written_anywhere_with_every_logger_on(demo_corpus, tmp_path, monkeypatch, capsys):
    """A Neptune token typed as a key (and on the command line, which W&B records) and a W&B key
    in the environment, TensorBoard and an offline W&B run on: neither secret is in any file of
    the run (W&B's and TensorBoard's included), in the checkpoint or in what was printed;
    TensorBoard holds the values of metrics/*.txt."""
    from tests.helpers import local_metrics, tensorboard_scalars
    monkeypatch.setattr(sys, 'argv', ['main.py', f'neptune_token={TOKEN}', 'wandb_project=ebm'])
    monkeypatch.delenv('NEPTUNE_PROJECT', raising=False)
    monkeypatch.delenv('NEPTUNE_API_TOKEN', raising=False)
    monkeypatch.setenv('WANDB_API_KEY', WANDB_KEY)
    for variable in ('WANDB_CONFIG_DIR', 'WANDB_CACHE_DIR', 'WANDB_DATA_DIR'):
        monkeypatch.setenv(variable, str(tmp_path / 'wandb_home'))    # scanned below with the run
    trainer = Trainer(tiny_args(demo_corpus, tmp_path, 'name=secret', 'epoch=1', f'neptune_token={TOKEN}',
                                'tensorboard=True', 'wandb_project=ebm', 'wandb_mode=offline', *ONE_SET))
    trainer.run()
    assert os.path.isfile(os.path.join(trainer.run_dir, 'models', 'last.pt'))
    assert os.path.isfile(os.path.join(trainer.run_dir, 'models', 'epoch_1.pt'))
    for secret in (TOKEN, WANDB_KEY):
        assert _files_containing(tmp_path, secret.encode()) == []
    printed = ''.join(capsys.readouterr())
    assert TOKEN not in printed and WANDB_KEY not in printed and 'could not start' not in printed
    assert load_checkpoint(os.path.join(trainer.run_dir, 'models', 'last.pt'))['args']['neptune_token'] == '<redacted>'
    with open(os.path.join(trainer.run_dir, 'parameters.txt')) as handle:
        assert "neptune_token: '<redacted>'" in handle.read().splitlines()

    local, board = local_metrics(trainer.run_dir), tensorboard_scalars(trainer.run_dir)
    assert set(board) == set(local) and 'train/loss_1' in local and 'eval/19LA/eer' in local
    for name, values in local.items():
        assert [step for step, _ in board[name]] == [step for step, _ in values], name
        assert [value for _, value in board[name]] == pytest.approx([value for _, value in values], rel=1e-6), name
    offline = glob.glob(os.path.join(trainer.run_dir, 'wandb', 'offline-run-*', 'run-*.wandb'))
    assert len(offline) == 1
    with open(offline[0], 'rb') as handle:
        recorded = handle.read()
    assert b'train/loss_1' in recorded and b'eval/19LA/eer' in recorded and b'num_train_frames' in recorded


def test_parameters_reach_every_logger_redacted():
    received = []

    class Recorder:
        def log_parameters(self, params):
            received.append(params)

    args = {'lr': 1e-6, 'neptune_token': TOKEN, 'neptune_user': 'me'}
    ExperimentLogger([Recorder(), Recorder()]).log_parameters(args)
    assert received == [{'lr': 1e-6, 'neptune_token': '<redacted>', 'neptune_user': 'me'}] * 2
    assert args['neptune_token'] == TOKEN  # the caller's dict is untouched


def test_source_copy_skips_other_runs(tmp_path):
    source = tmp_path / 'repo'
    (source / 'models').mkdir(parents=True)
    (source / 'models' / 'net.py').write_text('x = 1\n')
    (source / 'requirements.txt').write_text('torch\n')
    for run in (source / 'results' / 'EBM' / 'old', source / 'elsewhere' / 'run'):
        run.mkdir(parents=True)
        (run / 'parameters.txt').write_text(f"neptune_token: '{TOKEN}'\n")
        (run / 'notes.md').write_text(TOKEN)
    logger = LocalLogger(str(tmp_path / 'new_run'))
    logger.copy_source(str(source))
    scripts = tmp_path / 'new_run' / 'scripts'
    assert (scripts / 'models' / 'net.py').is_file() and (scripts / 'requirements.txt').is_file()
    assert _files_containing(scripts, TOKEN.encode()) == []


@pytest.mark.skipif(shutil.which('git') is None, reason='needs git')
def test_source_copy_of_a_checkout_takes_the_tracked_files_only(tmp_path):
    source = tmp_path / 'repo'
    (source / 'models').mkdir(parents=True)
    (source / 'models' / 'net.py').write_text('x = 1\n')
    (source / 'README.md').write_text('# r\n')
    (source / 'tests').mkdir()
    (source / 'tests' / 'test_net.py').write_text('def test(): pass\n')
    subprocess.run(['git', 'init', '-q', str(source)], check=True)
    subprocess.run(['git', '-C', str(source), 'add', '.'], check=True)
    (source / 'scratch.py').write_text(f"token = '{TOKEN}'\n")           # untracked
    (source / 'results').mkdir()
    (source / 'results' / 'scores.txt').write_text('LA_E_1 0.5\n')      # untracked output
    (source / 'results' / 'notes.md').write_text(TOKEN)
    LocalLogger(str(tmp_path / 'new_run')).copy_source(str(source))
    copied = sorted(str(p.relative_to(tmp_path / 'new_run' / 'scripts'))
                    for p in (tmp_path / 'new_run' / 'scripts').rglob('*') if p.is_file())
    assert copied == ['README.md', 'models/net.py']


@pytest.mark.slow
def test_test_mode_leaves_the_training_run_untouched(demo_corpus, tiny_run):
    log_dir = os.path.dirname(os.path.dirname(os.path.dirname(tiny_run)))
    before = _snapshot(tiny_run)
    checkpoint = os.path.join(tiny_run, 'models', 'epoch_1.pt')
    folders = []
    for _ in range(2):
        tester = Trainer(tiny_args(demo_corpus, log_dir, 'name=tiny', 'TEST=True', f'checkpoint={checkpoint}',
                                   'path_21DF=None'))
        tester.run()
        folders.append(tester.run_dir)
    assert _snapshot(tiny_run) == before
    parent = os.path.dirname(tiny_run)
    assert folders == [os.path.join(parent, 'test_tiny_epoch_1'), os.path.join(parent, 'test_tiny_epoch_1_2')]
    first = _snapshot(folders[0])
    # its only model file: the evaluated model with the threshold of its own development scores
    assert 'scores/19LA_epoch1.txt' in first and [n for n in first if n.startswith('models/')] == ['models/selected.pt']
    assert 'results.json' in first


def _holder_process(run_dir):
    code = (f"import sys, time; sys.path.insert(0, {REPO!r}); from utils.run_lock import RunLock; "
            f"RunLock({run_dir!r}).acquire(); print('held', flush=True); time.sleep(60)")
    process = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == 'held'
    return process


def test_a_second_process_on_a_run_folder_is_refused(tmp_path):
    run_dir = str(tmp_path / 'run')
    holder = _holder_process(run_dir)
    try:
        with pytest.raises(RunFolderInUse, match=rf'in use by process {holder.pid}.*run.lock'):
            RunLock(run_dir).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the dead holder's lock is stale: taken over, then released on exit
    lock = RunLock(run_dir)
    lock.acquire()
    with open(os.path.join(run_dir, 'run.lock')) as handle:
        assert int(handle.read().split()[0]) == os.getpid()
    lock.release()
    assert not os.path.exists(os.path.join(run_dir, 'run.lock'))


@pytest.mark.slow
def test_main_refuses_a_run_folder_in_use(demo_corpus, tmp_path):
    overrides = [f"{key}={value}" for key, value in demo_corpus.items()] + [
        f'path_log={tmp_path}', 'project=P', 'tags=[t]', 'name=busy']
    holder = _holder_process(str(tmp_path / 'P' / 't' / 'busy'))
    try:
        result = subprocess.run([sys.executable, os.path.join(REPO, 'main.py'), *overrides, 'resume=auto'],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert result.returncode == 2
    assert f'in use by process {holder.pid}' in result.stderr


@pytest.mark.slow
def test_the_trainer_releases_its_lock(demo_corpus, tiny_run):
    assert not os.path.exists(os.path.join(tiny_run, 'run.lock'))


@pytest.mark.slow
def test_last_checkpoint_is_written_before_the_evaluation(demo_corpus, tmp_path, monkeypatch):
    trainer = Trainer(tiny_args(demo_corpus, tmp_path, 'name=evalfail', 'epoch=1', *ONE_SET))

    def failing_evaluation(epoch):
        raise RuntimeError('evaluation failed')

    monkeypatch.setattr(trainer, 'evaluate', failing_evaluation)
    with pytest.raises(RuntimeError, match='evaluation failed'):
        trainer.run()
    state = load_checkpoint(trainer.last_path)
    assert state['epoch'] == 1 and state['global_step'] == trainer.global_step > 0


def test_evaluation_schedule_falls_back_to_the_last_epoch():
    assert [e for e in range(1, 151) if should_evaluate(e, 150, 15, 5)] == list(range(15, 151, 5))
    assert [e for e in range(1, 4) if should_evaluate(e, 3, 15, 5)] == [3]
    assert [e for e in range(1, 18) if should_evaluate(e, 17, 15, 5)] == [15]


@pytest.mark.slow
def test_a_run_shorter_than_the_schedule_warns_and_evaluates_once(demo_corpus, tmp_path, capsys):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    trainer = Trainer(tiny_args(demo_corpus, tmp_path, 'name=short', 'epoch=1', 'eval_from_epoch=15', *ONE_SET))
    trainer.run()
    # a finished trainer gives Ctrl-C and SIGTERM back (else a later SIGTERM is swallowed)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    output = capsys.readouterr().out
    assert 'warning: epoch=1 ends before eval_from_epoch=15' in output
    assert output.index('warning: epoch=1') < output.index('centroid-to-bona-fide')  # before training
    assert load_checkpoint(trainer.last_path)['threshold'] is not None
    assert metric_steps(trainer.run_dir, 'eval_19LA_eer.txt') == [1]
