"""Speed benchmarks of the hot pieces. ``python -m pytest`` runs each once, untimed (``--benchmark-disable`` in
pyproject), so they stay working; to time them:

    pytest benchmarks --benchmark-enable
"""

import numpy as np
import pytest
import torch

from osrbench import DataOptions, RunContext
from osrbench.gpu_augment import standard_augment
from osrbench.metrics import auroc, oscr
from osrbench.plugins import load_plugins
from osrbench.progress import Progress

N = 100_000


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(0)
    known = np.round(rng.normal(1, 1, N), 3)
    unknown = np.round(rng.normal(0, 1, N), 3)
    labels = rng.integers(0, 6, N)
    pred = np.where(rng.random(N) < 0.9, labels, (labels + 1) % 6)
    return known, pred, labels, unknown


def test_oscr_100k(benchmark, scores):
    known, pred, labels, unknown = scores
    benchmark(oscr, known, pred, labels, unknown)


def test_auroc_100k(benchmark, scores):
    known, _, _, unknown = scores
    benchmark(auroc, known, unknown)


def test_batched_augmentation_512_cifar_images(benchmark):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.rand(512, 3, 32, 32, device=device)

    def step():
        out = standard_augment(x, crop_pad=4, hflip=True, cutout_size=16)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    benchmark(step)


def test_one_training_epoch_on_digits(benchmark, tmp_path):
    plugins = load_plugins()
    split = plugins.protocols.get("digits").load(0, DataOptions(tmp_path))
    method = plugins.methods.get("ce")
    config = method.config(epochs=1)
    counter = iter(range(10**6))

    def one_epoch():
        ctx = RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path / f"w{next(counter)}",
                         progress=Progress(quiet=True))
        method.fit(split, config, ctx)

    benchmark.pedantic(one_epoch, rounds=3, iterations=1)


def test_a_fast_recipe_training_step_of_ce_on_256_cifar_images(benchmark, tmp_path):
    """One optimiser step of ``ce`` with the fast CIFAR-10 recipe's pieces (whitened CNN at width 0.25,
    alternating flips, lookahead every step) on CIFAR-sized images."""
    from types import SimpleNamespace

    from osrbench_baseline import BaselineConfig
    from osrbench_baseline.method import build_training

    g = torch.Generator().manual_seed(0)
    split = SimpleNamespace(image_shape=(3, 32, 32), num_classes=6, mean=(0.5,) * 3, std=(0.25,) * 3, hflip=True,
                            protocol="bench", train_images=torch.randint(0, 256, (2048, 3, 32, 32), dtype=torch.uint8,
                                                                         generator=g),
                            train_labels=torch.arange(2048) % 6)
    config = BaselineConfig(backbone="whitened-cnn", width=0.25, epochs=1000, batch_size=256, flip="alternating",
                            lookahead=1, tta_shift=0)
    ctx = RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path, progress=Progress(quiet=True))
    training = build_training(split, config, ctx)
    batch = (split.train_images[:256], split.train_labels[:256])

    def step():
        training.optimizer.zero_grad(set_to_none=True)
        training.step(batch).backward()
        training.optimizer.step()
        training.scheduler.step()
        training.after_step()

    benchmark(step)


def test_gradmix_simclr_views_of_256_cifar_images(benchmark):
    from osrbench_gradmix.views import make_view

    x = torch.rand(256, 3, 32, 32)
    benchmark(make_view, x, "simclr", True, (0.2, 1.0), 0.0)


def test_gradmix_training_step_with_layercam_mixing(benchmark):
    """One step of the whole GradMix objective (two views, LayerCAM maps, mixed views, backward) at the spec's
    fast-version width on 32 CIFAR-sized images."""
    from osrbench_gradmix.augment import GradMixAugConfig, GradMixAugmentation
    from osrbench_gradmix.network import ContrastiveNet
    from osrbench_gradmix.objective import Objective

    net = ContrastiveNet(3, (0.5,) * 3, (0.25,) * 3, width=8, head_dim=32)
    objective = Objective(net=net, num_classes=6, theta=1.0, lam=1.2, temperature=0.05, base_temperature=0.07,
                          view_kind="simclr", hflip=True, crop_scale=(0.2, 1.0), rotation=0.0,
                          augmentation=GradMixAugmentation("gradmix", GradMixAugConfig(), cam="layercam"))
    x, labels = torch.rand(32, 3, 32, 32), torch.arange(32) % 6

    def step():
        net.zero_grad(set_to_none=True)
        objective(x, labels).backward()

    benchmark(step)


def test_fitting_the_five_feature_postprocessors_of_one_model(benchmark, tmp_path):
    """mahalanobis, relative-mahalanobis, knn, vim and react fitted on one trained model (the training set is
    embedded once for all five)."""
    from osrbench import TrainData
    from osrbench_baseline.method import ClassifierModel, build_network
    from osrbench_baseline.recipe import recipe_for

    plugins = load_plugins()
    split = plugins.protocols.get("digits").load(0, DataOptions(tmp_path))
    model = ClassifierModel(build_network(split, recipe_for(8, len(split.train_images))), flip_tta=False).eval()
    train = TrainData(split.train_images, split.train_labels, split.num_classes)
    ctx = RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path, progress=Progress(quiet=True))
    names = ("mahalanobis", "relative-mahalanobis", "knn", "vim", "react")

    def fit_all():
        for name in names:
            spec = plugins.postprocessors.get(name)
            spec.build(spec.config()).fit(model, train, ctx)

    benchmark(fit_all)


def test_scoring_256_cifar_images_with_the_nine_postprocessors_of_one_model(benchmark, tmp_path):
    """A run's scoring of one test batch: the nine built-in postprocessors of one whitened CNN (width 0.25, the
    baseline's six test-time views), fitted on 256 training images, each scoring 256 CIFAR-sized test images as
    the harness does (no gradients: the batch's logits and features are computed once for all of them; ODIN's
    gradient pass goes in parts)."""
    from dataclasses import replace
    from types import SimpleNamespace

    from osrbench import TrainData
    from osrbench.batches import to_float
    from osrbench_baseline.method import ClassifierModel, build_network
    from osrbench_baseline.recipe import RECIPES
    from osrbench_postprocessors.shared_outputs import shared_outputs

    g = torch.Generator().manual_seed(0)
    split = SimpleNamespace(image_shape=(3, 32, 32), num_classes=6, mean=(0.5,) * 3, std=(0.25,) * 3)
    recipe = replace(RECIPES[32], width=0.25)
    model = ClassifierModel(build_network(split, recipe), flip_tta=True, tta_shift=recipe.tta_shift).eval()
    images = torch.randint(0, 256, (512, 3, 32, 32), dtype=torch.uint8, generator=g)
    train = TrainData(images[:256], torch.arange(256) % 6, 6)
    test = to_float(images[256:])
    ctx = RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path, progress=Progress(quiet=True))
    plugins = load_plugins()
    fitted = []
    for name in ("msp", "mls", "energy", "odin", "mahalanobis", "relative-mahalanobis", "knn", "vim", "react"):
        spec = plugins.postprocessors.get(name)
        fitted.append(spec.build(spec.config()))
        fitted[-1].fit(model, train, ctx)

    @torch.no_grad()
    def score_all():
        shared_outputs.clear()  # each round computes the batch's outputs afresh, as for a new batch
        return [pp.score(model, test) for pp in fitted]

    benchmark(score_all)
