"""HiFi-GAN copy-synthesis of every spoof utterance of the ASVspoof 2019 LA train set.

    python3 -m tools.vocode_hifigan --checkpoint generator_v1 --path_19LA /data/ASVspoof2019 [--device cuda]
                                    [--workers N] [--batch 16] [--config v1|v2|v3] [--check]

For each spoof row of the train protocol: read the 16 kHz FLAC, resample to the
generator's rate, compute its mel, generate, resample back to 16 kHz, keep the source
length, divide by the peak if it exceeds 1, and write 16-bit FLAC with the same id to
LA/ASVspoof2019_LA_train/vocoder/hifi_gan/flac/. Bona fide rows are never vocoded.
Existing readable outputs are skipped (resumable); every file is written to a
temporary name and renamed. --check verifies that every spoof utterance has a
readable copy of the same duration.
"""
import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import List, Optional, Tuple

import soundfile as sf
import torch
from tqdm import tqdm

from data.protocol import LA19_VOCODED, Trial, read_asvspoof2019
from utils.atomic import atomic_write
from vocoder.copy_synthesis import SOURCE_RATE, CopySynthesiser
from vocoder.hifigan import CONFIGS, load_generator


def spoof_jobs(root: str) -> List[Tuple[Trial, str]]:
    """(source trial, output path) for every spoof row of the train protocol."""
    folder = os.path.join(root, LA19_VOCODED)
    return [(t, os.path.join(folder, t.utt_id + '.flac')) for t in read_asvspoof2019(root, 'train') if t.label == 0]


def readable(path: str, expected_frames: Optional[int] = None) -> bool:
    try:
        info = sf.info(path)
        if info.frames <= 0:
            return False
        sf.read(path, frames=16, dtype='float32')
    except Exception:
        return False
    return expected_frames is None or info.frames == expected_frames


def vocode(jobs: List[Tuple[Trial, str]], synthesiser: CopySynthesiser, batch: int = 1, progress=None) -> int:
    """Synthesise and write `jobs` in batches; returns the number written."""
    written = 0
    for start in range(0, len(jobs), batch):
        chunk = jobs[start:start + batch]
        waves = [sf.read(trial.path, dtype='float64')[0] for trial, _ in chunk]
        for (_, output), wave in zip(chunk, synthesiser(waves)):
            atomic_write(output, lambda temporary: sf.write(temporary, wave, SOURCE_RATE, format='FLAC',
                                                            subtype='PCM_16'))
            written += 1
        if progress is not None:
            progress.update(len(chunk))
    return written


_worker_synthesiser = None


def _init_worker(checkpoint: str, config_name: str) -> None:
    global _worker_synthesiser
    torch.set_num_threads(1)
    _worker_synthesiser = CopySynthesiser(load_generator(checkpoint, CONFIGS[config_name]), torch.device('cpu'))


def _worker_job(job: Tuple[Trial, str]) -> int:
    return vocode([job], _worker_synthesiser)


def check(jobs: List[Tuple[Trial, str]]) -> List[str]:
    """Problems: missing or unreadable copies, or copies whose length differs from the source."""
    problems = []
    for trial, output in jobs:
        if not readable(output):
            problems.append(f"missing or unreadable: {output}")
        elif sf.info(output).frames != sf.info(trial.path).frames:
            problems.append(f"length {sf.info(output).frames} != source {sf.info(trial.path).frames}: {output}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', help="generator checkpoint of the HiFi-GAN release ({'generator': ...})")
    parser.add_argument('--path_19LA', required=True, help='ASVspoof 2019 root (holds LA/)')
    parser.add_argument('--config', default='v1', choices=sorted(CONFIGS),
                        help='configuration when no config.json lies beside the checkpoint')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--workers', type=int, default=1, help='processes on CPU')
    parser.add_argument('--batch', type=int, default=16, help='utterances per batch on GPU')
    parser.add_argument('--check', action='store_true', help='only verify the copies')
    options = parser.parse_args(argv)
    jobs = spoof_jobs(options.path_19LA)
    if options.check:
        problems = check(jobs)
        for problem in problems[:20]:
            print(problem)
        print(f"{len(jobs) - len(problems)} of {len(jobs)} spoof utterances have a good copy")
        return 1 if problems else 0
    if not options.checkpoint:
        parser.error('--checkpoint is needed to synthesise')
    todo = [(trial, output) for trial, output in jobs if not readable(output)]
    print(f"{len(jobs)} spoof utterances, {len(jobs) - len(todo)} already done, {len(todo)} to synthesise")
    with tqdm(total=len(todo), desc='HiFi-GAN copies', dynamic_ncols=True) as progress:
        device = torch.device(options.device)
        if device.type == 'cpu' and options.workers > 1:
            with ProcessPoolExecutor(options.workers, initializer=_init_worker,
                                     initargs=(options.checkpoint, options.config)) as pool:
                for _ in pool.map(_worker_job, todo, chunksize=4):
                    progress.update(1)
        else:
            synthesiser = CopySynthesiser(load_generator(options.checkpoint, CONFIGS[options.config]), device)
            vocode(todo, synthesiser, options.batch if device.type == 'cuda' else 1, progress)
    return 0


if __name__ == '__main__':
    sys.exit(main())
