"""Built-in scorers, registered here; each lives in its own module.

* ``osr``: AUROC, OSCR, macro-F1 at 95% known TPR, closed-set accuracy, the openness–F1 curve.
* ``ood``: OOD detection against whole datasets (TNR at 95% TPR, AUROC, DTACC, AUIN, AUOUT).
* ``corruption``: accuracy and its drop under the 15 common corruptions at 5 severities.
* ``linear-probe``: top-1 / top-5 of a linear classifier on the frozen embedding.

Scorers write their figures (PNG, fixed names) into the run's folder and list them under ``plots``.
"""

from __future__ import annotations

import osrbench
from osrbench import ScorerSpec, deferred
from osrbench_scorers.configs import CorruptionConfig, LinearProbeConfig, OODConfig, OSRConfig, dataset_names


@osrbench.hookimpl
def osrbench_scorers():
    return [
        ScorerSpec(name="osr", description="open-set recognition: AUROC, OSCR, macro-F1 at 95% TPR, closed-set "
                                           "accuracy, openness–F1 curve", config=OSRConfig,
                   score=deferred("osrbench_scorers.osr:score_osr")),
        ScorerSpec(name="ood", description="OOD detection vs whole datasets (known test set = in-distribution): "
                                           "TNR@95TPR, AUROC, DTACC, AUIN, AUOUT", config=OODConfig,
                   score=deferred("osrbench_scorers.ood:score_ood"),
                   datasets=dataset_names),
        ScorerSpec(name="corruption", description="accuracy under 15 common corruptions x 5 severities and its drop "
                                                  "(needs imagecorruptions-imaug)", config=CorruptionConfig,
                   score=deferred("osrbench_scorers.corruption:score_corruption"), reads_scores=False),
        ScorerSpec(name="linear-probe", description="linear classifier on the frozen embedding: top-1 / top-5",
                   config=LinearProbeConfig, score=deferred("osrbench_scorers.linear_probe:score_linear_probe"),
                   reads_scores=False),
    ]
