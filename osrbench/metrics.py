"""Open-set metrics. Scores follow one convention: higher = more likely known.

* ``auroc``: area under the ROC curve of known (positive) vs unknown; ties count one half
  (scikit-learn's ``roc_auc_score``).
* ``oscr``: Open-Set Classification Rate (Dhamija et al. 2018): the area under CCR(t) against
  FPR(t), CCR(t) = share of *all* known samples that are correctly classified with score >= t,
  FPR(t) = share of unknown samples with score >= t. Computed exactly as the share of (known
  correctly classified, unknown) pairs in which the known one scores higher, ties counting one
  half, over #known × #unknown: O(n log n) with sorting.
* ``macro_f1_at_tpr``: macro-F1 over the K known classes plus "unknown", after rejecting every sample
  whose score is below the threshold that keeps ``tpr`` (95%) of the known test samples.
* ``closed_set_accuracy``: accuracy of the predicted label on known test samples.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score


def as_numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def auroc(known_scores, unknown_scores) -> float:
    k, u = as_numpy(known_scores).astype(np.float64), as_numpy(unknown_scores).astype(np.float64)
    y = np.r_[np.ones(len(k)), np.zeros(len(u))]
    return float(roc_auc_score(y, np.r_[k, u]))


def pairs_ranked_above(high, low) -> float:
    """Number of pairs (h, l) with h > l, plus one half for each tie: O((n + m) log m)."""
    low_sorted = np.sort(as_numpy(low).astype(np.float64))
    h = as_numpy(high).astype(np.float64)
    below = np.searchsorted(low_sorted, h, side="left")
    not_above = np.searchsorted(low_sorted, h, side="right")
    return float(below.sum() + 0.5 * (not_above - below).sum())


def oscr(known_scores, known_pred, known_true, unknown_scores) -> float:
    k, u = as_numpy(known_scores), as_numpy(unknown_scores)
    if len(k) == 0 or len(u) == 0:
        raise ValueError("OSCR needs known and unknown samples")
    correct = as_numpy(known_pred) == as_numpy(known_true)
    return pairs_ranked_above(k[correct], u) / (len(k) * len(u))


def threshold_at_tpr(known_scores, tpr: float = 0.95) -> float:
    """The largest threshold t such that at least ``tpr`` of the known scores are >= t."""
    s = np.sort(as_numpy(known_scores).astype(np.float64))
    keep = int(np.ceil(tpr * len(s)))
    return float(s[len(s) - keep])


def open_set_predictions(pred, scores, threshold: float, unknown_label: int) -> np.ndarray:
    out = as_numpy(pred).copy()
    out[as_numpy(scores) < threshold] = unknown_label
    return out


def macro_f1_at_tpr(known_scores, known_pred, known_true, unknown_scores, unknown_pred,
                    num_classes: int, tpr: float = 0.95) -> float:
    t = threshold_at_tpr(known_scores, tpr)
    y_true = np.r_[as_numpy(known_true), np.full(len(as_numpy(unknown_scores)), num_classes)]
    y_pred = np.r_[open_set_predictions(known_pred, known_scores, t, num_classes),
                   open_set_predictions(unknown_pred, unknown_scores, t, num_classes)]
    return float(f1_score(y_true, y_pred, labels=np.arange(num_classes + 1), average="macro", zero_division=0))


def closed_set_accuracy(pred, true) -> float:
    return float((as_numpy(pred) == as_numpy(true)).mean())
