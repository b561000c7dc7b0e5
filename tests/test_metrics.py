import time

import numpy as np
import pytest

from evaluation.breakdown import eer_breakdown, format_table, write_tsv
from evaluation.metrics import COST_MODEL, compute_eer, det_curve, min_tdcf, read_asv_scores
from tests.helpers import reference_path


def brute_force_eer(bona, spoof):
    """Try every score as the threshold (reject <= t), plus 'reject nothing'."""
    best = (2.0, None)
    for threshold in [-np.inf] + sorted(np.concatenate([bona, spoof])):
        frr = np.mean(bona <= threshold)
        far = np.mean(spoof > threshold)
        if abs(frr - far) < best[0]:
            best = (abs(frr - far), (frr + far) / 2)
    return best[1]


@pytest.mark.parametrize('seed', range(5))
def test_eer_matches_brute_force_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    bona = rng.normal(1.0, 1.0, 150 + seed * 7)
    spoof = rng.normal(-0.5, 1.2, 600 + seed * 11)
    eer, threshold = compute_eer(bona, spoof)
    assert eer == pytest.approx(brute_force_eer(bona, spoof), abs=1e-12)
    assert abs(np.mean(bona <= threshold) - np.mean(spoof > threshold)) < 0.02


def test_perfect_separation_gives_zero():
    assert compute_eer(np.array([0.9, 0.8]), np.array([0.1, 0.2, 0.3]))[0] == 0.0


def test_ties_walk_bona_fide_first():
    """All scores tied: the organisers' sweep passes through 'one bona fide rejected,
    no spoof rejected yet', an operating point no threshold realises."""
    frr, far, _ = det_curve(np.array([0.5, 0.5]), np.array([0.5, 0.5]))
    assert frr.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert far.tolist() == [1.0, 1.0, 1.0, 0.5, 0.0]
    assert compute_eer(np.array([0.5]), np.array([0.5]))[0] == 1.0


def test_needs_both_classes():
    with pytest.raises(ValueError, match='both classes'):
        compute_eer(np.array([1.0]), np.array([]))


def test_eer_is_vectorised():
    rng = np.random.default_rng(0)
    bona, spoof = rng.normal(1, 1, 22_617), rng.normal(0, 1, 589_212)
    start = time.perf_counter()
    compute_eer(bona, spoof)
    assert time.perf_counter() - start < 5  # generous bound; the benchmark figure is in the note


def independent_min_tdcf(bona, spoof, asv):
    tar, non, spf = asv['target'], asv['nontarget'], asv['spoof']
    # the ASV EER threshold as the organisers take it: the score at the EER point of a
    # reject-at-or-below sweep; the ASV error rates then count misses strictly below it
    best = None
    for t in np.sort(np.concatenate([tar, non])):
        frr, far = np.mean(tar <= t), np.mean(non > t)
        if best is None or abs(frr - far) < best[0]:
            best = (abs(frr - far), t)
    t = best[1]
    p_fa, p_miss, p_miss_spoof = np.mean(non >= t), np.mean(tar < t), np.mean(spf < t)
    c = COST_MODEL
    c1 = c['Ptar'] * (c['Cmiss_cm'] - c['Cmiss_asv'] * p_miss) - c['Pnon'] * c['Cfa_asv'] * p_fa
    c2 = c['Cfa_cm'] * c['Pspoof'] * (1 - p_miss_spoof)
    values = []
    for threshold in [-np.inf] + sorted(np.concatenate([bona, spoof])):
        values.append((c1 * np.mean(bona <= threshold) + c2 * np.mean(spoof > threshold)) / min(c1, c2))
    return min(values)


def test_min_tdcf_on_real_asv_scores():
    path = reference_path('asvspoof2019_la_subset', 'LA', 'ASVspoof2019_LA_asv_scores',
                          'ASVspoof2019.LA.asv.dev.gi.trl.scores.txt')
    asv = read_asv_scores(path)
    assert len(asv['target']) > 0 and len(asv['nontarget']) > 0 and len(asv['spoof']) > 0
    assert 'spoof/A01' in asv
    rng = np.random.default_rng(0)
    bona, spoof = rng.normal(2, 1, 300), rng.normal(0, 1, 1200)
    ours = min_tdcf(bona, spoof, asv)
    assert ours == pytest.approx(independent_min_tdcf(bona, spoof, asv), rel=1e-9)
    assert 0 < ours < 1
    assert min_tdcf(np.array([5.0, 6.0]), np.array([0.0, 1.0]), asv) == pytest.approx(0.0)


def test_min_tdcf_needs_every_asv_class():
    asv = {'target': np.array([1.0, 2.0]), 'nontarget': np.array([0.0]), 'spoof': np.array([])}
    with pytest.raises(ValueError, match="no 'spoof' trials"):
        min_tdcf(np.array([1.0]), np.array([0.0]), asv)


def test_breakdown_per_attack_and_condition(tmp_path):
    scores = [0.9, 0.8, 0.1, 0.85, 0.2, 0.7]
    labels = [1, 1, 0, 0, 0, 1]
    attacks = ['bonafide', 'bonafide', 'A07', 'A08', 'A08', 'bonafide']
    conditions = [{'codec': 'alaw'}, {'codec': 'none'}, {'codec': 'alaw'}, {'codec': 'none'}, {'codec': 'none'},
                  {'codec': 'alaw'}]
    rows = eer_breakdown(scores, labels, attacks, conditions)
    table = {(r.group, r.value): r for r in rows}
    assert table[('attack', 'A07')].eer == 0.0 and table[('attack', 'A07')].spoof == 1
    bona = np.array([0.9, 0.8, 0.7])
    assert table[('attack', 'A08')].eer == pytest.approx(100 * brute_force_eer(bona, np.array([0.85, 0.2])))
    assert table[('codec', 'alaw')].bona == 2 and table[('codec', 'alaw')].spoof == 1
    assert table[('pooled', 'all')].bona == 3
    family = eer_breakdown(scores, labels, attacks, [{'vocoder': 'bonafide' if l else 'neural'} for l in labels])
    neural = next(r for r in family if r.value == 'neural')
    assert (neural.bona, neural.spoof) == (3, 3) and neural.eer == table[('pooled', 'all')].eer
    text = format_table(rows, 'demo')
    assert 'A08' in text and 'codec' in text
    write_tsv(rows, tmp_path / 'b.tsv')
    lines = (tmp_path / 'b.tsv').read_text().splitlines()
    assert lines[0] == 'group\tvalue\tbona\tspoof\teer_percent' and len(lines) == len(rows) + 1
