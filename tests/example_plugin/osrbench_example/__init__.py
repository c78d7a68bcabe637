"""A third-party plugin: a nearest-class-mean method and a scorer, registered through its own entry point."""

from dataclasses import dataclass

import torch

import osrbench
from osrbench import MethodSpec, OpenSetModel, Prediction, ScorerSpec
from osrbench.api import map_batches, predict_all


@dataclass
class NearestMeanConfig:
    pass


class NearestMean(OpenSetModel):
    """Classifies by the nearest class mean in pixel space; known-ness = minus that distance."""

    def __init__(self, means: torch.Tensor):
        super().__init__()
        self.register_buffer("means", means)

    def predict(self, images):
        d = torch.cdist(images.flatten(1).float(), self.means)
        dist, label = d.min(dim=1)
        return Prediction(label, -dist)


def fit(split, config, ctx):
    x = map_batches(lambda b: b.flatten(1).float(), split.train_images, ctx)
    y = split.train_labels.to(x.device)
    means = torch.stack([x[y == k].mean(0) for k in range(split.num_classes)])
    return NearestMean(means)


@dataclass
class MeanScoreConfig:
    pass


def mean_known_score(model, split, config, ctx):
    return {"mean_known_score": float(predict_all(model, split.test_images, ctx).scores.mean())}


@osrbench.hookimpl
def osrbench_methods():
    return [MethodSpec(name="nearest-mean", description="nearest class mean in pixel space (example plugin)",
                       config=NearestMeanConfig, fit=fit, accepts_augmentation=False)]


@osrbench.hookimpl
def osrbench_scorers():
    return [ScorerSpec(name="mean-score", description="mean known-ness of known test samples (example plugin)",
                       config=MeanScoreConfig, score=mean_known_score)]
