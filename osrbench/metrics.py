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

One input policy for these and the OOD metrics (``osrbench.ood_metrics``): scores and labels are
1-D, non-empty, of matching lengths, and scores are finite; anything else is an ``InvalidMetricInput``
(an ``OsrbenchError``, also a ``ValueError``) that names the metric. One threshold rule for any TPR:
``threshold_at_tpr``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from osrbench.types import OsrbenchError


class InvalidMetricInput(OsrbenchError, ValueError):
    """Scores or labels that a metric cannot be computed from."""


def as_numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def checked(values, metric: str, what: str, scores: bool = True) -> np.ndarray:
    """``values`` as a 1-D non-empty array; scores as finite float64. Names ``metric`` when it is not."""
    a = as_numpy(values)
    if a.ndim != 1:
        raise InvalidMetricInput(f"{metric}: {what} must be 1-D (one per sample), got shape {a.shape}")
    if len(a) == 0:
        raise InvalidMetricInput(f"{metric}: {what} is empty; the metric needs at least one sample")
    if not scores:
        return a
    try:
        a = a.astype(np.float64)
    except (TypeError, ValueError):
        raise InvalidMetricInput(f"{metric}: {what} must be numbers, got {a.dtype}") from None
    bad = int((~np.isfinite(a)).sum())
    if bad:
        raise InvalidMetricInput(f"{metric}: {what} contain {bad} NaN or infinite value(s) of {len(a)}; "
                                 "the method must give every sample a finite score")
    return a


def same_length(metric: str, **arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidMetricInput(f"{metric}: lengths differ: " + ", ".join(f"{k} {v}" for k, v in lengths.items()))


def auroc(known_scores, unknown_scores) -> float:
    k, u = checked(known_scores, "auroc", "known scores"), checked(unknown_scores, "auroc", "unknown scores")
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
    k, u = checked(known_scores, "oscr", "known scores"), checked(unknown_scores, "oscr", "unknown scores")
    pred, true = checked(known_pred, "oscr", "known predictions", False), checked(known_true, "oscr", "known labels", False)
    same_length("oscr", known_scores=k, known_predictions=pred, known_labels=true)
    correct = pred == true
    return pairs_ranked_above(k[correct], u) / (len(k) * len(u))


def kept_count(tpr: float, n: int) -> int:
    """How many of ``n`` samples a threshold at ``tpr`` must keep: the least k with k / n >= tpr.

    Rounded to 9 digits first, so that a product like 0.55 * 20 = 11.000000000000002 keeps 11, not 12.
    """
    if not 0 < tpr <= 1:
        raise InvalidMetricInput(f"tpr={tpr}: must lie in (0, 1]")
    return max(1, math.ceil(round(tpr * n, 9)))


def threshold_at_tpr(known_scores, tpr: float = 0.95, metric: str = "threshold_at_tpr") -> float:
    """The largest threshold t such that at least ``tpr`` of the known scores are >= t."""
    s = np.sort(checked(known_scores, metric, "known scores"))
    return float(s[len(s) - kept_count(tpr, len(s))])


def open_set_predictions(pred, scores, threshold: float, unknown_label: int) -> np.ndarray:
    out = as_numpy(pred).copy()
    out[as_numpy(scores) < threshold] = unknown_label
    return out


def macro_f1_at_tpr(known_scores, known_pred, known_true, unknown_scores, unknown_pred,
                    num_classes: int, tpr: float = 0.95) -> float:
    name = "macro_f1"
    k, u = checked(known_scores, name, "known scores"), checked(unknown_scores, name, "unknown scores")
    kp, kt = checked(known_pred, name, "known predictions", False), checked(known_true, name, "known labels", False)
    up = checked(unknown_pred, name, "unknown predictions", False)
    same_length(name, known_scores=k, known_predictions=kp, known_labels=kt)
    same_length(name, unknown_scores=u, unknown_predictions=up)
    t = threshold_at_tpr(k, tpr, name)
    y_true = np.r_[kt, np.full(len(u), num_classes)]
    y_pred = np.r_[open_set_predictions(kp, k, t, num_classes), open_set_predictions(up, u, t, num_classes)]
    return float(f1_score(y_true, y_pred, labels=np.arange(num_classes + 1), average="macro", zero_division=0))


def closed_set_accuracy(pred, true) -> float:
    p, t = checked(pred, "accuracy", "predictions", False), checked(true, "accuracy", "labels", False)
    same_length("accuracy", predictions=p, labels=t)
    return float((p == t).mean())
