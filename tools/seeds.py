"""Train one run per seed, one after the other, then summarize them.

    python3 -m tools.seeds --seeds 1,2,3 [--demo] key=value ...

Each seed trains as `python3 main.py [--demo] key=value ... rand_seed=S name=<name>_seed<S>
resume=auto` in its own run folder. Resumable: run the same command again and the seeds
whose results card is written (with this configuration) are skipped, an interrupted
seed continues from its last checkpoint, and the rest start. At the end
`tools.summarize` writes <path_log>/<project>/<tags>/<name>_seeds/summary.{md,csv,json,png}.
Ctrl-C (or SIGTERM) stops the running seed as it stops `main.py`: after the current step, with
its checkpoint saved; no further seed starts, and the same command continues.
"""
import argparse
import os
import signal
import subprocess
import sys
from typing import List, Optional, Sequence, Tuple

from tqdm import tqdm

from arguments import get_args
from data.audio_band import measured_keys
from evaluation.results_card import CardError, read_card
from tools.summarize import summarize_and_write
from utils.config import ConfigError
from utils.run_folder import training_run_dir
from utils.secrets import redact

MAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'main.py')


def seed_overrides(overrides: Sequence[str], name: str, seed: int) -> List[str]:
    return list(overrides) + [f'rand_seed={seed}', f'name={name}_seed{seed}', 'resume=auto']


def finished(run_dir: str, args: dict) -> bool:
    """Whether `run_dir` holds a results card of this very configuration (the keys a run sets
    from its training audio, such as the band of lfcc_band=auto, are the run's to set)."""
    try:
        config = read_card(run_dir)['config']
    except CardError:
        return False
    wanted = redact(args)
    skipped = {'resume', *measured_keys(wanted)}
    return all(config.get(key) == wanted[key] for key in wanted if key not in skipped)


def run_to_the_end(command: List[str]) -> Tuple[int, bool]:
    """Run `command` and wait until it exits, even when asked to stop: (exit code, whether a
    stop was asked). The child runs in a process group of its own, so that a Ctrl-C at the
    terminal reaches this process only; each SIGINT or SIGTERM is handed on to the child once,
    and the child's own handler finishes the step and saves before it exits."""
    child = subprocess.Popen(command, process_group=0)
    stops = []

    def hand_on(signum, frame):
        stops.append(signum)
        child.send_signal(signum)
    previous = {number: signal.signal(number, hand_on) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait(), bool(stops)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seeds', required=True, help='comma-separated seeds, e.g. 1,2,3')
    parser.add_argument('--demo', action='store_true', help='the demo corpus and schedule (main.py --demo)')
    parser.add_argument('overrides', nargs='*', help='key=value, as for main.py')
    options = parser.parse_args(argv)
    try:
        seeds = [int(seed) for seed in options.seeds.split(',') if seed.strip()]
    except ValueError:
        print(f"error: --seeds {options.seeds!r}: expected integers separated by commas", file=sys.stderr)
        return 2
    fixed = [item for item in options.overrides if item.split('=', 1)[0].strip() == 'rand_seed']
    if fixed or not seeds or len(set(seeds)) < len(seeds):
        print(f"error: give each seed once with --seeds, not {fixed or options.seeds}", file=sys.stderr)
        return 2
    base = list(options.overrides)
    if options.demo:
        from recipes.demo.settings import demo_overrides
        base = demo_overrides(user_overrides=base) + base
    try:
        name = get_args(base)[0]['name']
        runs = [(seed, get_args(seed_overrides(base, name, seed))[0]) for seed in seeds]
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_dirs = [training_run_dir(args) for _, args in runs]
    overall = tqdm(total=len(seeds), desc='seeds', unit='run', position=0, dynamic_ncols=True)
    for index, ((seed, args), run_dir) in enumerate(zip(runs, run_dirs)):
        if finished(run_dir, args):
            tqdm.write(f"seed {seed}: finished earlier in {run_dir}")
            overall.update()
            continue
        tqdm.write(f"seed {seed} ({index + 1} of {len(seeds)}): {run_dir}")
        command = [sys.executable, MAIN] + (['--demo'] if options.demo else []) \
            + seed_overrides(options.overrides, name, seed)
        code, stopped = run_to_the_end(command)
        if stopped:
            overall.close()
            print(f"stopped: seed {seed} saved what it had done in {run_dir} (exit code {code}); run the same "
                  f"command again to continue", file=sys.stderr)
            return 130
        if code != 0:
            overall.close()
            print(f"error: seed {seed} stopped with exit code {code} ({run_dir}); run the same command again to "
                  f"continue", file=sys.stderr)
            return code
        overall.update()
    overall.close()
    return summarize_and_write(run_dirs, os.path.join(os.path.dirname(run_dirs[0]), f"{name}_seeds", 'summary'))


if __name__ == '__main__':
    sys.exit(main())
