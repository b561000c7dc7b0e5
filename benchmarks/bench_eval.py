"""Throughput of the evaluation data path per core: reading each file's test crop
(FLAC, 64,600 samples from the start, wrap-padded) through EvalDataset, batched by a
DataLoader in this process, as scoring does; and the time 2021 DF would take at that
rate on 16 cores, the bound a GPU fast enough for the model leaves.

    python3 -m benchmarks.bench_eval [--corpus DIR] [--files 600] [--batch 128]

--corpus is a demo corpus folder (python3 -m tools.make_demo_corpus; its 21DF eval
files are read); without it the three fixture utterances are read in turn.
"""
import argparse
import glob
import os
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')

import torch
from torch.utils.data import DataLoader

from benchmarks.published import published
from data.datasets import EvalDataset
from data.protocol import Trial, read_asvspoof2021_df
from data.views import crop_samples

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DF21_FILES = 611_829


def read_rate(trials, batch: int) -> float:
    loader = DataLoader(EvalDataset(trials, crop_samples(404)), batch_size=batch, num_workers=0)
    start = time.perf_counter()
    count = sum(len(wave) for wave, _, _, _ in loader)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--corpus')
    parser.add_argument('--files', type=int, default=600)
    parser.add_argument('--batch', type=int, default=128)
    options = parser.parse_args()
    torch.set_num_threads(1)
    if options.corpus:
        pool = read_asvspoof2021_df(os.path.join(options.corpus, 'ASVspoof2021_DF'))
        source = f"demo corpus 21DF eval ({len(pool)} files)"
    else:
        files = sorted(glob.glob(os.path.join(REPO, 'tests', 'fixtures', 'asvspoof2019_la', '*.flac')))
        pool = [Trial(os.path.basename(p), p, 1, 'bonafide') for p in files]
        source = 'the three fixture utterances'
    trials = [pool[i % len(pool)] for i in range(options.files)]
    rate = read_rate(trials, options.batch)
    hours = DF21_FILES / (16 * rate) / 3600
    print(f"evaluation data path, one core, {source}: {rate:.0f} utterances/s "
          f"(test crop of 64,600 samples, batch {options.batch})")
    print(f"2021 DF ({DF21_FILES:,} files) at that rate on 16 cores: {hours * 60:.1f} minutes of reading")


if __name__ == '__main__':
    with published('bench_eval'):
        main()
