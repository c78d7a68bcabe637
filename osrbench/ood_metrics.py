"""Out-of-distribution detection metrics: in-distribution (ID) samples against OOD samples.

One convention for all of them (the standard ODIN / ARPL definitions, not the accumulated counts
of GradMix's code, see methods/gradmix.md §10):

* Scores: higher = more likely in-distribution. A threshold ``t`` *accepts* a sample iff
  ``score >= t``. **ID is the positive class** everywhere except AUOUT.
* Thresholds run over the distinct score values (plus one above the maximum, accepting nothing),
  so **tied samples are always accepted or rejected together**; no tie is split at random.
* ``tnr_at_tpr``: TNR = share of OOD samples rejected, at the largest threshold whose TPR (share
  of ID samples accepted) is at least ``tpr`` (95%): ``osrbench.metrics.threshold_at_tpr``, the one
  rule for every TPR (``osr.tpr`` and ``ood.tpr`` agree).
* Inputs are checked as for the OSR metrics (``osrbench.metrics.checked``): 1-D, non-empty, finite.
* ``auroc``: area under TPR against FPR; each (ID, OOD) pair counts 1 if the ID sample scores
  higher and 1/2 if tied (= ``sklearn.metrics.roc_auc_score``).
* ``dtacc``: detection accuracy, ``max_t 0.5 * TPR(t) + 0.5 * TNR(t)`` over the thresholds above.
* ``auin``: area under precision-recall with ID as positive, as average precision
  ``sum_n (R_n - R_{n-1}) P_n`` over the distinct thresholds (a step function, no interpolation;
  = ``sklearn.metrics.average_precision_score``).
* ``auout``: the same with OOD as positive and the score negated.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from osrbench.metrics import checked, threshold_at_tpr


def _labelled(id_scores, ood_scores, metric: str) -> tuple[np.ndarray, np.ndarray]:
    i, o = checked(id_scores, metric, "in-distribution scores"), checked(ood_scores, metric, "OOD scores")
    return np.r_[np.ones(len(i)), np.zeros(len(o))], np.r_[i, o]


def roc_points(id_scores, ood_scores, metric: str = "roc") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FPR, TPR, threshold) at every distinct threshold, from accepting nothing to accepting all."""
    y, s = _labelled(id_scores, ood_scores, metric)
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr, thresholds


def tnr_at_tpr(id_scores, ood_scores, tpr: float = 0.95) -> float:
    name = "tnr_at_tpr"
    i, o = checked(id_scores, name, "in-distribution scores"), checked(ood_scores, name, "OOD scores")
    t = threshold_at_tpr(i, tpr, name)
    return float((o < t).mean())


def auroc(id_scores, ood_scores) -> float:
    y, s = _labelled(id_scores, ood_scores, "auroc")
    return float(roc_auc_score(y, s))


def dtacc(id_scores, ood_scores) -> float:
    fpr, tpr, _ = roc_points(id_scores, ood_scores, "dtacc")
    return float(np.max(0.5 * tpr + 0.5 * (1.0 - fpr)))


def auin(id_scores, ood_scores) -> float:
    y, s = _labelled(id_scores, ood_scores, "auin")
    return float(average_precision_score(y, s))


def auout(id_scores, ood_scores) -> float:
    y, s = _labelled(id_scores, ood_scores, "auout")
    return float(average_precision_score(1 - y, -s))


def ood_metrics(id_scores, ood_scores, tpr: float = 0.95) -> dict[str, float]:
    """All five metrics; the TNR key names its operating point (``tnr_at_95tpr`` for 0.95)."""
    return {
        f"tnr_at_{round(tpr * 100):d}tpr": tnr_at_tpr(id_scores, ood_scores, tpr),
        "auroc": auroc(id_scores, ood_scores),
        "dtacc": dtacc(id_scores, ood_scores),
        "auin": auin(id_scores, ood_scores),
        "auout": auout(id_scores, ood_scores),
    }
