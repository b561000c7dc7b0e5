"""Throughput of the full per-item training pipeline (read, codec p=0.8, crop, RawBoost,
both views) through a DataLoader with one worker, and the speed of the pre-flight
audio check on a DF-sized folder.

    python3 -m benchmarks.bench_data [--corpus DIR] [--items 200] [--check-paths 611829]

--corpus is a demo corpus folder (python3 -m tools.make_demo_corpus); without it the three
fixture utterances are used.
"""
import argparse
import glob
import os
import tempfile
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')

import torch
from torch.utils.data import DataLoader

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from augment.codec import RandomCodec
from augment.rawboost import RandomRawBoost
from data.datasets import TwoViewDataset, seed_worker
from data.protocol import Trial, read_asvspoof2019
from data.validation import missing_audio
from data.views import crop_samples


def pipeline_throughput(trials, items: int) -> float:
    dataset = TwoViewDataset(trials, crop_samples(404), crop_samples(303), RandomCodec(0.8), RandomRawBoost(), rand_seed=0)
    loader = DataLoader(dataset, batch_size=1, shuffle=True, num_workers=1, worker_init_fn=seed_worker)
    iterator = iter(loader)
    next(iterator)  # worker start-up
    start = time.perf_counter()
    for _ in range(items):
        try:
            next(iterator)
        except StopIteration:
            iterator = iter(loader)
            next(iterator)
    return items / (time.perf_counter() - start)


def check_speed(count: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        for i in range(count):
            open(os.path.join(folder, f'DF_E_{i:07d}.flac'), 'w').close()
        trials = [Trial(f'DF_E_{i:07d}', os.path.join(folder, f'DF_E_{i:07d}.flac'), 0, 'A01') for i in range(count)]
        start = time.perf_counter()
        missing = missing_audio(trials)
        elapsed = time.perf_counter() - start
        assert not missing
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--corpus')
    parser.add_argument('--items', type=int, default=200)
    parser.add_argument('--check-paths', type=int, default=0)
    options = parser.parse_args()
    torch.set_num_threads(1)
    if options.corpus:
        trials = read_asvspoof2019(os.path.join(options.corpus, 'ASVspoof2019'), 'train')
        source = f"demo corpus train set ({len(trials)} files)"
    else:
        files = sorted(glob.glob(os.path.join(REPO, 'tests', 'fixtures', 'asvspoof2019_la', '*.flac')))
        trials = [Trial(os.path.basename(p), p, 1, 'bonafide') for p in files]
        source = 'the three fixture utterances'
    rate = pipeline_throughput(trials, options.items)
    print(f"training pipeline, one DataLoader worker, {source}: {rate:.1f} items/s "
          f"(each item = long + short view)")
    if options.check_paths:
        elapsed = check_speed(options.check_paths)
        print(f"pre-flight audio check of {options.check_paths:,} paths in one folder: {elapsed:.2f} s")


if __name__ == '__main__':
    main()
