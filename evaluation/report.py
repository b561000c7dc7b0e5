"""What an evaluation set's scores say: EER, min t-DCF, the breakdown, score files, plots."""
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import matplotlib.pyplot as plt
import numpy as np

from data.protocol import Trial
from evaluation.breakdown import BreakdownRow, eer_breakdown, format_table, write_tsv
from evaluation.calibration import LinearCalibration
from evaluation.dcf import act_dcf, cllr, min_dcf
from evaluation.metrics import check_asv_covers, compute_eer, min_tdcf, read_asv_scores
from evaluation.plots import det_plot, group_histograms, score_histograms


@dataclass
class SetReport:
    name: str
    eer: float                      # percent
    threshold: float
    min_tdcf: Optional[float]       # with the official ASV scores (2019 LA)
    rows: List[BreakdownRow]
    bona: int
    spoof: int
    min_dcf: float                  # ASVspoof 5 costs, on the scores as they are
    act_dcf: Optional[float]        # on LLRs: the calibrated scores (None without a calibration)
    cllr: Optional[float]           # bits, on the same LLRs


def score_set(name: str, trials: List[Trial], scores: np.ndarray, asv_scores_path: Optional[str] = None,
              calibration: Optional[LinearCalibration] = None) -> SetReport:
    """EER (percent) and its threshold, minDCF, the min t-DCF when ASV scores are given,
    actDCF and Cllr of the calibrated scores when a calibration is given, and the
    breakdown per attack and condition; `scores[i]` belongs to `trials[i]`."""
    labels = np.array([t.label for t in trials])
    attacks = [t.attack for t in trials]
    bona, spoof = scores[labels == 1], scores[labels == 0]
    eer, threshold = compute_eer(bona, spoof)
    tdcf = None
    if asv_scores_path is not None:
        asv = read_asv_scores(asv_scores_path)
        check_asv_covers(asv, attacks, asv_scores_path)
        tdcf = min_tdcf(bona, spoof, asv)
    actual, cost = None, None
    if calibration is not None:
        actual = act_dcf(calibration.llr(bona), calibration.llr(spoof))
        cost = cllr(calibration.llr(bona), calibration.llr(spoof))
    rows = eer_breakdown(scores, labels, attacks, [t.conditions for t in trials])
    return SetReport(name, 100 * eer, threshold, tdcf, rows, len(bona), len(spoof), min_dcf(bona, spoof)[0],
                     actual, cost)


def write_score_files(folder: str, stem: str, trials: List[Trial], scores: np.ndarray,
                      llrs: Optional[np.ndarray] = None) -> Dict[str, str]:
    """`<stem>.txt` with `utt_id score` lines, `<stem>.tsv` with attack, label, conditions
    (and the LLR), and with calibrated LLRs `<stem>_llr.txt` with `utt_id llr` lines."""
    os.makedirs(folder, exist_ok=True)
    paths = {'scores': os.path.join(folder, stem + '.txt'), 'table': os.path.join(folder, stem + '.tsv')}
    columns = sorted({key for trial in trials for key in trial.conditions})
    with open(paths['scores'], 'w', encoding='utf-8') as plain, open(paths['table'], 'w', encoding='utf-8') as tsv:
        tsv.write('\t'.join(['utt_id', 'attack', 'label'] + columns + ['score'] + (['llr'] if llrs is not None
                                                                                    else [])) + '\n')
        for index, (trial, score) in enumerate(zip(trials, scores)):
            plain.write(f"{trial.utt_id} {score:.6f}\n")
            tsv.write('\t'.join([trial.utt_id, trial.attack, str(trial.label)]
                                + [trial.conditions.get(c, '') for c in columns] + [f"{score:.6f}"]
                                + ([f"{llrs[index]:.6f}"] if llrs is not None else [])) + '\n')
    if llrs is not None:
        paths['llrs'] = os.path.join(folder, stem + '_llr.txt')
        with open(paths['llrs'], 'w', encoding='utf-8') as handle:
            handle.writelines(f"{trial.utt_id} {llr:.6f}\n" for trial, llr in zip(trials, llrs))
    return paths


@dataclass
class ReportTo:
    """Where a set's report goes: the run's loggers (metrics, figures), the folder of its score
    files, the printed table, and the metric names' root ('eval', or 'eval_<label>' for an extra
    evaluation of the same epoch)."""
    logger: Any
    folder: str
    log: Callable[[str], None] = print
    metric_root: str = 'eval'


def report_set(name: str, trials: List[Trial], scores: np.ndarray, epoch: int, to: ReportTo,
               asv_scores_path: Optional[str] = None, calibration: Optional[LinearCalibration] = None,
               label: Optional[str] = None) -> SetReport:
    """score_set, then the score files, the breakdown TSV, the plots and the logged metrics
    (min t-DCF only when the ASV score file exists; actDCF and Cllr with a calibration).
    Files are named `<name>_<label>` (label 'epoch<N>' by default, e.g. 'averaged' for an
    averaged model) and metrics `<to.metric_root>/<name>/...` at step `epoch`."""
    if asv_scores_path is not None and not os.path.isfile(asv_scores_path):
        asv_scores_path = None
    report = score_set(name, trials, scores, asv_scores_path, calibration)
    label = label or f"epoch{epoch}"
    stem = f"{name}_{label}"
    logger, log = to.logger, to.log
    write_score_files(to.folder, stem, trials, scores, calibration.llr(scores) if calibration is not None else None)
    write_tsv(report.rows, os.path.join(to.folder, stem + '_breakdown.tsv'))
    title = f"{name} {label.replace('epoch', 'epoch ')}: EER {report.eer:.3f} %, minDCF {report.min_dcf:.4f}" + (
        f", actDCF {report.act_dcf:.4f}, Cllr {report.cllr:.4f} bits" if report.cllr is not None else '') + (
        f", min t-DCF {report.min_tdcf:.4f}" if report.min_tdcf is not None else '')
    log(format_table(report.rows, title))
    root = f"{to.metric_root}/{name}"
    logger.log_metric(f"{root}/eer", report.eer, epoch)
    logger.log_metric(f"{root}/min_dcf", report.min_dcf, epoch)
    if report.cllr is not None:
        logger.log_metric(f"{root}/act_dcf", report.act_dcf, epoch)
        logger.log_metric(f"{root}/cllr", report.cllr, epoch)
    if report.min_tdcf is not None:
        logger.log_metric(f"{root}/min_tdcf", report.min_tdcf, epoch)
    for row in report.rows[1:]:
        if not math.isnan(row.eer):
            logger.log_metric(f"{root}/{row.group}/{row.value}/eer", row.eer, epoch)
    labels = np.array([t.label for t in trials])
    attacks = [t.attack for t in trials]
    figures = [(f"{name}_scores_{label}", lambda: score_histograms(scores, labels, attacks, title)),
               (f"{name}_det_{label}", lambda: det_plot(scores, labels, title))]
    for column in sorted({key for trial in trials for key in trial.conditions}):
        values = [trial.conditions.get(column, '') for trial in trials]
        figures.append((f"{name}_scores_by_{column}_{label}",
                        lambda values=values, column=column: group_histograms(scores, labels, values, column, title)))
    for figure_name, draw in figures:
        figure = draw()
        logger.log_image(figure_name, figure)
        plt.close(figure)
    return report
