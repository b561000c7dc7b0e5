"""CPU latency of an exported detector: ONNX Runtime and TorchScript against PyTorch eager,
for one 4 s clip and for a batch of 32.

    python3 -m benchmarks.bench_export [--checkpoint C] [--repeats 20] [--threads N]

Without --checkpoint, the authors' HM-Conformer (default configuration) with random weights:
the latency depends on the graph and its sizes, not on the weight values. Prints the median
time per call of each runtime and the largest score difference from PyTorch.
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch

from benchmarks.published import published
from benchmarks.random_checkpoint import random_checkpoint
from tools import export


def _median_ms(call, repeats: int) -> float:
    call()                                        # warm-up: allocations, ONNX Runtime's first run
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--checkpoint', help='default: the default HM-Conformer with random weights')
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    options = parser.parse_args()
    import onnxruntime
    torch.set_num_threads(options.threads)
    folder = tempfile.mkdtemp(prefix='bench_export_')
    checkpoint = options.checkpoint or random_checkpoint(folder)
    scorer, info = export.load_scorer(checkpoint)
    export.export(checkpoint, 'torchscript', os.path.join(folder, 'model.pt'))
    export.export(checkpoint, 'onnx', os.path.join(folder, 'model.onnx'))
    traced = torch.jit.load(os.path.join(folder, 'model.pt'))
    settings = onnxruntime.SessionOptions()
    settings.intra_op_num_threads = options.threads
    session = onnxruntime.InferenceSession(os.path.join(folder, 'model.onnx'), settings,
                                           providers=['CPUExecutionProvider'])
    crop = info['test_crop_samples']
    print(f"{info['backbone']}, {crop / info['sample_rate']:.2f} s clips, {options.threads} threads, "
          f"median of {options.repeats} calls")
    print(f"{'batch':>5}  {'PyTorch ms':>10}  {'TorchScript ms':>14}  {'ONNX Runtime ms':>15}  {'max |diff|':>10}")
    for batch in (1, 32):
        wave = 0.1 * torch.randn(batch, crop, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            eager_ms = _median_ms(lambda: scorer(wave), options.repeats)
            script_ms = _median_ms(lambda: traced(wave), options.repeats)
            expected = scorer(wave).numpy()
        onnx_ms = _median_ms(lambda: session.run(None, {'wave': wave.numpy()}), options.repeats)
        difference = float(np.abs(session.run(None, {'wave': wave.numpy()})[0] - expected).max())
        print(f"{batch:>5}  {eager_ms:>10.1f}  {script_ms:>14.1f}  {onnx_ms:>15.1f}  {difference:>10.2e}")


if __name__ == '__main__':
    with published('bench_export'):
        main()
