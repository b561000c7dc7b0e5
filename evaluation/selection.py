"""Which evaluation a run reports: the epoch chosen on development data, and the
per-set minima over epochs that the authors report (chosen on each test set itself,
hence "oracle").

A run's evaluations are kept as records, one per evaluation, plain dicts that a
checkpoint can hold:
    {'epoch': 5, 'dev': {...metrics} or None, 'sets': {'19LA': {...metrics}, ...},
     'threshold': float or None, 'bayes_threshold': {...} or None, 'calibration': {...} or None}
with metrics {'eer', 'threshold', 'min_dcf', 'act_dcf', 'cllr', 'min_tdcf', 'bona', 'spoof', 'groups'}
('groups': the EER per attack and per value of each grouping column, evaluation/breakdown.py).
"""
from typing import Dict, List, Optional

from evaluation.calibration import LinearCalibration
from evaluation.dcf import DetectionCosts
from evaluation.report import SetReport

METRICS = ('eer', 'min_dcf', 'act_dcf', 'cllr', 'min_tdcf')


def metrics_of(report: SetReport) -> dict:
    return {'eer': report.eer, 'threshold': report.threshold, 'min_dcf': report.min_dcf, 'act_dcf': report.act_dcf,
            'cllr': report.cllr, 'min_tdcf': report.min_tdcf, 'bona': report.bona, 'spoof': report.spoof,
            # plain Python values: a checkpoint holds the records, and weights-only loading takes no numpy scalar
            'groups': [{'group': str(row.group), 'value': str(row.value), 'bona': int(row.bona),
                        'spoof': int(row.spoof), 'eer': float(row.eer)} for row in report.rows[1:]]}


def bayes_threshold(calibration: Optional[LinearCalibration], p_spoof: float = DetectionCosts().p_spoof
                    ) -> Optional[dict]:
    """The Bayes decision threshold of the calibrated LLRs at `p_spoof` (the ASVspoof 5
    costs), and the raw score it corresponds to: {'p_spoof', 'llr', 'score'}."""
    if calibration is None or calibration.scale <= 0:
        return None
    llr = DetectionCosts(p_spoof=p_spoof).bayes_threshold
    return {'p_spoof': p_spoof, 'llr': llr, 'score': (llr - calibration.offset) / calibration.scale}


def development_metrics(record: dict, select_on: Optional[str]) -> Optional[dict]:
    """The metrics of the set `select_on` names in one evaluation record ('dev': its
    development set, whatever its name)."""
    if select_on is None:
        return None
    if select_on == 'dev':
        return record.get('dev')
    if record.get('dev') is not None and record['dev'].get('name') == select_on:
        return record['dev']
    return record['sets'].get(select_on)


def selected_record(records: List[dict], select_on: Optional[str]) -> Optional[dict]:
    """The record with the lowest development EER (the earliest on a tie); with
    `select_on` None, or when no record scored that set, the last record."""
    scored = [r for r in records if development_metrics(r, select_on) is not None]
    if not scored:
        return records[-1] if records else None
    return min(scored, key=lambda r: (development_metrics(r, select_on)['eer'], r['epoch']))


def oracle_minima(records: List[dict]) -> Dict[str, dict]:
    """{set: {'eer', 'epoch'}}: each set's lowest EER over the records and where it was
    (the earliest on a tie), as the authors report their results."""
    minima: Dict[str, dict] = {}
    for record in records:
        for name, metrics in record['sets'].items():
            if name not in minima or metrics['eer'] < minima[name]['eer']:
                minima[name] = {'eer': metrics['eer'], 'epoch': record['epoch']}
    return minima
