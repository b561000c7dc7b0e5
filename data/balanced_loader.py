"""Balanced bona fide / spoof batches under DistributedDataParallel (docs/method.md section 4)."""
from typing import Iterator, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from data.datasets import seed_worker


class ResumableSampler(DistributedSampler):
    """DistributedSampler whose next pass can start past its first `skip_next` indices
    (resuming mid-epoch); the skip applies to one pass only."""

    skip_next = 0

    def __iter__(self):
        indices = list(super().__iter__())
        start, self.skip_next = self.skip_next, 0
        return iter(indices[start:])


def per_rank_batch(batch_size: int, world_size: int, ratio: float) -> int:
    """int(batch_size / world_size * ratio): 4 bona fide + 36 spoof with 40, 0.1 / 0.9."""
    return int(batch_size / world_size * ratio)


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
        self.bona_batch = per_rank_batch(batch_size, world_size, ratio_bona)
        self.spoof_batch = per_rank_batch(batch_size, world_size, ratio_spoof)
        if self.bona_batch < 2 or self.spoof_batch < 1:
            raise ValueError(f"batch_size={batch_size} over {world_size} processes gives {self.bona_batch} bona fide "
                             f"and {self.spoof_batch} spoof rows per process; the pair loss needs >= 2 bona fide")
        self.datasets = (bona, spoof)
        self.samplers = [ResumableSampler(d, num_replicas=world_size, rank=rank, shuffle=True, seed=rand_seed,
                                          drop_last=False) for d in (bona, spoof)]
        # own generators for the workers' base seeds, so that starting an iteration draws
        # nothing from the global torch generator (a resumed run then replays exactly)
        self.seed, self.rank = rand_seed, rank
        self.generators = [torch.Generator(), torch.Generator()]
        # persistent_workers off (the default): each epoch's workers are seeded anew (seed_worker),
        # which makes the draws depend only on (seed, rank, epoch) and a resumed run exact; on,
        # the workers carry their generators into the next epoch (no start-up per epoch, but a
        # resumed run's new workers draw differently from an uninterrupted run's)
        prefetch = {'prefetch_factor': prefetch_factor} if num_workers and prefetch_factor else {}
        self.loaders = [DataLoader(d, batch_size=b, sampler=s, num_workers=num_workers, drop_last=True,
                                   worker_init_fn=seed_worker, persistent_workers=persistent_workers and num_workers > 0,
                                   pin_memory=pin_memory,
                                   generator=g, **prefetch)
                        for d, b, s, g in zip((bona, spoof), (self.bona_batch, self.spoof_batch), self.samplers,
                                              self.generators)]
        if len(self.loaders[0]) == 0 or len(self.loaders[1]) == 0:
            raise ValueError(f"too few items for one batch per process: {len(bona)} bona fide, {len(spoof)} spoof")

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle both samplers; datasets with a `set_epoch` reseed their in-process generator."""
        for index, (sampler, dataset, generator) in enumerate(zip(self.samplers, self.datasets, self.generators)):
            sampler.set_epoch(epoch)
            generator.manual_seed(hash((self.seed, self.rank, epoch, index)) % (2 ** 63))
            if hasattr(dataset, 'set_epoch'):
                dataset.set_epoch(epoch)

    def rng_states(self) -> list:
        """States of the datasets' in-process generators (used when num_workers is 0)."""
        return [dataset.rng.bit_generator.state for dataset in self.datasets if hasattr(dataset, 'rng')]

    def restore_rng_states(self, states: list) -> None:
        for dataset, state in zip([d for d in self.datasets if hasattr(d, 'rng')], states):
            dataset.rng.bit_generator.state = state

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
