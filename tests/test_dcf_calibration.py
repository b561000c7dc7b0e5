"""minDCF, actDCF and Cllr as the ASVspoof 5 evaluation package computes them, checked
against the package's own values (tests/fixtures/asvspoof5_metrics, made with its
code) and against values worked out by hand; the linear calibration."""
import json
import math
import os

import numpy as np
import pytest

from evaluation.calibration import CalibrationError, LinearCalibration, fit_calibration
from evaluation.dcf import ASVSPOOF5_COSTS, act_dcf, cllr, min_dcf
from evaluation.metrics import compute_eer
from tests.helpers import FIXTURES

with open(os.path.join(FIXTURES, 'asvspoof5_metrics', 'expected.json')) as _handle:
    PACKAGE = json.load(_handle)


@pytest.mark.parametrize('name', sorted(PACKAGE))
def test_metrics_equal_the_asvspoof5_package(name):
    expected = PACKAGE[name]
    bona, spoof = np.array(expected['bona']), np.array(expected['spoof'])
    assert min_dcf(bona, spoof)[0] == pytest.approx(expected['min_dcf'], abs=1e-6)
    assert act_dcf(bona, spoof) == pytest.approx(expected['act_dcf'], abs=1e-6)
    assert cllr(bona, spoof) == pytest.approx(expected['cllr'], abs=1e-6)
    assert compute_eer(bona, spoof)[0] == pytest.approx(expected['eer'], abs=1e-6)


def test_costs_by_hand():
    # P_spoof 0.05, C_miss 1, C_fa 10: default cost min(0.95, 0.5) = 0.5; beta = 0.95 / 0.5 = 1.9
    assert ASVSPOOF5_COSTS.default_cost == pytest.approx(0.5)
    assert ASVSPOOF5_COSTS.bayes_threshold == pytest.approx(-math.log(1.9))   # -0.6419
    bona = np.array([-1.0, 0.0, 2.0, 3.0])     # one below the threshold -0.642: miss rate 1/4
    spoof = np.array([-5.0, -0.5, 1.0, -3.0])  # -0.5 and 1.0 at or above it: false alarms 2/4
    assert act_dcf(bona, spoof) == pytest.approx((0.95 * 0.25 + 0.5 * 0.5) / 0.5)       # 0.975
    # Cllr: 1 bit when every LLR is 0; log2(1 + e^-x) per bona fide, log2(1 + e^x) per spoof
    assert cllr(np.zeros(3), np.zeros(5)) == pytest.approx(1.0)
    expected = 0.5 * (np.mean(np.log2(1 + np.exp(-bona))) + np.mean(np.log2(1 + np.exp(spoof))))
    assert cllr(bona, spoof) == pytest.approx(expected, abs=1e-12)
    # minDCF by hand: at t = -1 no bona fide is rejected and the spoofs -0.5 and 1.0 pass:
    # (0.95 * 0 + 0.5 * 2/4) / 0.5 = 0.5, the least over every threshold (brute force below)
    assert min_dcf(bona, spoof)[0] == pytest.approx(0.5)
    brute = min((0.95 * np.mean(bona < t) + 0.5 * np.mean(spoof >= t)) / 0.5
                for t in np.concatenate([[-np.inf, np.inf], bona, spoof]))
    assert min_dcf(bona, spoof)[0] == pytest.approx(brute)


def test_min_dcf_is_the_minimum_over_every_threshold_on_random_scores():
    rng = np.random.default_rng(3)
    bona, spoof = rng.normal(1, 1, 200), rng.normal(-1, 1.5, 700)
    brute = min((0.95 * np.mean(bona < t) + 0.5 * np.mean(spoof >= t)) / 0.5
                for t in np.concatenate([[-np.inf, np.inf], bona, spoof]))
    assert min_dcf(bona, spoof)[0] == pytest.approx(brute, abs=1e-12)
    assert min_dcf(bona, spoof)[0] <= act_dcf(bona, spoof) + 1e-12


def test_calibration_recovers_the_true_llr():
    # bona fide ~ N(1, 1), spoof ~ N(-1, 1): the true LLR is 2x; squashed like a cosine,
    # 0.1 x + 0.3, it is 20 (s - 0.3) = 20 s - 6
    rng = np.random.default_rng(0)
    bona, spoof = rng.normal(1, 1, 20_000), rng.normal(-1, 1, 60_000)
    calibration = fit_calibration(0.1 * bona + 0.3, 0.1 * spoof + 0.3)
    assert calibration.scale == pytest.approx(20, rel=0.03)
    assert calibration.offset == pytest.approx(-6, abs=0.15)
    raw = cllr(0.1 * bona + 0.3, 0.1 * spoof + 0.3)
    calibrated = cllr(calibration.llr(0.1 * bona + 0.3), calibration.llr(0.1 * spoof + 0.3))
    assert calibrated < 0.55 < 0.9 < raw


def test_calibration_probability_and_round_trip():
    calibration = LinearCalibration(2.0, -1.0)
    assert calibration.llr(np.array([0.5]))[0] == pytest.approx(0.0)
    # LLR 0 at prior P(bona fide) 0.95: the posterior is the prior
    assert calibration.probability_bona_fide(np.array([0.5]), 0.95)[0] == pytest.approx(0.95)
    assert LinearCalibration.from_dict(calibration.to_dict()) == calibration
    with pytest.raises(CalibrationError, match='both classes'):
        fit_calibration(np.array([1.0, 2.0]), np.array([]))
