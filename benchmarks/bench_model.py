"""Cost of each backbone at its published size: parameters, one forward + backward of a batch
of long training views, and evaluation throughput (test crop, eval mode), with peak memory.

    python3 -m benchmarks.bench_model [--backbone NAME ...] [--batch 8] [--repeats 3] [--device cpu|cuda]

Every registered backbone by default (models/registry.py), each built with the overrides of its
registry entry that give the published size without downloading weights (XLS-R 300M with
random weights). Crops are the published ones (64,600 samples).
"""
import argparse
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from arguments import get_args
from benchmarks.published import published
from data.views import crop_samples
from models.registry import BACKBONES, build_detector


def _timed(device: torch.device, work, repeats: int) -> float:
    """Mean seconds of `work()` over `repeats` runs after one warm-up run."""
    times = []
    for repeat in range(repeats + 1):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        work()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        if repeat:
            times.append(time.perf_counter() - start)
    return sum(times) / len(times)


def measure(name: str, batch: int, repeats: int, device: torch.device) -> str:
    args = get_args([f'backbone={name}', *BACKBONES[name].benchmark])[0]
    torch.manual_seed(0)
    detector = build_detector(args).to(device)
    trainable = sum(p.numel() for p in detector.parameters() if p.requires_grad)
    total = sum(p.numel() for p in detector.parameters())
    wave = 0.1 * torch.randn(batch, crop_samples(args['num_train_frames'], args['hop']), device=device)

    def train_pass():
        detector.train()
        sum(e.sum() for e in detector(detector.features(wave))).backward()

    def evaluate():
        detector.eval()
        with torch.no_grad():
            detector.score(wave)

    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    train = _timed(device, train_pass, repeats)
    scoring = _timed(device, evaluate, repeats)
    memory = (f"{torch.cuda.max_memory_allocated() / 2 ** 20:,.0f} MiB CUDA" if device.type == 'cuda'
              else f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB RSS")
    return (f"| {name} | {trainable:,} trainable of {total:,} | {detector.num_heads} | {train * 1000:,.0f} ms "
            f"({batch / train:.1f} utt/s) | {batch / scoring:.1f} utt/s | {memory} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--backbone', nargs='+', default=list(BACKBONES), choices=list(BACKBONES))
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    options = parser.parse_args()
    device = torch.device(options.device)
    print(f"device {device}, threads {torch.get_num_threads()}, batch {options.batch} x 64,600 samples")
    print('| backbone | parameters | heads | forward + backward per batch | evaluation | peak memory |')
    print('| --- | --- | --- | --- | --- | --- |')
    for name in options.backbone:  # each in a fresh process, so that its peak memory is its own
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn')) as pool:
            print(pool.submit(measure, name, options.batch, options.repeats, device).result(), flush=True)


if __name__ == '__main__':
    with published('bench_model'):
        main()
