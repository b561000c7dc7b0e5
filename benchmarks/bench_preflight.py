"""Time of the pre-flight header check on a folder of 2021 DF size.

    python3 -m benchmarks.bench_preflight [--files 533928] [--folder /tmp/preflight_df] [--workers N]
                                          [--decode --seconds 2.5]

With --decode, times the full decode of preflight_decode=True instead, over files of
`--seconds` each (2021 DF utterances last about 2.5 s on average); its DF-size cost is the
files/s printed into 611,829 files.

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

from benchmarks.published import published
from data.protocol import Trial
from data.validation import default_header_workers, unreadable_audio


def write_folder(folder: str, count: int, seconds: float = 0.1) -> list:
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = [os.path.join(folder, f"DF_E_{i:07d}.flac") for i in range(count)]
    missing = [p for p in paths if not os.path.isfile(p)]
    for path in tqdm(missing, desc='writing files', disable=not missing):
        sf.write(path, 0.1 * rng.standard_normal(int(16000 * seconds)), 16000, format='FLAC', subtype='PCM_16')
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--files', type=int, default=533_928)
    parser.add_argument('--folder', default='/tmp/preflight_df')
    parser.add_argument('--workers', type=int, default=None, help='threads (default: two per core)')
    parser.add_argument('--decode', action='store_true', help='time the whole-file decode (preflight_decode=True)')
    parser.add_argument('--seconds', type=float, default=None, help='length of each file (0.1 s; 2.5 s with --decode)')
    options = parser.parse_args()
    seconds = options.seconds or (2.5 if options.decode else 0.1)
    folder = options.folder + (f"_{seconds:g}s" if seconds != 0.1 else '')
    paths = write_folder(folder, options.files, seconds)
    trials = [Trial(os.path.basename(p)[:-5], p, 0, 'A01') for p in paths]
    for attempt in ('first pass', 'second pass'):
        start = time.perf_counter()
        bad = unreadable_audio(trials, 'DF-size folder', options.workers, decode=options.decode)
        elapsed = time.perf_counter() - start
        threads = options.workers or default_header_workers()
        what = 'files decoded' if options.decode else 'headers'
        print(f"{attempt}: {len(trials):,} {what} in {elapsed:.1f} s ({len(trials) / elapsed:,.0f} files/s, "
              f"{threads} threads, {os.cpu_count()} cores), {len(bad)} unreadable")


if __name__ == '__main__':
    with published('bench_preflight'):
        main()
