"""Forward + backward time of the detector on a batch of long views, and peak memory.

    python3 -m benchmarks.bench_model [--batch 8] [--repeats 5] [--device cpu|cuda]
"""
import argparse
import resource
import time

import torch

from arguments import get_args
from trainer.build import build_detector


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    options = parser.parse_args()
    args = get_args()[0]
    device = torch.device(options.device)
    detector = build_detector(args).to(device).train()
    wave = torch.randn(options.batch, args['num_train_frames'] * 160 - 40, device=device)
    times = []
    for repeat in range(options.repeats + 1):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = sum(e.sum() for e in detector(wave))
        loss.backward()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        if repeat:  # the first pass warms up
            times.append(time.perf_counter() - start)
    mean = sum(times) / len(times)
    print(f"device {device}, threads {torch.get_num_threads()}, batch {options.batch} x 64,600 samples")
    print(f"forward+backward: {mean * 1000:.0f} ms per batch (min {min(times) * 1000:.0f} ms), "
          f"{options.batch / mean:.1f} utterances/s")
    if device.type == 'cuda':
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(f"peak process RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == '__main__':
    main()
