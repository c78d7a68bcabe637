"""Scores computed from a classifier's logits alone: MSP, MLS and energy. The three read the same logits of each
test batch, computed once (``shared_outputs.shared_logits``)."""

from __future__ import annotations

from torch import Tensor

from osrbench import OpenSetModel, Postprocessor
from osrbench_postprocessors.configs import EnergyConfig, NoOptions
from osrbench_postprocessors.shared_outputs import shared_logits


class MaxSoftmax(Postprocessor):
    """Hendrycks & Gimpel 2017: the largest softmax probability."""

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        return shared_logits(model, images).float().softmax(dim=1).amax(dim=1)


class MaxLogit(Postprocessor):
    """Vaze et al. 2022 (and Hendrycks et al. 2022): the largest logit."""

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        return shared_logits(model, images).float().amax(dim=1)


def energy_score(logits: Tensor, temperature: float) -> Tensor:
    """Negative free energy T·logsumexp(logits / T) (Liu et al. 2020); higher = more likely known."""
    return temperature * (logits.float() / temperature).logsumexp(dim=1)


class Energy(Postprocessor):
    def __init__(self, config: EnergyConfig):
        self.temperature = config.temperature

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        return energy_score(shared_logits(model, images), self.temperature)


def max_softmax(config: NoOptions) -> MaxSoftmax:
    return MaxSoftmax()


def max_logit(config: NoOptions) -> MaxLogit:
    return MaxLogit()
