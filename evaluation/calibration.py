"""Linear calibration of detector scores to log-likelihood ratios.

The cosine score ranks trials well but is not an LLR, so actDCF and Cllr are
meaningless on it. `fit_calibration` finds llr = scale * score + offset by logistic
regression on a held-out development set, with the two classes weighted equally
(the prior-weighted logistic regression of the BOSARIS toolkit at prior 0.5): the
result minimises the development set's Cllr and is an LLR, not a posterior log-odds,
so any prior can be applied afterwards.
"""
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit


class CalibrationError(ValueError):
    """The development scores cannot define a calibration."""


@dataclass(frozen=True)
class LinearCalibration:
    scale: float
    offset: float

    def llr(self, scores: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(scores, float) + self.offset

    def probability_bona_fide(self, scores: np.ndarray, p_bona: float) -> np.ndarray:
        """P(bona fide | score) for a prior P(bona fide) = p_bona."""
        log_odds = self.llr(scores) + np.log(p_bona / (1 - p_bona))
        return 1 / (1 + np.exp(-log_odds))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> 'LinearCalibration':
        return cls(float(state['scale']), float(state['offset']))


def fit_calibration(bona_scores: np.ndarray, spoof_scores: np.ndarray) -> LinearCalibration:
    """Weighted logistic regression of the class on the score, each class weighing one half."""
    bona, spoof = np.asarray(bona_scores, float), np.asarray(spoof_scores, float)
    if len(bona) == 0 or len(spoof) == 0:
        raise CalibrationError(f"calibration needs both classes: {len(bona)} bona fide, {len(spoof)} spoof scores")
    spread = max(np.std(np.concatenate([bona, spoof])), 1e-12)

    def objective(parameters):
        scale, offset = parameters
        bona_llr, spoof_llr = scale * bona + offset, scale * spoof + offset
        # mean cost of each class: log(1 + exp(-llr)) for bona fide, log(1 + exp(llr)) for spoof
        cost = 0.5 * (np.mean(np.logaddexp(0, -bona_llr)) + np.mean(np.logaddexp(0, spoof_llr)))
        bona_slope = -0.5 * expit(-bona_llr) / len(bona)     # d cost / d llr per bona fide trial
        spoof_slope = 0.5 * expit(spoof_llr) / len(spoof)    # d cost / d llr per spoof trial
        gradient = np.array([np.sum(bona_slope * bona) + np.sum(spoof_slope * spoof),
                             np.sum(bona_slope) + np.sum(spoof_slope)])
        return cost, gradient

    result = minimize(objective, np.array([1 / spread, 0.0]), jac=True, method='L-BFGS-B')
    scale, offset = result.x
    return LinearCalibration(float(scale), float(offset))
