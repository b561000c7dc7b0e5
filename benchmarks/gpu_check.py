"""What a GPU machine gives this repository, in one table (run by benchmarks/gpu_check.sh):

- training steps/s at batch 40 (4 bona fide + 36 spoof, both views, the two-step update)
  with the model alone on synthetic waveforms, in float32 and in bf16;
- the same with the real loader (read, codec, crop, RawBoost per item over the fixture
  utterances) at 4, 8 and 16 workers, with the share of wall time spent waiting for it,
  and at 16 workers with rawboost_device=cuda;
- evaluation utterances/s at batch 128 (test crop, model alone and through the loader);
- the SSL bridge's training step over an XLS-R 300M-sized front end (random weights,
  nothing downloaded), with and without bf16;
- the peak GPU memory of each row.

    python3 -m benchmarks.gpu_check [--steps 20] [--device cuda] [--ssl-batch 40] [--compile]

--device cpu runs the same rows on CPU with at most 2 steps, to check the script itself
(--ssl-batch 4 keeps XLS-R's rows short there).
"""
import argparse
import glob
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch

from arguments import get_args
from data.protocol import Trial
from models.bridge import build_bridge_detector
from models.ssl_frontend import load_ssl_frontend
from trainer.build import (build_batch_augment, build_detector, build_objective, build_training_loader,
                           compile_detector)
from trainer.ebm_step import TwoStepUpdate
from trainer.scoring import score_trials

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG, SHORT = 64_600, 48_440


@dataclass
class Row:
    """One line of the table."""
    what: str
    setting: str
    rate: float
    unit: str
    wait: Optional[float]          # share of wall time waiting for the loader
    peak: Optional[float]          # GiB allocated at most on the GPU


