"""Several seeds: the sweep resumes where it stopped, the summary's statistics are
those of the cards, and runs that differ in more than the seed are refused."""
import json
import os
import statistics

import numpy as np
import pytest

from arguments import get_args
from evaluation.results_card import CARD_JSON
from tools import seeds as seeds_tool
from tools import summarize as summarize_tool
from utils.run_folder import training_run_dir

EERS = {1: (10.0, 20.0), 2: (12.5, 18.0), 3: (7.25, 30.5)}


def _card(config, seed, averaged=False):
    def record(epoch, shift):
        return {'epoch': epoch, 'sets': {
            '19LA': {'eer': EERS[seed][0] + shift, 'min_dcf': 0.1 * seed, 'act_dcf': 0.2, 'cllr': 0.5 + seed,
                     'min_tdcf': 0.01 * seed},
            '21DF': {'eer': EERS[seed][1] + shift, 'min_dcf': 0.3, 'act_dcf': None, 'cllr': None, 'min_tdcf': None}}}
    return {'config': {**config, 'rand_seed': seed, 'name': f'run_seed{seed}'},
            'selection': {'epoch': seed + 4}, 'selected': record(seed + 4, 0.0),
            'averaged': {**record(9, -1.0), 'epochs': [8, 9]} if averaged else None}


def _write_runs(folder, configs, averaged=True):
    runs = []
    for seed, config in zip((1, 2, 3), configs):
        run = os.path.join(folder, f'run_seed{seed}')
        os.makedirs(run)
        with open(os.path.join(run, CARD_JSON), 'w') as handle:
            json.dump(_card(config, seed, averaged), handle)
        runs.append(run)
    return runs


def test_the_summary_of_three_seeds_is_the_mean_and_spread_of_their_cards(tmp_path, capsys):
    runs = _write_runs(str(tmp_path), [{'lr': 0.001, 'epoch': 10}] * 3)
    assert summarize_tool.main(runs + ['--out', str(tmp_path / 'sum')]) == 0
    summary = json.load(open(tmp_path / 'sum.json'))
    rows = {(r['model'], r['set'], r['metric']): r for r in summary['rows']}
    eer = [EERS[s][0] for s in (1, 2, 3)]
    row = rows[('selected', '19LA', 'eer')]
    assert row['values'] == eer and row['mean'] == pytest.approx(np.mean(eer))
    assert row['std'] == pytest.approx(np.std(eer, ddof=1)) and (row['min'], row['max']) == (7.25, 12.5)
    assert rows[('averaged', '21DF', 'eer')]['mean'] == pytest.approx(statistics.fmean(EERS[s][1] - 1 for s in EERS))
    assert rows[('selected', '19LA', 'min_tdcf')]['mean'] == pytest.approx(0.02)
    assert ('selected', '21DF', 'cllr') not in rows                   # absent where a card has none
    assert summary['selected_epochs'] == [5, 6, 7] and summary['seeds'] == [1, 2, 3]
    printed = capsys.readouterr().out
    assert '| selected | 19LA | eer | 10.0000 | 12.5000 | 7.2500 | 9.9167 |' in printed
    csv_header = open(tmp_path / 'sum.csv').readline().strip()
    assert csv_header == 'model,set,metric,seed_1,seed_2,seed_3,mean,std,min,max'
    assert os.path.getsize(tmp_path / 'sum.png') > 10_000


def test_runs_that_differ_in_more_than_the_seed_are_refused_unless_allowed(tmp_path, capsys):
    runs = _write_runs(str(tmp_path), [{'lr': 0.001, 'epoch': 10}, {'lr': 0.01, 'epoch': 10},
                                       {'lr': 0.001, 'epoch': 10}])
    assert summarize_tool.main(runs) == 2
    error = capsys.readouterr().err
    assert 'lr: 0.001, 0.01, 0.001' in error and '--allow-different lr' in error and 'epoch' not in error
    assert summarize_tool.main(runs + ['--allow-different', 'lr']) == 0
    assert os.path.isfile(tmp_path / 'summary.md')


