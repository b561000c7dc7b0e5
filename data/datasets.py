"""Training (two views) and evaluation datasets over ASVspoof trials (docs/method.md section 5)."""
import multiprocessing
import sys
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from data.audio import AudioReadError, read_audio
from data.protocol import Trial
from data.views import Augment, Codec, make_view
from utils.errors import RunFailed


class UnreadableData(RunFailed, RuntimeError):
    """Training files past the allowed share, or an evaluation file, could not be read; the
    message names them."""


class UnreadableFiles:
    """The distinct files of one training set (both classes) found unreadable, shared by its
    datasets and their loader workers: each is named once, and the run stops when they exceed
    `max_failure_rate` of the set's distinct files, however often each was drawn."""

    def __init__(self, paths, max_failure_rate: float = 0.01):
        self.file_ids = {path: i for i, path in enumerate(sorted(set(paths)))}
        self.max_failure_rate = max_failure_rate
        self.flags = multiprocessing.Array('b', len(self.file_ids))
        self.count = multiprocessing.Value('i', 0)

    def __contains__(self, path: str) -> bool:
        return bool(self.flags[self.file_ids[path]])

    def record(self, path: str, error: Exception) -> None:
        with self.flags.get_lock():
            first_time = not self.flags[self.file_ids[path]]
            self.flags[self.file_ids[path]] = 1
            if first_time:
                self.count.value += 1
            count = self.count.value
        total = len(self.file_ids)
        if first_time:
            print(f"[data] skipping an unreadable training file ({count} of {total:,} so far): {error}",
                  file=sys.stderr)
        if count > self.max_failure_rate * total:
            names = sorted(p for p, i in self.file_ids.items() if self.flags[i])
            listed = '\n    '.join(names[:10])
            raise UnreadableData(f"{count} of {total:,} training files are unreadable, more than "
                                 f"{self.max_failure_rate:.0%} of the set; the first {min(10, count)}:\n    {listed}")


class TwoViewDataset(Dataset):
    """Item i -> (long_view (crop_long,), short_view (crop_short,), label), float32 tensors.

    Both views are cut from the same file and augmented independently: codec (applying
    itself with its own probability) on the first codec_crop_factor x crop samples, wrap
    padding, long view from the start and short view a random window, then RawBoost.
    An unreadable or empty file is skipped (named once, remembered, another item drawn);
    the run stops when the distinct unreadable files exceed `max_failure_rate` of the
    distinct files of the set (`unreadable`, shared by the datasets of both classes; by
    default the set is this dataset's own files), however often each was drawn.

    `item` is an index, or (index, key) as BalancedLoader's sampler gives it: the item's
    draws come from a generator seeded with (rand_seed, *key), or (rand_seed, index), so
    they are the same in any process, worker or resumed run that meets the same key.
    """

    def __init__(self, trials: List[Trial], crop_long: int, crop_short: int, codec: Optional[Codec] = None,
                 rawboost: Optional[Augment] = None, codec_crop_factor: float = 1.2, rand_seed: int = 0,
                 max_failure_rate: float = 0.01, sample_rate: int = 16000,
                 unreadable: Optional[UnreadableFiles] = None):
        self.trials, self.crop_long, self.crop_short = trials, crop_long, crop_short
        self.codec, self.rawboost, self.codec_crop_factor = codec, rawboost, codec_crop_factor
        self.seed, self.sample_rate = rand_seed, sample_rate
        self.unreadable = unreadable or UnreadableFiles([trial.path for trial in trials], max_failure_rate)

    def __len__(self) -> int:
        return len(self.trials)

    def _read(self, index: int, rng: np.random.Generator) -> Tuple[np.ndarray, int]:
        while True:
            trial = self.trials[index]
            if trial.path not in self.unreadable:
                try:
                    return read_audio(trial.path, self.sample_rate), trial.label
                except AudioReadError as error:
                    self.unreadable.record(trial.path, error)
            index = int(rng.integers(len(self.trials)))

    def __getitem__(self, item: Union[int, Tuple[int, Tuple[int, ...]]]):
        index, key = item if isinstance(item, tuple) else (item, (item,))
        rng = np.random.default_rng([self.seed, *key])
        wave, label = self._read(index, rng)
        views = [make_view(wave, crop, random_window, rng, self.codec, self.codec_crop_factor, self.rawboost)
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
