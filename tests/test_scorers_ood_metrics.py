"""OOD metrics against a hand-computed case with ties and against scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from osrbench import ood_metrics as om

# In-distribution (positive) and OOD scores; 0.8 and 0.4 are tied across the two sets.
ID = [0.9, 0.8, 0.8, 0.4]
OOD = [0.8, 0.5, 0.4, 0.1]
# Accepting score >= t, for t over the distinct scores 0.9, 0.8, 0.5, 0.4, 0.1:
#   TP = 1, 3, 3, 4, 4 (TPR .25 .75 .75 1 1); FP = 0, 1, 2, 3, 4 (FPR 0 .25 .5 .75 1).


def test_hand_computed_case_with_ties():
    m = om.ood_metrics(ID, OOD)
    # First threshold with TPR >= .95 is t = 0.4 (the tied 0.4s are accepted together): FPR .75.
    assert m["tnr_at_95tpr"] == pytest.approx(0.25)
    # Pairs: 0.9 beats 4; each 0.8 beats 3 and ties 1 (3.5); 0.4 beats 1 and ties 1 (1.5) -> 12.5/16.
    assert m["auroc"] == pytest.approx(12.5 / 16)
    # max of (TPR + TNR)/2: .625, .75, .625, .625, .5 -> .75 at t = 0.8.
    assert m["dtacc"] == pytest.approx(0.75)
    # AP with ID positive: recall steps .25 (P 1), .5 (P 3/4), .25 (P 4/7).
    assert m["auin"] == pytest.approx(0.25 + 0.5 * 0.75 + 0.25 * 4 / 7)
    # AP with OOD positive on -score: thresholds -.1, -.4, -.5, -.8 give P 1, 2/3, 3/4, 4/7 at recall steps .25.
    assert m["auout"] == pytest.approx(0.25 * (1 + 2 / 3 + 3 / 4 + 4 / 7))


def test_all_scores_tied_is_chance():
    m = om.ood_metrics([0.3] * 5, [0.3] * 7)
    assert m["auroc"] == 0.5 and m["dtacc"] == 0.5 and m["tnr_at_95tpr"] == 0.0
    assert m["auin"] == pytest.approx(5 / 12) and m["auout"] == pytest.approx(7 / 12)


def test_perfect_separation():
    m = om.ood_metrics([2.0, 3.0], [0.0, 1.0])
    assert m == {"tnr_at_95tpr": 1.0, "auroc": 1.0, "dtacc": 1.0, "auin": 1.0, "auout": 1.0}


def test_matches_scikit_learn_on_tied_random_scores():
    rng = np.random.default_rng(1)
    i = np.round(rng.normal(1.0, 1.0, 1800), 1)
    o = np.round(rng.normal(0.0, 1.0, 1200), 1)
    y = np.r_[np.ones(len(i)), np.zeros(len(o))]
    s = np.r_[i, o]
    m = om.ood_metrics(i, o)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, s))
    assert m["auin"] == pytest.approx(average_precision_score(y, s))
    assert m["auout"] == pytest.approx(average_precision_score(1 - y, -s))
    # TNR at 95% TPR by brute force over every candidate threshold.
    candidates = np.unique(s)
    tpr = np.array([(i >= t).mean() for t in candidates])
    t = candidates[tpr >= 0.95].max()
    assert m["tnr_at_95tpr"] == pytest.approx((o < t).mean())
    best = max(0.5 * (i >= t).mean() + 0.5 * (o < t).mean() for t in np.r_[candidates, np.inf])
    assert m["dtacc"] == pytest.approx(best)


def test_tpr_operating_point_is_named():
    assert "tnr_at_90tpr" in om.ood_metrics(ID, OOD, tpr=0.9)
    assert om.tnr_at_tpr(ID, OOD, 0.5) == pytest.approx(0.75)  # t = 0.8: TPR .75, FPR .25


@pytest.mark.parametrize("i, o, problem", [([], [1.0], "at least one"), ([1.0], [np.nan], "finite")])
def test_bad_input_rejected(i, o, problem):
    with pytest.raises(ValueError, match=problem):
        om.ood_metrics(i, o)
