"""Time of the pre-flight header check on a folder of 2021 DF size.

    python3 -m benchmarks.bench_preflight [--files 533928] [--folder /tmp/preflight_df] [--workers N]

Writes `--files` small distinct FLAC files once (a generated folder in the DF layout's
flat form), then times `data.validation.unreadable_audio` over them, cold-ish (first
pass after writing) and warm (second pass). Prints files per second and the total.
"""
import argparse
import os
import time

import numpy as np
import soundfile as sf
from tqdm import tqdm

from data.protocol import Trial
from data.validation import default_header_workers, unreadable_audio


def write_folder(folder: str, count: int) -> list:
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = [os.path.join(folder, f"DF_E_{i:07d}.flac") for i in range(count)]
    missing = [p for p in paths if not os.path.isfile(p)]
    for path in tqdm(missing, desc='writing files', disable=not missing):
        sf.write(path, 0.1 * rng.standard_normal(1600), 16000, format='FLAC', subtype='PCM_16')
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--files', type=int, default=533_928)
    parser.add_argument('--folder', default='/tmp/preflight_df')
    parser.add_argument('--workers', type=int, default=None, help='threads (default: two per core)')
    options = parser.parse_args()
    paths = write_folder(options.folder, options.files)
    trials = [Trial(os.path.basename(p)[:-5], p, 0, 'A01') for p in paths]
    for attempt in ('first pass', 'second pass'):
        start = time.perf_counter()
        bad = unreadable_audio(trials, 'DF-size folder', options.workers)
        elapsed = time.perf_counter() - start
        threads = options.workers or default_header_workers()
        print(f"{attempt}: {len(trials):,} headers in {elapsed:.1f} s ({len(trials) / elapsed:,.0f} files/s, "
              f"{threads} threads, {os.cpu_count()} cores), {len(bad)} unreadable")


if __name__ == '__main__':
    main()
