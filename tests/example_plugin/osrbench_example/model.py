"""The example's model, training and scorer: imported on first use, so that listing plugins needs no torch."""

import torch

from osrbench import OpenSetModel, Prediction
from osrbench.api import map_batches, predict_all


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


def mean_known_score(model, split, config, ctx):
    return {"mean_known_score": float(predict_all(model, split.test_images, ctx).scores.mean())}
