"""What an evaluation set's scores say: EER, min t-DCF, the breakdown, score files, plots."""
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional

import matplotlib.pyplot as plt
import numpy as np

from data.protocol import Trial
from evaluation.breakdown import BreakdownRow, eer_breakdown, format_table, write_tsv
from evaluation.metrics import check_asv_covers, compute_eer, min_tdcf, read_asv_scores
from evaluation.plots import det_plot, score_histograms


@dataclass
class SetReport:
    name: str
    eer: float                      # percent
    threshold: float
    min_tdcf: Optional[float]
    rows: List[BreakdownRow]
    bona: int
    spoof: int


def score_set(name: str, trials: List[Trial], scores: np.ndarray,
              asv_scores_path: Optional[str] = None) -> SetReport:
    """EER (percent) and its threshold, the min t-DCF when ASV scores are given, and the
    breakdown per attack and condition; `scores[i]` belongs to `trials[i]`."""
    labels = np.array([t.label for t in trials])
    attacks = [t.attack for t in trials]
    eer, threshold = compute_eer(scores[labels == 1], scores[labels == 0])
    tdcf = None
    if asv_scores_path is not None:
        asv = read_asv_scores(asv_scores_path)
        check_asv_covers(asv, attacks, asv_scores_path)
        tdcf = min_tdcf(scores[labels == 1], scores[labels == 0], asv)
    rows = eer_breakdown(scores, labels, attacks, [t.conditions for t in trials])
    return SetReport(name, 100 * eer, threshold, tdcf, rows, int(labels.sum()), int((labels == 0).sum()))


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
    """score_set, then the score files, the breakdown TSV, the plots and the logged metrics
    (min t-DCF only when the ASV score file exists)."""
    if asv_scores_path is not None and not os.path.isfile(asv_scores_path):
        asv_scores_path = None
    report = score_set(name, trials, scores, asv_scores_path)
    stem = f"{name}_epoch{epoch}"
    write_score_files(folder, stem, trials, scores)
    write_tsv(report.rows, os.path.join(folder, stem + '_breakdown.tsv'))
    title = f"{name} epoch {epoch}: EER {report.eer:.3f} %" + (
        f", min t-DCF {report.min_tdcf:.4f}" if report.min_tdcf is not None else '')
    log(format_table(report.rows, title))
    logger.log_metric(f"eval/{name}/eer", report.eer, epoch)
    if report.min_tdcf is not None:
        logger.log_metric(f"eval/{name}/min_tdcf", report.min_tdcf, epoch)
    for row in report.rows[1:]:
        if not math.isnan(row.eer):
            logger.log_metric(f"eval/{name}/{row.group}/{row.value}/eer", row.eer, epoch)
    labels = np.array([t.label for t in trials])
    attacks = [t.attack for t in trials]
    for figure_name, figure in ((f"{name}_scores_epoch{epoch}", score_histograms(scores, labels, attacks, title)),
                                (f"{name}_det_epoch{epoch}", det_plot(scores, labels, title))):
        logger.log_image(figure_name, figure)
        plt.close(figure)
    return report
