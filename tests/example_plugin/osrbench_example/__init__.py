"""A third-party plugin: a nearest-class-mean method and a scorer, registered through its own entry point.

This module holds the specs and their configs only; the model and the scorer live in ``model.py``
and are named with ``osrbench.deferred``, so ``osrbench list`` imports neither torch nor them.
"""

from dataclasses import dataclass

import osrbench
from osrbench import MethodSpec, ScorerSpec, deferred


@dataclass
class NearestMeanConfig:
    pass


@dataclass
class MeanScoreConfig:
    pass


@osrbench.hookimpl
def osrbench_methods():
    return [MethodSpec(name="nearest-mean", description="nearest class mean in pixel space (example plugin)",
                       config=NearestMeanConfig, fit=deferred("osrbench_example.model:fit"),
                       accepts_augmentation=False)]


@osrbench.hookimpl
def osrbench_scorers():
    return [ScorerSpec(name="mean-score", description="mean known-ness of known test samples (example plugin)",
                       config=MeanScoreConfig, score=deferred("osrbench_example.model:mean_known_score"))]