def _synchronise(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize()


def _reset_peak(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: torch.device) -> Optional[float]:
    return torch.cuda.max_memory_allocated() / 2 ** 30 if device.type == 'cuda' else None


def _fixture_trials(count: int) -> List[Trial]:
    """`count` bona fide and 9 x `count` spoof trials over the three real fixture files."""
    files = sorted(glob.glob(os.path.join(REPO, 'tests', 'fixtures', 'asvspoof2019_la', '*.flac')))
    bona = [Trial(f'b{i}', files[i % len(files)], 1, 'bonafide') for i in range(count)]
    spoof = [Trial(f's{i}', files[i % len(files)], 0, 'A01') for i in range(9 * count)]
    return bona + spoof


def _training_parts(args: dict, device: torch.device):
    torch.manual_seed(0)
    detector = build_detector(args).to(device).train()
    if args['compile']:
        compile_detector(detector, args['compile_backend'])
    optimizer = torch.optim.Adam(detector.parameters(), lr=args['lr'], weight_decay=args['weight_decay'])
    return detector, optimizer, build_objective(args).to(device), build_batch_augment(args).to(device)


def _timed_steps(step: Callable[[], None], steps: int, device: torch.device, warm_up: int = 2) -> float:
    for _ in range(warm_up):
        step()
    _synchronise(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronise(device)
    return steps / (time.perf_counter() - start)


def model_alone(args: dict, device: torch.device, steps: int, amp: str) -> Row:
    detector, optimizer, objective, augment = _training_parts(args, device)
    generator = torch.Generator(device=device).manual_seed(0)
    long_wave = 0.1 * torch.randn(40, LONG, device=device, generator=generator)
    short_wave = 0.1 * torch.randn(40, SHORT, device=device, generator=generator)
    labels = (torch.arange(40, device=device) < 4).long()
    step = TwoStepUpdate(detector, optimizer, objective, augment, amp=amp)
    _reset_peak(device)
    rate = _timed_steps(lambda: step(long_wave, short_wave, labels), steps, device)
    return Row(what='train step, model alone', setting=f"batch 40, {amp}" + (', compiled' if args['compile'] else ''),
               rate=rate, unit='steps/s', wait=None, peak=_peak(device))


def with_loader(args: dict, device: torch.device, steps: int, workers: int) -> Row:
    args = dict(args, num_workers=workers, pin_memory=device.type == 'cuda')
    step = TwoStepUpdate(*_training_parts(args, device))
    loader = build_training_loader(args, _fixture_trials(4 * (steps + 4)))
    loader.set_epoch(1)
    batches = loader.iterate()
    for _ in range(2):   # worker start-up and warm-up
        long_wave, short_wave, labels = next(batches)
        step(long_wave.to(device), short_wave.to(device), labels.to(device))
    _synchronise(device)
    _reset_peak(device)
    waited, start = 0.0, time.perf_counter()
    for _ in range(steps):
        asked = time.perf_counter()
        long_wave, short_wave, labels = next(batches)
        waited += time.perf_counter() - asked
        step(long_wave.to(device, non_blocking=True), short_wave.to(device, non_blocking=True),
             labels.to(device, non_blocking=True))
    _synchronise(device)
    elapsed = time.perf_counter() - start
    where = 'RawBoost on the device' if args['rawboost_device'] == 'cuda' else 'RawBoost in the workers'
    return Row(what='train step, real loader', setting=f"batch 40, fp32, {workers} workers, {where}",
               rate=steps / elapsed, unit='steps/s', wait=waited / elapsed, peak=_peak(device))


def evaluation(args: dict, device: torch.device, steps: int, workers: int) -> List[Row]:
    detector = _training_parts(args, device)[0].eval()
    wave = 0.1 * torch.randn(128, LONG, device=device)
    _reset_peak(device)
    with torch.no_grad():
        rate = 128 * _timed_steps(lambda: detector.score(wave), steps, device)
    alone = Row(what='evaluation, model alone', setting='batch 128, fp32', rate=rate, unit='utt/s', wait=None,
                peak=_peak(device))
    trials = _fixture_trials(13 * steps)[:128 * steps]
    start = time.perf_counter()
    score_trials(detector, trials, LONG, 128, device, num_workers=workers)
    _synchronise(device)
    loaded = Row(what='evaluation, real loader', setting=f"batch 128, fp32, {workers} workers",
                 rate=len(trials) / (time.perf_counter() - start), unit='utt/s', wait=None, peak=_peak(device))
    return [alone, loaded]


def ssl_bridge(device: torch.device, steps: int, bf16: bool, batch: int) -> Row:
    torch.manual_seed(0)
    ssl = load_ssl_frontend('random:WAV2VEC2_XLSR_300M')
    detector = build_bridge_detector(25, 1024, ssl=ssl, bf16=bf16).to(device).train()
    optimizer = torch.optim.Adam(detector.parameters(), lr=1e-6, weight_decay=1e-4)
    bridge_args = get_args(['backbone=ssl_bridge', 'ssl_checkpoint=tiny-random'])[0]
    objective, augment = build_objective(bridge_args).to(device), build_batch_augment(bridge_args).to(device)
    long_wave = 0.1 * torch.randn(batch, LONG, device=device)
    short_wave = 0.1 * torch.randn(batch, SHORT, device=device)
    labels = (torch.arange(batch, device=device) < max(2, batch // 10)).long()
    _reset_peak(device)
    rate = _timed_steps(lambda: TwoStepUpdate(detector, optimizer, objective, augment)(long_wave, short_wave, labels),
                        steps, device, warm_up=1)
    return Row(what='train step, XLS-R 300M + bridge', setting=f"batch {batch}, front end {'bf16' if bf16 else 'fp32'}",
               rate=rate, unit='steps/s', wait=None, peak=_peak(device))


def table(rows: List[Row]) -> str:
    lines = ['| measurement | setting | rate | data wait | peak GPU memory |', '|---|---|---|---|---|']
    for row in rows:
        wait = '-' if row.wait is None else f"{row.wait:.2f}"
        peak = '-' if row.peak is None else f"{row.peak:.1f} GiB"
        lines.append(f"| {row.what} | {row.setting} | {row.rate:.2f} {row.unit} | {wait} | {peak} |")
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--ssl-batch', type=int, default=40)
    parser.add_argument('--compile', action='store_true', help='add a row with compile=True (inductor)')
    options = parser.parse_args()
    device = torch.device(options.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('no CUDA device: run with --device cpu to check the script')
    steps = options.steps if device.type == 'cuda' else min(options.steps, 2)
    args = get_args(['path_21LA=None', 'path_21DF=None', 'batch_size=40'])[0]
    torch.backends.cudnn.benchmark = False
    rows: List[Row] = []
    sections: Dict[str, Callable[[], object]] = {
        'model alone, fp32': lambda: rows.append(model_alone(args, device, steps, 'fp32')),
        'model alone, bf16': lambda: rows.append(model_alone(args, device, steps, 'bf16')),
        **{f'loader, {w} workers': (lambda w=w: rows.append(with_loader(args, device, steps, w))) for w in (4, 8, 16)},
        'loader, 16 workers, device RawBoost': lambda: rows.append(
            with_loader(dict(args, rawboost_device='cuda'), device, steps, 16)),
        'evaluation': lambda: rows.extend(evaluation(args, device, steps, 16)),
        'SSL bridge, bf16': lambda: rows.append(ssl_bridge(device, max(2, steps // 5), True, options.ssl_batch)),
        'SSL bridge, fp32': lambda: rows.append(ssl_bridge(device, max(2, steps // 5), False, options.ssl_batch)),
    }
    if options.compile:
        sections['model alone, compiled'] = lambda: rows.append(
            model_alone(dict(args, compile=True), device, steps, 'fp32'))
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else f"CPU ({torch.get_num_threads()} threads)"
    print(f"{name}, torch {torch.__version__}, {os.cpu_count()} CPU cores")
    began = time.perf_counter()
    for section, run in sections.items():
        start = time.perf_counter()
        run()
        print(f"  {section}: {time.perf_counter() - start:.0f} s", flush=True)
    print(f"\n{table(rows)}\n\n(total {time.perf_counter() - began:.0f} s)")


if __name__ == '__main__':
    main()
