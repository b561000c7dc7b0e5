"""Scoring an evaluation set on every rank and reporting it on rank 0 (SPEC section 11)."""
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from data.datasets import EvalDataset
from data.protocol import Trial
from trainer.distributed import is_distributed, unwrap
from utils.breakdown import BreakdownRow, eer_breakdown, format_table, write_tsv
from utils.metrics import check_asv_covers, compute_eer, min_tdcf, read_asv_scores
from utils.plots import det_plot, score_histograms

ASV_EVAL_SCORES = 'LA/ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.eval.gi.trl.scores.txt'


@torch.no_grad()
def score_trials(model: torch.nn.Module, trials: List[Trial], crop: int, batch_size: int, device: torch.device,
                 num_workers: int = 0, desc: str = 'scoring') -> np.ndarray:
    """One score per trial, in trial order, gathered from all ranks (the padding
    duplicates of DistributedSampler are dropped)."""
    detector = unwrap(model)
    detector.eval()
    dataset = EvalDataset(trials, crop)
    world = dist.get_world_size() if is_distributed() else 1
    rank = dist.get_rank() if is_distributed() else 0
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False) if world > 1 else None
    indices = list(iter(sampler)) if sampler is not None else list(range(len(dataset)))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers)
    local = []
    for wave, _, _, _ in tqdm(loader, desc=desc, disable=rank != 0, leave=False):
        local.append(detector.score(wave.to(device)).float())
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


@dataclass
class SetReport:
    name: str
    eer: float                      # percent
    threshold: float
    min_tdcf: Optional[float]
    rows: List[BreakdownRow]


def write_score_files(folder: str, stem: str, trials: List[Trial], scores: np.ndarray) -> Dict[str, str]:
    """`<stem>.txt` with `utt_id score` lines and `<stem>.tsv` with attack, label and conditions."""
    os.makedirs(folder, exist_ok=True)
    text, table = os.path.join(folder, stem + '.txt'), os.path.join(folder, stem + '.tsv')
    columns = sorted({key for trial in trials for key in trial.conditions})
    with open(text, 'w', encoding='utf-8') as plain, open(table, 'w', encoding='utf-8') as tsv:
        tsv.write('\t'.join(['utt_id', 'attack', 'label'] + columns + ['score']) + '\n')
        for trial, score in zip(trials, scores):
            plain.write(f"{trial.utt_id} {score:.6f}\n")
            tsv.write('\t'.join([trial.utt_id, trial.attack, str(trial.label)]
                                + [trial.conditions.get(c, '') for c in columns] + [f"{score:.6f}"]) + '\n')
    return {'scores': text, 'table': table}


def report_set(name: str, trials: List[Trial], scores: np.ndarray, epoch: int, logger, folder: str,
               asv_scores_path: Optional[str] = None, log=print) -> SetReport:
    """EER, breakdown, min t-DCF (when ASV scores are given), score files, plots, logs."""
    labels = np.array([t.label for t in trials])
    attacks = [t.attack for t in trials]
    eer, threshold = compute_eer(scores[labels == 1], scores[labels == 0])
    rows = eer_breakdown(scores, labels, attacks, [t.conditions for t in trials])
    tdcf = None
    if asv_scores_path is not None and os.path.isfile(asv_scores_path):
        asv = read_asv_scores(asv_scores_path)
        check_asv_covers(asv, attacks, asv_scores_path)
        tdcf = min_tdcf(scores[labels == 1], scores[labels == 0], asv)
    stem = f"{name}_epoch{epoch}"
    write_score_files(folder, stem, trials, scores)
    write_tsv(rows, os.path.join(folder, stem + '_breakdown.tsv'))
    title = f"{name} epoch {epoch}: EER {100 * eer:.3f} %" + (f", min t-DCF {tdcf:.4f}" if tdcf is not None else '')
    log(format_table(rows, title))
    logger.log_metric(f"eval/{name}/eer", 100 * eer, epoch)
    if tdcf is not None:
        logger.log_metric(f"eval/{name}/min_tdcf", tdcf, epoch)
    for row in rows[1:]:
        if not math.isnan(row.eer):
            logger.log_metric(f"eval/{name}/{row.group}/{row.value}/eer", row.eer, epoch)
    for figure_name, figure in ((f"{name}_scores_epoch{epoch}", score_histograms(scores, labels, attacks, title)),
                                (f"{name}_det_epoch{epoch}", det_plot(scores, labels, title))):
        logger.log_image(figure_name, figure)
        plt.close(figure)
    return SetReport(name, 100 * eer, threshold, tdcf, rows)
