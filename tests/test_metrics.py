"""OSR metrics against hand-computed values, brute force and scikit-learn, with ties."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from osrbench import metrics


def brute_force_oscr(ks, kp, kt, us):
    """The quadratic definition: pairs (correct known, unknown) with the known scoring higher, ties half."""
    total = 0.0
    for s, p, t in zip(ks, kp, kt):
        if p != t:
            continue
        for u in us:
            total += 1.0 if s > u else 0.5 if s == u else 0.0
    return total / (len(ks) * len(us))


def test_oscr_hand_computed_with_ties():
    # known: scores 0.9 (correct), 0.5 (correct), 0.5 (wrong); unknown: 0.5, 0.1
    # correct pairs: 0.9>0.5, 0.9>0.1, 0.5=0.5 (half), 0.5>0.1 -> 3.5 of 3*2 pairs
    value = metrics.oscr([0.9, 0.5, 0.5], [1, 0, 2], [1, 0, 1], [0.5, 0.1])
    assert value == pytest.approx(3.5 / 6)


def test_oscr_matches_brute_force_on_rounded_scores():
    rng = np.random.default_rng(0)
    ks, us = np.round(rng.normal(1, 1, 300), 1), np.round(rng.normal(0, 1, 200), 1)
    kt = rng.integers(0, 4, 300)
    kp = np.where(rng.random(300) < 0.8, kt, (kt + 1) % 4)
    assert metrics.oscr(ks, kp, kt, us) == pytest.approx(brute_force_oscr(ks, kp, kt, us))


def test_oscr_equals_auroc_when_everything_is_correct():
    rng = np.random.default_rng(1)
    ks, us = np.round(rng.random(100), 1), np.round(rng.random(80), 1)
    labels = np.zeros(100, int)
    assert metrics.oscr(ks, labels, labels, us) == pytest.approx(metrics.auroc(ks, us))


def test_auroc_with_ties_matches_sklearn_and_hand_value():
    # known 0.8, 0.5; unknown 0.5, 0.2: pairs 1 + 1 + 0.5 + 1 = 3.5 of 4
    assert metrics.auroc([0.8, 0.5], [0.5, 0.2]) == pytest.approx(0.875)
    rng = np.random.default_rng(2)
    k, u = np.round(rng.normal(0.5, 1, 500), 1), np.round(rng.normal(0, 1, 400), 1)
    expected = roc_auc_score(np.r_[np.ones(500), np.zeros(400)], np.r_[k, u])
    assert metrics.auroc(k, u) == pytest.approx(expected)


def test_threshold_keeps_95_percent_of_known_even_with_ties():
    scores = np.r_[np.linspace(0, 1, 95), np.full(5, 0.0)]
    t = metrics.threshold_at_tpr(scores, 0.95)
    assert (scores >= t).mean() >= 0.95
    rng = np.random.default_rng(3)
    s = rng.random(1000)
    t = metrics.threshold_at_tpr(s, 0.95)
    assert (s >= t).sum() == 950


def test_macro_f1_hand_computed():
    # 20 known samples of 2 classes, scores 1..20; threshold keeping 95% rejects the lowest one.
    ks = np.arange(1, 21, dtype=float)
    kt = np.array([0] * 10 + [1] * 10)
    kp = kt.copy()
    kp[5] = 1  # one misclassified known
    us = np.array([0.5, 30.0])  # one rejected, one accepted as class 0
    up = np.array([0, 0])
    got = metrics.macro_f1_at_tpr(ks, kp, kt, us, up, num_classes=2, tpr=0.95)
    y_true = np.r_[kt, [2, 2]]
    y_pred = np.r_[np.where(ks < 2, 2, kp), [2, 0]]
    assert got == pytest.approx(f1_score(y_true, y_pred, average="macro"))


def test_closed_set_accuracy():
    assert metrics.closed_set_accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75


def test_oscr_rejects_empty_sets():
    with pytest.raises(ValueError):
        metrics.oscr([], [], [], [0.1])
