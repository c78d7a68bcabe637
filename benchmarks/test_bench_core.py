"""Speed benchmarks of the hot pieces (run apart from the tests):

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