def test_a_sweep_continues_with_the_unfinished_seed(demo_corpus, tmp_path, monkeypatch, capsys):
    overrides = [f"{key}={value}" for key, value in demo_corpus.items()] + [f'path_log={tmp_path}', 'name=sweep',
                                                                           'epoch=3']
    commands, outcomes = [], iter([0, 1, 0, 0, 0])   # seed 1 finishes, seed 2 is interrupted, then both succeed

    def fake_main(command):
        commands.append(command)
        code = next(outcomes)
        if code == 0:
            args = get_args([item for item in command[2:]])[0]
            os.makedirs(training_run_dir(args), exist_ok=True)
            with open(os.path.join(training_run_dir(args), CARD_JSON), 'w') as handle:
                json.dump({**_card({}, args['rand_seed']), 'config': args}, handle)
        return code, False     # (exit code, whether a stop was asked)

    monkeypatch.setattr(seeds_tool, 'run_to_the_end', fake_main)
    assert seeds_tool.main(['--seeds', '1,2', *overrides]) == 1
    assert 'seed 2 stopped with exit code 1' in capsys.readouterr().err
    assert seeds_tool.main(['--seeds', '1,2', *overrides]) == 0      # seed 1 is skipped, seed 2 runs again
    seeds_run = [[item for item in command if item.startswith('rand_seed=')] for command in commands]
    assert seeds_run == [['rand_seed=1'], ['rand_seed=2'], ['rand_seed=2']]
    assert all('resume=auto' in command and command[1].endswith('main.py') for command in commands)
    assert commands[0][-2] == 'name=sweep_seed1'
    assert os.path.isfile(os.path.join(str(tmp_path), 'EBM', 'EBM', 'sweep_seeds', 'summary.md'))
    assert seeds_tool.main(['--seeds', '1,2', *overrides]) == 0      # all done: nothing runs
    assert len(commands) == 3
    assert seeds_tool.main(['--seeds', '1,2', *overrides, 'epoch=4']) == 0   # another configuration trains again
    assert len(commands) == 5


@pytest.mark.slow
def test_ctrl_c_during_a_sweep_lets_the_running_seed_save_and_the_rerun_continue_it(demo_corpus, tmp_path):
    """Ctrl-C at the terminal reaches the whole foreground process group: the sweep hands it to
    the running main.py, which finishes its step, writes last.pt and exits; the sweep says so
    (exit 130, no traceback) and the same command continues the seed without repeating a step."""
    import signal
    import subprocess
    import sys
    import time
    from tests.helpers import REPO, TINY, metric_steps
    from utils.checkpoint_file import load_checkpoint
    overrides = [f"{key}={value}" for key, value in demo_corpus.items()] + TINY + [
        f'path_log={tmp_path}', 'name=sweep', 'epoch=2', 'path_21LA=None', 'path_21DF=None']
    command = [sys.executable, '-m', 'tools.seeds', '--seeds', '1', *overrides]
    sweep = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    run_dir = os.path.join(str(tmp_path), 'P', 't', 'sweep_seed1')
    losses = os.path.join(run_dir, 'metrics', 'train_loss_1.txt')
    deadline = time.time() + 180
    while time.time() < deadline and (not os.path.exists(losses) or len(open(losses).readlines()) < 3):
        time.sleep(0.2)
    os.killpg(sweep.pid, signal.SIGINT)                 # what Ctrl-C does
    _, error = sweep.communicate(timeout=180)
    assert sweep.returncode == 130, error
    assert 'stopped: seed 1 saved what it had done' in error
    assert 'Traceback' not in error and 'KeyboardInterrupt' not in error
    state = load_checkpoint(os.path.join(run_dir, 'models', 'last.pt'))
    assert state['global_step'] == len(metric_steps(run_dir, 'train_loss_1.txt')) > 0
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=600)
    steps = metric_steps(run_dir, 'train_loss_1.txt')
    assert steps == list(range(1, len(steps) + 1)) and load_checkpoint(os.path.join(run_dir, 'models', 'last.pt'))[
        'epoch'] == 2
