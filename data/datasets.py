"""Training (two views) and evaluation datasets over ASVspoof trials (docs/method.md section 5)."""
import multiprocessing
import sys
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from data.audio import AudioReadError, read_audio
from data.protocol import Trial
from data.views import Augment, Codec, make_view


class TwoViewDataset(Dataset):
    """Item i -> (long_view (crop_long,), short_view (crop_short,), label), float32 tensors.

    Both views are cut from the same file and augmented independently: codec (applying
    itself with its own probability) on the first codec_crop_factor x crop samples, wrap
    padding, long view from the start and short view a random window, then RawBoost.
    An unreadable or empty file is skipped (named once, remembered, another item drawn);
    the run stops when the distinct unreadable files exceed `max_failure_rate` of the
    distinct files of the set, however often each was drawn.
    """

    def __init__(self, trials: List[Trial], crop_long: int, crop_short: int, codec: Optional[Codec] = None,
                 rawboost: Optional[Augment] = None, codec_crop_factor: float = 1.2, rand_seed: int = 0,
                 rank: int = 0, max_failure_rate: float = 0.01, sample_rate: int = 16000):
        self.trials, self.crop_long, self.crop_short = trials, crop_long, crop_short
        self.codec, self.rawboost, self.codec_crop_factor = codec, rawboost, codec_crop_factor
        self.seed, self.rank, self.sample_rate = rand_seed, rank, sample_rate
        # one flag per distinct file, shared with the DataLoader workers
        paths = sorted({trial.path for trial in trials})
        self.file_ids = {path: i for i, path in enumerate(paths)}
        self.max_failure_rate = max_failure_rate
        self.unreadable = multiprocessing.Array('b', len(paths))
        self.failures = multiprocessing.Value('i', 0)
        self.rng = np.random.default_rng([rand_seed, rank])

    def set_epoch(self, epoch: int) -> None:
        """Reseed the in-process generator (num_workers=0) so that an epoch's draws
        depend only on (seed, rank, epoch), which makes a resumed run exact."""
        self.rng = np.random.default_rng([self.seed, self.rank, epoch])

    def seed_worker(self, worker_seed: int) -> None:
        """A generator of its own for each (worker, rank, epoch): numpy's global state is
        copied into every worker, so it is never used."""
        self.rng = np.random.default_rng([worker_seed, self.rank])

    def __len__(self) -> int:
        return len(self.trials)

    def _read(self, index: int) -> Tuple[np.ndarray, int]:
        while True:
            trial = self.trials[index]
            file_id = self.file_ids[trial.path]
            if not self.unreadable[file_id]:
                try:
                    return read_audio(trial.path, self.sample_rate), trial.label
                except AudioReadError as error:
                    self._record_failure(file_id, trial.path, error)
            index = int(self.rng.integers(len(self.trials)))

    def _record_failure(self, file_id: int, path: str, error: Exception) -> None:
        with self.unreadable.get_lock():
            first_time = not self.unreadable[file_id]
            self.unreadable[file_id] = 1
            if first_time:
                self.failures.value += 1
            count = self.failures.value
        total = len(self.file_ids)
        if first_time:
            print(f"[data] skipping an unreadable training file ({count} of {total:,} so far): {error}",
                  file=sys.stderr)
        if count > self.max_failure_rate * total:
            names = sorted(p for p, i in self.file_ids.items() if self.unreadable[i])
            listed = '\n    '.join(names[:10])
            raise RuntimeError(f"{count} of {total:,} training files are unreadable, more than "
                               f"{self.max_failure_rate:.0%} of the set; the first {min(10, count)}:\n    {listed}")

    def __getitem__(self, index: int):
        wave, label = self._read(index)
        views = [make_view(wave, crop, random_window, self.rng, self.codec, self.codec_crop_factor, self.rawboost)
                 for crop, random_window in ((self.crop_long, False), (self.crop_short, True))]
        return torch.from_numpy(views[0]).float(), torch.from_numpy(views[1]).float(), label


class EvalDataset(Dataset):
    """Item i -> (wave (crop,), utt_id, attack, label): the test crop from the start,
    wrap-padded when shorter (only the crop's samples are read). An unreadable file stops the run (an evaluation with
    holes gives a wrong EER)."""

    def __init__(self, trials: List[Trial], crop: int, sample_rate: int = 16000):
        self.trials, self.crop, self.sample_rate = trials, crop, sample_rate

    def __len__(self) -> int:
        return len(self.trials)

    def __getitem__(self, index: int):
        trial = self.trials[index]
        wave = read_audio(trial.path, self.sample_rate, max_samples=self.crop)
        view = make_view(wave, self.crop, False, None)
        return torch.from_numpy(view).float(), trial.utt_id, trial.attack, trial.label


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: give the worker's dataset copy its own generator."""
    info = get_worker_info()
    if info is not None and hasattr(info.dataset, 'seed_worker'):
        info.dataset.seed_worker(info.seed)
