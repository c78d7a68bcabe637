"""The linear probe: recovers a separable problem, matches scikit-learn's logistic regression, refuses models without an embedding."""

import numpy as np
import pytest
import torch
from osrbench_scorers.linear_probe import (
    LinearProbeConfig,
    fit_linear,
    score_linear_probe,
    topk_accuracy,
)
from scorers_toys import BrightnessModel, context
from sklearn.linear_model import LogisticRegression

from osrbench import OsrbenchError, Split


class PixelModel(BrightnessModel):
    """Embedding = the raw pixels, so the probe sees the toy features directly."""

    def embed(self, images):
        return images.flatten(1)


def cluster_split(num_classes: int, per_class: int, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randint(30, 226, (num_classes, 1, 3, 3), generator=g).float()
    labels = torch.arange(num_classes).repeat_interleave(per_class)

    def draw():
        noisy = centres[labels] + torch.randint(-12, 13, (len(labels), 1, 3, 3), generator=g).float()
        return noisy.clamp(0, 255).to(torch.uint8)

    return Split(protocol="toy", index=0, train_images=draw(), train_labels=labels, test_images=draw(),
                 test_labels=labels, unknown_images=draw()[:0], class_names=[str(i) for i in range(num_classes)],
                 mean=(0.5,), std=(0.25,), fingerprint="toy", split_family="toy", hflip=False)


def test_recovers_separable_clusters(tmp_path):
    split = cluster_split(num_classes=8, per_class=40)
    out = score_linear_probe(PixelModel(8), split, LinearProbeConfig(), context(tmp_path))
    assert out["top1"] == 1.0 and out["top5"] == 1.0 and out["train_top1"] == 1.0 and out["feature_dim"] == 9


def test_matches_scikit_learn_logistic_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = (x @ rng.normal(size=(5, 3)) + rng.normal(scale=2.0, size=(300, 3))).argmax(1)  # overlapping classes
    wd = 0.05
    weight, bias = fit_linear(torch.tensor(x, dtype=torch.float32), torch.tensor(y), 3, steps=300, weight_decay=wd)
    # scikit-learn minimises 0.5 ||W||^2 + C * sum CE; ours is mean CE + wd/2 ||W||^2, so C = 1 / (wd * n).
    ref = LogisticRegression(C=1 / (wd * len(y)), tol=1e-10, max_iter=5000).fit(x, y)
    ours = torch.softmax(torch.tensor(x, dtype=torch.float32) @ weight.T + bias, dim=1).numpy()
    assert np.abs(ours - ref.predict_proba(x)).max() < 1e-3


def test_topk_accuracy():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    labels = torch.tensor([1, 2])
    assert topk_accuracy(logits, labels, 1) == 0.5 and topk_accuracy(logits, labels, 2) == 1.0


def test_no_top5_with_five_classes_or_fewer(tmp_path):
    out = score_linear_probe(PixelModel(3), cluster_split(3, 10), LinearProbeConfig(steps=20), context(tmp_path))
    assert "top5" not in out and out["top1"] == 1.0


def test_model_without_embedding_is_refused(tmp_path):
    class NoEmbedding(BrightnessModel):
        has_embedding = False

    with pytest.raises(OsrbenchError, match="needs an embedding.*has_embedding is False"):
        score_linear_probe(NoEmbedding(3), cluster_split(3, 5), LinearProbeConfig(), context(tmp_path))


def test_bad_config_rejected():
    with pytest.raises(OsrbenchError, match="linear-probe"):
        LinearProbeConfig(steps=0).validate()
