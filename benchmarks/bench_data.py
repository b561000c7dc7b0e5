"""Throughput of the per-item training pipeline (read, codec p = 0.8, crop, RawBoost, both
views) per core, optionally against another revision in the same run, and the speed of the
pre-flight audio check on a DF-sized folder.

    python3 -m benchmarks.bench_data [--against REV] [--rounds 3] [--corpus DIR] [--items 200]
                                     [--check-paths 611829]

Each measurement is a fresh process (benchmarks/pipeline_rate.py) timing `TwoViewDataset[i]`
on one thread over the same items with the same seed; with --against, this checkout and REV
(extracted with `git archive`) alternate for --rounds rounds and the medians are printed with
their ratio. The lines without RawBoost are the CPU's share when rawboost_device=cuda; those
with the codec cache find every round trip in it (filled by one pass with the same seed),
the upper bound of codec_cache=DIR (over a 150-epoch run about a quarter of the encodes remain).
--corpus is a demo corpus folder (python3 -m tools.make_demo_corpus); without it the three
fixture utterances are used.
"""
import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

from benchmarks.published import published

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE_SCRIPT = os.path.join(REPO, 'benchmarks', 'pipeline_rate.py')


def pipeline_rate(checkout: str, files: List[str], items: int, extra: Optional[List[str]] = None) -> float:
    """Items/s of `checkout`'s pipeline on one core (a fresh process)."""
    environment = dict(os.environ, PYTHONPATH=checkout, OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, RATE_SCRIPT, *files, '--items', str(items), *(extra or [])],
                            cwd=checkout, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pipeline_rate.py failed in {checkout}:\n{result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


def extract_revision(revision: str, folder: str) -> None:
    archive = subprocess.run(['git', '-C', REPO, 'archive', revision], capture_output=True, check=True).stdout
    subprocess.run(['tar', '-x', '-C', folder], input=archive, check=True)


def check_speed(count: int) -> float:
    from data.protocol import Trial
    from data.validation import missing_audio
    with tempfile.TemporaryDirectory() as folder:
        for i in range(count):
            open(os.path.join(folder, f'DF_E_{i:07d}.flac'), 'w').close()
        trials = [Trial(f'DF_E_{i:07d}', os.path.join(folder, f'DF_E_{i:07d}.flac'), 0, 'A01') for i in range(count)]
        start = time.perf_counter()
        missing = missing_audio(trials)
        elapsed = time.perf_counter() - start
        assert not missing
        return elapsed


def training_files(corpus: Optional[str]) -> List[str]:
    if corpus:
        from data.protocol import read_asvspoof2019
        return sorted({trial.path for trial in read_asvspoof2019(os.path.join(corpus, 'ASVspoof2019'), 'train')})
    return sorted(glob.glob(os.path.join(REPO, 'tests', 'fixtures', 'asvspoof2019_la', '*.flac')))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--against', metavar='REV', help='a git revision to time in the same run')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--corpus')
    parser.add_argument('--items', type=int, default=200)
    parser.add_argument('--check-paths', type=int, default=0)
    options = parser.parse_args()
    files = training_files(options.corpus)
    source = f"{options.corpus} train set" if options.corpus else 'the three fixture utterances'
    print(f"per-item training pipeline on one core, {options.items} items of {source} "
          f"({len(files)} files), median of {options.rounds} rounds:")
    with tempfile.TemporaryDirectory() as other, tempfile.TemporaryDirectory() as cache:
        if options.against:
            extract_revision(options.against, other)
        variants = {'this checkout': [], 'this checkout, without RawBoost': ['--no-rawboost'],
                    'this checkout, codec cache found': ['--codec-cache', cache],
                    'this checkout, codec cache found, without RawBoost': ['--codec-cache', cache, '--no-rawboost']}
        pipeline_rate(REPO, files, options.items, ['--codec-cache', cache])   # fills the cache for these draws
        rates = {name: [] for name in variants}
        if options.against:
            rates[options.against] = []
        for _ in range(options.rounds):
            for name, extra in variants.items():
                rates[name].append(pipeline_rate(REPO, files, options.items, extra))
            if options.against:
                rates[options.against].append(pipeline_rate(other, files, options.items))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, median in medians.items():
        ratio = f"  ({median / medians[options.against]:.2f}x {options.against})" if options.against else ''
        print(f"  {name:<52} {median:6.1f} items/s{ratio}")
    if options.check_paths:
        elapsed = check_speed(options.check_paths)
        print(f"pre-flight audio check of {options.check_paths:,} paths in one folder: {elapsed:.2f} s")


if __name__ == '__main__':
    with published('bench_data'):
        main()
