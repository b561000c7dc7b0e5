import math

import pytest
import torch

from losses import EBMObjective, EOCSoftmax, bona_fide_pair_loss, class_weights_from_ratios
from utils.similarity import cosine_to_centroid


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


CENTROID = torch.tensor([[2.0, 0.0]])  # unnormalised on purpose: the loss must normalise it
EMBEDDINGS = torch.tensor([[1.0, 0.0], [0.0, 3.0], [1.0, 1.0], [-1.0, 0.0], [0.0, 1.0]])
COSINES = [1.0, 0.0, 1 / math.sqrt(2), -1.0, 0.0]


def test_class_weights_from_the_default_ratios():
    spoof, bona = class_weights_from_ratios(0.1, 0.9)
    assert spoof == pytest.approx(1 / 1.8) and bona == pytest.approx(5.0)


def test_eoc_softmax_both_classes_four_rows_ignore_class_weights():
    labels = torch.tensor([1, 0, 1, 0])
    expected = (softplus(20 * (0.9 - COSINES[0])) + softplus(20 * (COSINES[1] - 0.2))
                + softplus(20 * (0.9 - COSINES[2])) + softplus(20 * (COSINES[3] - 0.2))) / 4
    plain = EOCSoftmax(0.9, 0.2, 20.0)
    weighted = EOCSoftmax(0.9, 0.2, 20.0, class_weight=(1 / 1.8, 5.0))
    assert plain(EMBEDDINGS[:4], CENTROID, labels).item() == pytest.approx(expected, rel=1e-6)
    assert weighted(EMBEDDINGS[:4], CENTROID, labels).item() == pytest.approx(expected, rel=1e-6)


def test_eoc_softmax_five_rows_apply_class_weights():
    labels = torch.tensor([1, 0, 1, 0, 1])
    terms = [softplus(20 * (0.9 - COSINES[0])), softplus(20 * (COSINES[1] - 0.2)),
             softplus(20 * (0.9 - COSINES[2])), softplus(20 * (COSINES[3] - 0.2)),
             softplus(20 * (0.9 - COSINES[4]))]
    weights = [5.0, 1 / 1.8, 5.0, 1 / 1.8, 5.0]
    weighted = EOCSoftmax(0.9, 0.2, 20.0, class_weight=(1 / 1.8, 5.0))
    plain = EOCSoftmax(0.9, 0.2, 20.0)
    assert weighted(EMBEDDINGS, CENTROID, labels).item() == pytest.approx(
        sum(w * t for w, t in zip(weights, terms)) / 5, rel=1e-6)
    assert plain(EMBEDDINGS, CENTROID, labels).item() == pytest.approx(sum(terms) / 5, rel=1e-6)


def test_the_score_and_the_eoc_softmax_share_one_cosine():
    assert torch.allclose(cosine_to_centroid(EMBEDDINGS, CENTROID), torch.tensor(COSINES), atol=1e-6)


def test_bpl_one_bona_fide_row():
    long_view = torch.tensor([[1.0, 0.0]])
    short_view = torch.tensor([[3.0, 4.0]])  # cosine 0.6
    assert bona_fide_pair_loss(long_view, short_view, 30.0).item() == pytest.approx(
        softplus(30 * 0.4) - 0.3, rel=1e-6)


def test_bpl_three_rows_average_all_pairs():
    long_view = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0]])
    short_view = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 5.0]])

    def unit(v):
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v]

    total = 0.0
    for a in long_view.tolist():
        for b in short_view.tolist():
            cosine = sum(x * y for x, y in zip(unit(a), unit(b)))
            total += softplus(30 * (1 - cosine))
    assert bona_fide_pair_loss(long_view, short_view, 30.0).item() == pytest.approx(total / 9 - 0.3, rel=1e-6)


def test_bpl_reaches_only_bona_fide_rows_through_the_objective():
    torch.manual_seed(0)
    labels = torch.tensor([1, 1, 0, 0, 0])
    long_embeddings = [torch.randn(5, 8, requires_grad=True) for _ in range(5)]
    short_embeddings = [torch.randn(5, 8, requires_grad=True) for _ in range(5)]
    centroids = [torch.randn(1, 8) for _ in range(5)]
    objective = EBMObjective(EOCSoftmax(class_weight=(0.556, 5.0)), [1.0] * 5, 30.0)
    objective.main_loss(long_embeddings, short_embeddings, centroids, labels).backward()
    for short in short_embeddings:
        assert torch.all(short.grad[2:] == 0)
        assert torch.all(short.grad[:2].abs().sum(dim=1) > 0)
    for long in long_embeddings:
        assert torch.all(long.grad.abs().sum(dim=1) > 0)


def test_objective_weights_heads_and_switches_bpl_off():
    torch.manual_seed(1)
    labels = torch.tensor([1, 1, 0, 0, 0, 0])
    long_embeddings = [torch.randn(6, 8) for _ in range(5)]
    short_embeddings = [torch.randn(6, 8) for _ in range(5)]
    centroids = [torch.randn(1, 8) for _ in range(5)]
    eoc = EOCSoftmax(class_weight=(0.556, 5.0))
    weights = [0.4, 0.3, 0.2, 0.1, 0.1]
    expected = sum(w * (eoc(long_embeddings[h], centroids[h], labels)
                        + bona_fide_pair_loss(long_embeddings[h][:2], short_embeddings[h][:2], 30.0))
                   for h, w in enumerate(weights))
    with_bpl = EBMObjective(eoc, weights, 30.0).main_loss(long_embeddings, short_embeddings, centroids, labels)
    assert with_bpl.item() == pytest.approx(expected.item(), rel=1e-6)
    without = EBMObjective(eoc, weights, 30.0, use_bpl=False).main_loss(long_embeddings, None, centroids, labels)
    assert without.item() == pytest.approx(
        sum(w * eoc(long_embeddings[h], centroids[h], labels) for h, w in enumerate(weights)).item(), rel=1e-6)
    bona = [e[:2] for e in long_embeddings]
    centroid_loss = EBMObjective(eoc, weights, 30.0).centroid_loss(bona, centroids)
    ones = torch.ones(2, dtype=torch.long)
    assert centroid_loss.item() == pytest.approx(
        sum(w * eoc(bona[h], centroids[h], ones) for h, w in enumerate(weights)).item(), rel=1e-6)
