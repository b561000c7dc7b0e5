"""The ASVspoof 5 track-1 metrics beside the EER: minDCF, actDCF and Cllr, computed as
the challenge's evaluation package does (its calculate_modules.py).

Scores: higher = more bona fide. minDCF needs any scores; actDCF and Cllr read the
scores as log-likelihood ratios log p(x | bona fide) / p(x | spoof), so they mean
something only for calibrated scores (evaluation/calibration.py).
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from evaluation.metrics import det_curve


@dataclass(frozen=True)
class DetectionCosts:
    """The challenge's cost model: prior of a spoof, cost of rejecting bona fide speech,
    cost of accepting a spoof."""
    p_spoof: float = 0.05
    c_miss: float = 1.0
    c_fa: float = 10.0

    @property
    def default_cost(self) -> float:
        """The cost of the better of 'accept all' and 'reject all', which normalises a DCF."""
        return min(self.c_miss * (1 - self.p_spoof), self.c_fa * self.p_spoof)

    @property
    def bayes_threshold(self) -> float:
        """The LLR above which accepting as bona fide costs less: -log(beta),
        beta = c_miss (1 - p_spoof) / (c_fa p_spoof)."""
        return float(-np.log(self.c_miss * (1 - self.p_spoof) / (self.c_fa * self.p_spoof)))

    def normalised_cost(self, miss_rate, false_alarm_rate):
        return (self.c_miss * (1 - self.p_spoof) * miss_rate + self.c_fa * self.p_spoof * false_alarm_rate) \
            / self.default_cost


ASVSPOOF5_COSTS = DetectionCosts()


def min_dcf(bona_scores: np.ndarray, spoof_scores: np.ndarray,
            costs: DetectionCosts = ASVSPOOF5_COSTS) -> Tuple[float, float]:
    """(minimum normalised DCF over every threshold of the DET curve, that threshold)."""
    frr, far, thresholds = det_curve(bona_scores, spoof_scores)
    curve = costs.normalised_cost(frr, far)
    index = int(np.argmin(curve))  # the first minimum, as the package's strict '<' keeps it
    return float(curve[index]), float(thresholds[index])


def act_dcf(bona_llrs: np.ndarray, spoof_llrs: np.ndarray, costs: DetectionCosts = ASVSPOOF5_COSTS) -> float:
    """Normalised DCF of the decisions at the Bayes threshold: bona fide rejected when its
    LLR is below it, spoof accepted when at or above it."""
    threshold = costs.bayes_threshold
    miss = np.mean(np.asarray(bona_llrs) < threshold)
    false_alarm = np.mean(np.asarray(spoof_llrs) >= threshold)
    return float(costs.normalised_cost(miss, false_alarm))


def cllr(bona_llrs: np.ndarray, spoof_llrs: np.ndarray) -> float:
    """Cost of the log-likelihood ratios in bits: 0 perfect, 1 an uninformative system,
    above 1 worse than saying nothing (badly calibrated)."""
    bona_cost = np.mean(np.logaddexp(0.0, -np.asarray(bona_llrs, float)))
    spoof_cost = np.mean(np.logaddexp(0.0, np.asarray(spoof_llrs, float)))
    return float((bona_cost + spoof_cost) / (2 * np.log(2)))
