"""Training throughput of the full pipeline on CPU: data workers (read, codec, crop,
RawBoost), device-side noise and speed, LFCC and masking, and the two-step EBM update.

    python3 -m benchmarks.bench_train [--steps 20] [--batch 8] [--workers 1] [--corpus DIR]

Uses the demo corpus (built under .cache/ when --corpus is not given) with the
published crops (64,600 / 48,440 samples) and model; batch 8 = 2 bona fide + 6 spoof.
Prints utterances per second (each utterance gives a long and a short view) and peak
memory.
"""
import argparse
import os
import resource
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from arguments import get_args
from benchmarks.published import published
from recipes.demo.settings import DEMO_CACHE
from trainer.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--corpus', default=DEMO_CACHE)
    options = parser.parse_args()
    if not os.path.isdir(os.path.join(options.corpus, 'ASVspoof2019')):
        from recipes.demo.corpus import make_demo_corpus
        make_demo_corpus(options.corpus)
    args = get_args([f"path_19LA={os.path.join(options.corpus, 'ASVspoof2019')}", 'path_21LA=None',
                     'path_21DF=None', f'batch_size={options.batch}', 'ratio_bona=0.25', 'ratio_spoof=0.75',
                     f'num_workers={options.workers}', f"path_log={os.path.join(REPO, '.cache', 'bench_train')}",
                     'name=bench'])[0]
    trainer = Trainer(args)
    trainer.loader.set_epoch(1)
    trainer.model.train()
    batches = iter(trainer.loader)
    next(batches)  # worker start-up
    rows, start = 0, time.perf_counter()
    for _ in range(options.steps):
        long_wave, short_wave, labels = next(batches)
        trainer.step(long_wave, short_wave, labels)
        rows += len(labels)
    elapsed = time.perf_counter() - start
    print(f"CPU, {torch.get_num_threads()} torch threads, {options.workers} data worker(s), batch {options.batch} "
          f"({trainer.loader.bona_batch} bona fide + {trainer.loader.spoof_batch} spoof), {options.steps} steps: "
          f"{rows / elapsed:.2f} utterances/s, {elapsed / options.steps:.2f} s/step")
    print(f"peak process RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == '__main__':
    with published('bench_train'):
        main()
