"""The openness–F1 curve: macro-F1 as more unknown classes enter the test set.

Openness follows the papers' definition ``O = 1 − sqrt(I/S)`` (I = training classes, S = classes in
the test set, here K known + u unknown). Scheirer et al.'s original ``1 − sqrt(2I/(I + S))`` is
recorded beside it (NAS-OSR's Fig. 3 uses that one). For each u = 1..U the u unknown classes are
drawn at random (``draws`` times, seeded; one draw when u = U, which is the whole unknown set) and
macro-F1 is computed as in the ``osr`` scorer: over the K known classes plus "unknown", with the
threshold that keeps 95% of the known test samples (fixed, since the known samples do not change).
"""

from __future__ import annotations

import math

import numpy as np

from osrbench import Prediction
from osrbench.metrics import as_numpy, macro_f1_at_tpr


def openness(train_classes: int, test_classes: int) -> float:
    return 1.0 - math.sqrt(train_classes / test_classes)


def openness_scheirer(train_classes: int, test_classes: int) -> float:
    return 1.0 - math.sqrt(2 * train_classes / (train_classes + test_classes))


def openness_curve(known: Prediction, known_true, unknown: Prediction, unknown_classes, n_unknown_classes: int,
                   num_classes: int, tpr: float, draws: int, seed: int) -> list[dict[str, float]]:
    """One point per number of unknown classes u = 1..``n_unknown_classes``.

    ``unknown_classes`` gives each unknown sample's class (0..n_unknown_classes-1).
    """
    cls = as_numpy(unknown_classes)
    u_scores, u_pred = as_numpy(unknown.scores), as_numpy(unknown.labels)
    rng = np.random.default_rng(seed)
    points = []
    for u in range(1, n_unknown_classes + 1):
        f1s = []
        for _ in range(1 if u == n_unknown_classes else draws):
            chosen = rng.choice(n_unknown_classes, size=u, replace=False)
            keep = np.isin(cls, chosen)
            f1s.append(macro_f1_at_tpr(known.scores, known.labels, known_true, u_scores[keep], u_pred[keep],
                                       num_classes, tpr))
        points.append({
            "unknown_classes": u,
            "openness": openness(num_classes, num_classes + u),
            "openness_scheirer": openness_scheirer(num_classes, num_classes + u),
            "macro_f1": float(np.mean(f1s)),
            "macro_f1_std": float(np.std(f1s)),
            "draws": len(f1s),
        })
    return points
