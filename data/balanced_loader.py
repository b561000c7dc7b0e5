"""Balanced bona fide / spoof batches under DistributedDataParallel (docs/method.md section 4)."""
from typing import Iterator, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from utils.config import ConfigError


class PositionSampler(DistributedSampler):
    """DistributedSampler that yields (index, draw key) pairs. The key, (stream, epoch, pass,
    position of the item in the epoch's global order), seeds the item's augmentation draws
    (TwoViewDataset), so that they depend neither on how many processes share the epoch nor
    on the workers nor on where a resumed run starts. `stream` tells the bona fide and the
    spoof loader apart; `pass_index` counts the restarts of a loader within an epoch; a pass
    can start past its first `skip_next` items (resuming mid-epoch)."""

    def __init__(self, dataset: Dataset, stream: int, **options):
        super().__init__(dataset, **options)
        self.stream, self.pass_index, self.skip_next = stream, 0, 0

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.pass_index = 0

    def __iter__(self):
        indices = list(super().__iter__())
        start, self.skip_next = self.skip_next, 0
        key = (self.stream, self.epoch, self.pass_index)
        self.pass_index += 1
        # rank r holds positions r, r + N, r + 2N, ... of the epoch's (padded) permutation
        return iter([(index, (*key, self.rank + self.num_replicas * position))
                     for position, index in enumerate(indices) if position >= start])


def per_process_rows(batch_size: int, ratio_bona: float, ratio_spoof: float, world_size: int) -> Tuple[int, int]:
    """(bona fide, spoof) rows of each process's share of a global batch: int(batch_size *
    ratio) of each class, divided by the number of processes (4 + 36 with 40, 0.1 / 0.9; 2 + 18
    on two processes). A number of processes that divides neither count evenly is refused, so
    that the processes' rows together are always the one-process batch."""
    rows = int(batch_size * ratio_bona), int(batch_size * ratio_spoof)
    if rows[0] % world_size or rows[1] % world_size:
        fitting = [n for n in range(1, min(rows) + 1) if rows[0] % n == 0 and rows[1] % n == 0]
        raise ConfigError(f"batch_size={batch_size} holds {rows[0]} bona fide + {rows[1]} spoof rows "
                          f"(ratio_bona={ratio_bona}, ratio_spoof={ratio_spoof}), which {world_size} processes "
                          f"cannot share evenly; process counts that can: {', '.join(map(str, fitting))} "
                          f"(or change batch_size)")
    return rows[0] // world_size, rows[1] // world_size


class BalancedLoader:
    """Yields (long (B, N), short (B, N'), labels (B,)) with the bona fide rows first.

    Two DataLoaders, each with its own DistributedSampler(shuffle=True); the one with
    more batches defines the epoch (QUIRK:larger-loader-epoch: the bona fide one on a tie, as the authors' train.py
    decides), the other is restarted whenever it runs out. With the published ratios
    and without the vocoder copies that is the bona fide loader (2,580 / 4 = 645
    batches against 22,800 / 36 = 633); with them, the spoof loader.
    """

    def __init__(self, bona: Dataset, spoof: Dataset, batch_size: int, ratio_bona: float, ratio_spoof: float,
                 world_size: int = 1, rank: int = 0, num_workers: int = 0, rand_seed: int = 0,
                 pin_memory: bool = False, prefetch_factor: Optional[int] = None, persistent_workers: bool = False):
        self.bona_batch, self.spoof_batch = per_process_rows(batch_size, ratio_bona, ratio_spoof, world_size)
        self.datasets = (bona, spoof)
        self.samplers = [PositionSampler(d, stream, num_replicas=world_size, rank=rank, shuffle=True, seed=rand_seed,
                                         drop_last=False) for stream, d in enumerate((bona, spoof))]
        # own generators for the DataLoaders' base seeds: starting an iteration then draws nothing
        # from the global torch generator, which the batch augmentation and dropout draw from
        self.seed, self.rank = rand_seed, rank
        self.generators = [torch.Generator(), torch.Generator()]
        prefetch = {'prefetch_factor': prefetch_factor} if num_workers and prefetch_factor else {}
        self.loaders = [DataLoader(d, batch_size=b, sampler=s, num_workers=num_workers, drop_last=True,
                                   persistent_workers=persistent_workers and num_workers > 0, pin_memory=pin_memory,
                                   generator=g, **prefetch)
                        for d, b, s, g in zip((bona, spoof), (self.bona_batch, self.spoof_batch), self.samplers,
                                              self.generators)]
        if len(self.loaders[0]) == 0 or len(self.loaders[1]) == 0:
            raise ValueError(f"too few items for one batch per process: {len(bona)} bona fide, {len(spoof)} spoof")

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle both samplers (the same permutation on every process)."""
        for index, (sampler, generator) in enumerate(zip(self.samplers, self.generators)):
            sampler.set_epoch(epoch)
            generator.manual_seed(hash((self.seed, self.rank, epoch, index)) % (2 ** 63))

    @property
    def _bona_defines_epoch(self) -> bool:
        return len(self.loaders[0]) >= len(self.loaders[1])

    def __len__(self) -> int:
        """Batches in a full epoch (the larger loader's)."""
        return max(len(loader) for loader in self.loaders)

    def iterate(self, skip_batches: int = 0) -> Iterator[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The epoch's batches after the first `skip_batches`, without loading the skipped ones."""
        big, small = (0, 1) if self._bona_defines_epoch else (1, 0)
        batch_rows = (self.bona_batch, self.spoof_batch)
        self.samplers[big].skip_next = skip_batches * batch_rows[big]
        self.samplers[small].skip_next = (skip_batches % len(self.loaders[small])) * batch_rows[small]
        self.samplers[small].pass_index = skip_batches // len(self.loaders[small])
        small_iterator = iter(self.loaders[small])
        for big_batch in self.loaders[big]:
            try:
                small_batch = next(small_iterator)
            except StopIteration:
                small_iterator = iter(self.loaders[small])
                small_batch = next(small_iterator)
            bona, spoof = (big_batch, small_batch) if big == 0 else (small_batch, big_batch)
            yield tuple(torch.cat([b, s]) for b, s in zip(bona, spoof))

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        return self.iterate(0)
