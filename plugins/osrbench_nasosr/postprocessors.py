"""NAS-OSR's rejection statistics as postprocessors, so one trained model is scored by each of them.

The test rule (``rejection_rule.py``) gives two statistics per image, each divided by its own threshold:
the counterfactual reconstruction error r/τ_rec and the Gaussian class-attribute statistic
min_m D²_m/d*_m. ``nas-osr-gaussian`` scores −min_m D²_m/d*_m, ``nas-osr-reconstruction`` −r/τ_rec,
and ``nas-osr-rule-score`` −max of the two (below −1 exactly where the rule rejects). The model
offers the statistics as the capability ``REJECTION_STATISTICS`` (``score_parts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from osrbench import PostprocessorSpec, deferred
from osrbench_nasosr.config import SCORE_FORMULAS

REJECTION_STATISTICS = "rejection_statistics"  # model.score_parts(x) -> (labels, r/τ_rec, min_m D²_m/d*_m)


@dataclass
class RuleStatisticOptions:
    """The thresholds are fitted with the model (``--set gaussian_level=... rec_threshold_rule=...``)."""


def _spec(name: str, kind: str, what: str) -> PostprocessorSpec:
    return PostprocessorSpec(name=name, description=f"NAS-OSR: {what}, {SCORE_FORMULAS[kind]}",
                             config=RuleStatisticOptions,
                             build=partial(deferred("osrbench_nasosr.model:RuleStatistic"), kind),
                             requires=frozenset({REJECTION_STATISTICS}))


POSTPROCESSORS = [
    _spec("nas-osr-gaussian", "gaussian", "the Gaussian class-attribute statistic"),
    _spec("nas-osr-reconstruction", "reconstruction", "the counterfactual reconstruction error"),
    _spec("nas-osr-rule-score", "rule", "the larger of the two rejection statistics (the test rule's decision at -1)"),
]
