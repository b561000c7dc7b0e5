"""Speed of the HiFi-GAN copy-synthesis (random weights: speed does not depend on them).

    python3 -m benchmarks.bench_vocoder [--config v1] [--device cpu|cuda] [--batch 16] [--repeats 3]

Uses the three real fixture utterances (2.9, 2.3 and 1.9 s); prints utterances and
audio seconds per second.
"""
import argparse
import glob
import os
import time

import soundfile as sf
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from benchmarks.published import published
from vocoder.hifigan import CONFIGS, HiFiGANGenerator
from vocoder.copy_synthesis import CopySynthesiser


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--config', default='v1', choices=sorted(CONFIGS))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=3)
    options = parser.parse_args()
    files = sorted(glob.glob(os.path.join(REPO, 'tests', 'fixtures', 'asvspoof2019_la', '*.flac')))
    waves = [sf.read(path)[0] for path in files]
    device = torch.device(options.device)
    synthesiser = CopySynthesiser(HiFiGANGenerator(CONFIGS[options.config]), device)
    utterances = (waves * options.batch)[:max(options.batch, len(waves))]
    synthesiser(utterances[:1])
    start = time.perf_counter()
    for _ in range(options.repeats):
        for i in range(0, len(utterances), options.batch):
            synthesiser(utterances[i:i + options.batch])
    if device.type == 'cuda':
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    count = options.repeats * len(utterances)
    seconds = options.repeats * sum(len(w) for w in utterances) / 16000
    print(f"HiFi-GAN {options.config} on {device} ({torch.get_num_threads()} threads), batch {options.batch}: "
          f"{count / elapsed:.2f} utterances/s, {seconds / elapsed:.2f} audio seconds per second")


if __name__ == '__main__':
    with published('bench_vocoder'):
        main()
