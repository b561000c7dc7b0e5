"""Scoring an evaluation set on every rank, gathered in trial order."""
from typing import Callable, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from data.audio import AudioReadError
from data.datasets import EvalDataset, UnreadableData
from data.protocol import Trial
from trainer.distributed import is_distributed, unwrap
from utils.errors import original_message


class EvaluationStopped(Exception):
    """A stop was requested (Ctrl-C, SIGTERM) between two evaluation batches."""


@torch.no_grad()
def score_trials(model: torch.nn.Module, trials: List[Trial], crop: int, batch_size: int, device: torch.device,
                 num_workers: int = 0, desc: str = 'scoring', sample_rate: int = 16000,
                 should_stop: Optional[Callable[[], bool]] = None) -> np.ndarray:
    """One score per trial, in trial order, gathered from all ranks (the padding
    duplicates of DistributedSampler are dropped); audio read at `sample_rate`.
    should_stop() is asked after each batch (on every rank, so it may hold a collective);
    True raises EvaluationStopped. A file that cannot be read raises UnreadableData naming it."""
    detector = unwrap(model)
    detector.eval()
    dataset = EvalDataset(trials, crop, sample_rate)
    world = dist.get_world_size() if is_distributed() else 1
    rank = dist.get_rank() if is_distributed() else 0
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False) if world > 1 else None
    indices = list(iter(sampler)) if sampler is not None else list(range(len(dataset)))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers)
    local = []
    try:
        for wave, _, _, _ in tqdm(loader, desc=desc, disable=rank != 0, leave=False):
            local.append(detector.score(wave.to(device)).float())
            if should_stop is not None and should_stop():
                raise EvaluationStopped(desc)
    except AudioReadError as error:       # raised in this process or (wrapped) in a loader worker
        raise UnreadableData(f"{desc}: {original_message(error)}") from None
    local = torch.cat(local) if local else torch.zeros(0, device=device)
    index_tensor = torch.tensor(indices, dtype=torch.long, device=local.device)
    if world > 1:
        gathered_scores = [torch.zeros_like(local) for _ in range(world)]
        gathered_indices = [torch.zeros_like(index_tensor) for _ in range(world)]
        dist.all_gather(gathered_scores, local)
        dist.all_gather(gathered_indices, index_tensor)
        local, index_tensor = torch.cat(gathered_scores), torch.cat(gathered_indices)
    scores = np.full(len(trials), np.nan)
    scores[index_tensor.cpu().numpy()] = local.cpu().numpy()
    if np.isnan(scores).any():
        raise RuntimeError(f"{int(np.isnan(scores).sum())} trials got no score")
    return scores
