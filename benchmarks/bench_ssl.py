"""Cost of the SSL backbone: XLS-R 300M's architecture (random weights, nothing is
downloaded) with the bridge, one EBM training step (augmentation, frozen front end on
both views, two-step update) and evaluation throughput.

    python3 -m benchmarks.bench_ssl [--steps 3] [--bona 4 --spoof 4] [--device cpu|cuda] [--no-bf16]

Crops are the published ones (64,600 and 48,440 samples). Prints seconds per step,
utterances per second of evaluation (test crop, batch = bona + spoof) and peak memory
(process RSS on CPU, allocated CUDA memory on GPU).
"""
import argparse
import resource
import time

import torch

from arguments import get_args
from benchmarks.published import published
from models.bridge import build_bridge_detector
from models.ssl_frontend import load_ssl_frontend
from trainer.build import build_batch_augment, build_objective
from trainer.ebm_step import TwoStepUpdate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--bona', type=int, default=4)
    parser.add_argument('--spoof', type=int, default=4)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--no-bf16', action='store_true')
    options = parser.parse_args()
    device = torch.device(options.device)
    args = get_args(['backbone=ssl_bridge', 'ssl_checkpoint=WAV2VEC2_XLSR_300M',
                     f'batch_size={options.bona + options.spoof}', 'ratio_bona=0.5', 'ratio_spoof=0.5'])[0]
    torch.manual_seed(0)
    ssl = load_ssl_frontend('random:WAV2VEC2_XLSR_300M')
    detector = build_bridge_detector(25, 1024, ssl=ssl, bf16=not options.no_bf16).to(device).train()
    optimizer = torch.optim.Adam(detector.parameters(), lr=1e-6, weight_decay=1e-4)
    objective, augment = build_objective(args).to(device), build_batch_augment(args).to(device)
    step = TwoStepUpdate(detector, optimizer, objective, augment)
    rows = options.bona + options.spoof
    labels = (torch.arange(rows) < options.bona).long().to(device)
    long_wave, short_wave = 0.1 * torch.randn(rows, 64_600, device=device), 0.1 * torch.randn(rows, 48_440, device=device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(options.steps + 1):  # the first step warms up
        start = time.perf_counter()
        step(long_wave, short_wave, labels)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    detector.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(options.steps):
            detector.score(long_wave)
    if device.type == 'cuda':
        torch.cuda.synchronize()
    throughput = options.steps * rows / (time.perf_counter() - start)
    memory = (f"{torch.cuda.max_memory_allocated() / 2 ** 30:.1f} GiB CUDA" if device.type == 'cuda'
              else f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.1f} GiB RSS")
    precision = 'bf16' if device.type == 'cuda' and not options.no_bf16 else 'fp32'
    print(f"{device.type} ({torch.get_num_threads()} threads), XLS-R 300M + bridge, {options.bona}+{options.spoof} "
          f"rows, {precision}: {sum(times[1:]) / options.steps:.2f} s/step, evaluation {throughput:.1f} utt/s, "
          f"peak {memory}")


if __name__ == '__main__':
    with published('bench_ssl'):
        main()
