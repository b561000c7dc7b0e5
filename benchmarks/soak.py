"""Soak: a run stopped again and again (SIGINT, SIGKILL) and resumed ends as an uninterrupted one.

    python3 -m benchmarks.soak [--epochs 200] [--seed 0] [--folder /tmp/ebm_soak] [--min-wait 3] [--max-wait 15]

Trains the demo corpus with a small model (short epochs: 20 steps, 19LA dev and eval every
`--eval-every` epochs) twice: once uninterrupted (the reference), once as a chain of
`main.py ... resume=auto` processes, each stopped after a random `--min-wait` to `--max-wait` seconds
by SIGINT or SIGKILL (random), until one finishes by itself. Then checks that every metric
step of the chain is logged once and equals the reference's steps, that every checkpoint
loads, and that the final parameters equal the reference's (1e-6); prints the counts and
exits 1 when a check fails.
"""
import argparse
import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch

from recipes.demo.settings import DEMO_CACHE, demo_overrides
from utils.checkpoint_file import load_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHORT_EPOCHS = ['output_size=32', 'linear_units=64', 'embedding_size=16', 'num_train_frames=54',
                'num_train_frames_short=44', 'num_test_frames=54', 'batch_size=16', 'ratio_bona=0.25',
                'ratio_spoof=0.75', 'lr=0.001', 'num_workers=0', 'use_vocoder_copies=False', 'path_21LA=None',
                'path_21DF=None', 'average_last=0', 'eval_from_epoch=1', 'tags=[soak]']


def _command(corpus_paths, folder, name, options, resume):
    overrides = corpus_paths + SHORT_EPOCHS + [
        f'path_log={folder}', f'name={name}', f'epoch={options.epochs}', f'T_0={options.epochs}',
        f'eval_every={options.eval_every}'] + (['resume=auto'] if resume else [])
    return [sys.executable, os.path.join(REPO, 'main.py'), *overrides]


def _environment():
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}


def _metric_steps(run_dir):
    steps = {}
    for path in sorted(glob.glob(os.path.join(run_dir, 'metrics', '*.txt'))):
        with open(path, encoding='utf-8') as handle:
            steps[os.path.basename(path)] = [int(line.split(']')[0][1:]) for line in handle if line.startswith('[')]
    return steps


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--epochs', type=int, default=200)
    parser.add_argument('--eval-every', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--min-wait', type=float, default=3.0, help='shortest run of one process before its stop, s')
    parser.add_argument('--max-wait', type=float, default=15.0, help='longest run of one process before its stop, s')
    parser.add_argument('--folder', default='/tmp/ebm_soak')
    options = parser.parse_args()
    corpus_paths = [item for item in demo_overrides(DEMO_CACHE) if item.startswith('path_19LA=')]
    rng = np.random.default_rng(options.seed)
    folder = os.path.join(options.folder, f"run_{int(time.time())}")
    started = time.perf_counter()
    reference = subprocess.run(_command(corpus_paths, folder, 'reference', options, False), cwd=REPO,
                               env=_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if reference.returncode != 0:
        print(f"the reference run failed (exit {reference.returncode})")
        return 1
    reference_s = time.perf_counter() - started
    counts = {'processes': 0, 'SIGINT': 0, 'SIGKILL': 0, 'stopped during an evaluation': 0,
              'evaluations redone on resume': 0, 'finished by itself': 0}
    started = time.perf_counter()
    while True:
        counts['processes'] += 1
        process = subprocess.Popen(_command(corpus_paths, folder, 'soak', options, True), cwd=REPO,
                                   env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            output, _ = process.communicate(timeout=float(rng.uniform(options.min_wait, options.max_wait)))
        except subprocess.TimeoutExpired:
            kind = signal.SIGINT if rng.random() < 0.5 else signal.SIGKILL
            counts[kind.name] += 1
            process.send_signal(kind)
            output, _ = process.communicate(timeout=600)
        counts['stopped during an evaluation'] += 'stopped during the evaluation' in output
        counts['evaluations redone on resume'] += 'did not complete: evaluating it now' in output
        if process.returncode not in (0, 130, -signal.SIGINT, -signal.SIGKILL):   # 130, -2: before training
            print(output[-3000:])
            print(f"process {counts['processes']} exited with {process.returncode}")
            return 1
        if process.returncode == 0 and 'results card:' in output:
            counts['finished by itself'] = 1
            break
    soak_s = time.perf_counter() - started
    tags = os.path.join(folder, 'EBM', 'soak')
    reference_dir, soak_dir = os.path.join(tags, 'reference'), os.path.join(tags, 'soak')
    problems = []
    expected, logged = _metric_steps(reference_dir), _metric_steps(soak_dir)
    for name, steps in expected.items():
        if logged.get(name) != steps:
            problems.append(f"{name}: steps {logged.get(name, [])[:12]}... differ from the reference's {steps[:12]}...")
    checkpoints = sorted(glob.glob(os.path.join(soak_dir, 'models', '*.pt')))
    for path in checkpoints:
        try:
            load_checkpoint(path)
        except Exception as error:  # any failure to load is a finding
            problems.append(f"{path} does not load: {error}")
    final, wanted = load_checkpoint(os.path.join(soak_dir, 'models', 'last.pt')), \
        load_checkpoint(os.path.join(reference_dir, 'models', 'last.pt'))
    difference = max(float((final['model'][k].double() - wanted['model'][k].double()).abs().max())
                     for k in wanted['model'] if torch.is_floating_point(wanted['model'][k]))
    if difference > 1e-6:
        problems.append(f"final parameters differ from the reference's by {difference:.3g}")
    print(f"{options.epochs} epochs ({options.epochs * 20} steps, evaluation every {options.eval_every}): "
          f"reference {reference_s:.0f} s, soak {soak_s:.0f} s")
    print(', '.join(f"{key} {value}" for key, value in counts.items()))
    print(f"{len(expected)} metric files, each step once and as in the reference: "
          f"{'yes' if not any('steps' in p for p in problems) else 'no'}; {len(checkpoints)} checkpoints load; "
          f"largest parameter difference to the reference {difference:.2e}")
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
