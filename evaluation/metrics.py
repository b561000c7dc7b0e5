"""ASVspoof metrics: EER and the legacy (2019) min t-DCF, computed as the organisers do.

Scores: higher = more bona fide. Labels: 1 bona fide, 0 spoof.
"""
from typing import Dict, Iterable, Tuple

import numpy as np

from utils.text_file import text_lines

# ASVspoof 2019 legacy t-DCF cost model
COST_MODEL = {
    'Pspoof': 0.05,
    'Ptar': (1 - 0.05) * 0.99,   # 0.9405
    'Pnon': (1 - 0.05) * 0.01,   # 0.0095
    'Cmiss_asv': 1, 'Cfa_asv': 10,
    'Cmiss_cm': 1, 'Cfa_cm': 10,
}


def det_curve(bona_scores: np.ndarray, spoof_scores: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FRR, FAR, thresholds) with the threshold swept over every score.

    Point k rejects the k lowest scores; point 0 rejects nothing. Ties: as in the
    organisers' code, a stable sort of [bona fide, spoof] scores walks through tied
    scores one trial at a time, bona fide first, so tied scores of both classes form
    intermediate points that no real threshold realises.
    """
    bona_scores, spoof_scores = np.asarray(bona_scores, float), np.asarray(spoof_scores, float)
    scores = np.concatenate([bona_scores, spoof_scores])
    labels = np.concatenate([np.ones(len(bona_scores)), np.zeros(len(spoof_scores))])
    order = np.argsort(scores, kind='mergesort')
    rejected_bona = np.cumsum(labels[order])
    accepted_spoof = len(spoof_scores) - (np.arange(1, len(scores) + 1) - rejected_bona)
    frr = np.concatenate([[0.0], rejected_bona / len(bona_scores)])
    far = np.concatenate([[1.0], accepted_spoof / len(spoof_scores)])
    thresholds = np.concatenate([[scores[order[0]] - 0.001], scores[order]])
    return frr, far, thresholds


def compute_eer(bona_scores: np.ndarray, spoof_scores: np.ndarray) -> Tuple[float, float]:
    """(EER as a fraction, threshold): the point where |FRR - FAR| is smallest, (FRR + FAR) / 2 there.

    Scores at or below the threshold are rejected as spoof."""
    if len(bona_scores) == 0 or len(spoof_scores) == 0:
        raise ValueError(f"EER needs both classes: {len(bona_scores)} bona fide, {len(spoof_scores)} spoof scores")
    frr, far, thresholds = det_curve(bona_scores, spoof_scores)
    index = int(np.argmin(np.abs(frr - far)))
    return float((frr[index] + far[index]) / 2), float(thresholds[index])


def read_asv_scores(path: str) -> Dict[str, np.ndarray]:
    """Official ASV score file `<source> <key> <score>` -> {'target', 'nontarget', 'spoof'} scores,
    plus 'spoof/<attack>' for each spoofing source."""
    sources, keys, values = [], [], []
    for line_number, line in text_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise ValueError(f"{path}:{line_number}: expected '<source> <key> <score>', got {line.strip()!r}")
        sources.append(fields[0])
        keys.append(fields[1])
        values.append(float(fields[2]))
    sources, keys, values = np.array(sources), np.array(keys), np.array(values)
    table = {key: values[keys == key] for key in ('target', 'nontarget', 'spoof')}
    for attack in np.unique(sources[keys == 'spoof']):
        table[f'spoof/{attack}'] = values[(keys == 'spoof') & (sources == attack)]
    return table


def check_asv_covers(asv: Dict[str, np.ndarray], attacks: Iterable[str], path: str) -> None:
    """Every spoofing attack of the CM trials must have ASV spoof scores (as in the official file)."""
    absent = sorted({a for a in attacks if a != 'bonafide'} - {k.split('/', 1)[1] for k in asv if '/' in k})
    if absent:
        raise ValueError(f"the ASV score file {path} does not cover the trials: no ASV scores for attacks "
                         f"{', '.join(absent)}")


def asv_error_rates(asv: Dict[str, np.ndarray], spoof_key: str = 'spoof') -> Tuple[float, float, float]:
    """(Pfa_asv, Pmiss_asv, Pmiss_spoof_asv) at the ASV EER threshold."""
    _, threshold = compute_eer(asv['target'], asv['nontarget'])
    p_fa = float(np.mean(asv['nontarget'] >= threshold))
    p_miss = float(np.mean(asv['target'] < threshold))
    p_miss_spoof = float(np.mean(asv[spoof_key] < threshold))
    return p_fa, p_miss, p_miss_spoof


def min_tdcf(bona_scores: np.ndarray, spoof_scores: np.ndarray, asv: Dict[str, np.ndarray],
             spoof_key: str = 'spoof', cost: Dict[str, float] = COST_MODEL) -> float:
    """Minimum normalised t-DCF (ASVspoof 2019 legacy definition) over all CM thresholds."""
    for key in ('target', 'nontarget', spoof_key):
        if len(asv.get(key, ())) == 0:
            raise ValueError(f"the ASV scores hold no '{key}' trials, needed for the t-DCF")
    p_fa_asv, p_miss_asv, p_miss_spoof_asv = asv_error_rates(asv, spoof_key)
    c1 = cost['Ptar'] * (cost['Cmiss_cm'] - cost['Cmiss_asv'] * p_miss_asv) - cost['Pnon'] * cost['Cfa_asv'] * p_fa_asv
    c2 = cost['Cfa_cm'] * cost['Pspoof'] * (1 - p_miss_spoof_asv)
    if c1 < 0 or c2 < 0:
        raise ValueError('t-DCF cost coefficients are negative: the ASV error rates or cost model are inconsistent')
    p_miss_cm, p_fa_cm, _ = det_curve(bona_scores, spoof_scores)
    tdcf = c1 * p_miss_cm + c2 * p_fa_cm
    return float(np.min(tdcf / min(c1, c2)))
