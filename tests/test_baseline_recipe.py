"""The baseline's per-size recipe: auto options resolve by image size, explicit options win; the fast recipe's
pieces (whitening, alternating flips, lookahead) do what they say and resume exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from guide import write_protocol
from interrupts import ctrl_c_after_epoch
from synthetic import make_textures

from osrbench.cli import main
from osrbench.plugins import load_plugins
from osrbench_baseline import BaselineConfig
from osrbench_baseline.method import ClassifierModel, build_network
from osrbench_baseline.recipe import RECIPES, recipe_for, resolve, version_for


def test_auto_options_take_the_recipe_of_the_image_size():
    full = 50000  # training images
    assert recipe_for(8, full) == RECIPES[16]
    assert recipe_for(28, full) == RECIPES[28]
    assert recipe_for(32, full) == RECIPES[32]
    assert recipe_for(64, full) == RECIPES[64]
    assert recipe_for(96, full) == RECIPES[64]
    assert resolve(BaselineConfig(), 32, full) == RECIPES[32]


def test_the_32px_default_is_the_fast_cifar_recipe_and_the_other_sizes_keep_theirs():
    fast = RECIPES[32]
    assert (fast.backbone, fast.stem_stride, fast.crop, fast.crop_pad, fast.crop_scale, fast.cutout, fast.ema,
            fast.tta_shift, fast.flip, fast.lookahead) == ("whitened-cnn", 1, "pad", 2, 1.0, 16, 0.0, 2,
                                                           "alternating", 5)
    assert [RECIPES[side].backbone for side in (16, 28, 64)] == ["small-cnn", "resnet9", "resnet9"]
    assert all((RECIPES[side].flip, RECIPES[side].lookahead) == ("random", 0) for side in (16, 28, 64))


def image_split(side: int):
    class FakeSplit:
        image_shape = (3, side, side)
    return FakeSplit


def test_the_method_version_changes_only_for_the_image_sizes_whose_default_recipe_changed():
    """The 32-px default changed (ResNet-9, 80 epochs -> the whitened CNN): its records are neither reused nor
    averaged with the new ones; those of digits (8 px), MNIST (28 px) and TinyImageNet (64 px) stay current."""
    versions = {side: version_for(image_split(side)) for side in (8, 16, 17, 28, 29, 32, 33, 64, 96)}
    assert versions == {8: "1", 16: "1", 17: "1", 28: "1", 29: "2", 32: "2", 33: "1", 64: "1", 96: "1"}
    ce = load_plugins().methods.get("ce")
    assert ce.version is version_for and ce.version_for(image_split(32)) == "2"
    assert ce.version_for(image_split(28)) == "1"


def test_explicit_options_override_the_recipe():
    recipe = resolve(BaselineConfig(epochs=3, crop="resized", ema=0.0, tta_shift=0), 32, 50000)
    assert (recipe.epochs, recipe.crop, recipe.ema, recipe.tta_shift) == (3, "resized", 0.0, 0)
    assert recipe.cutout == RECIPES[32].cutout  # still auto


def test_stem_stride_halves_the_resolution_and_width_scales_channels():
    class FakeSplit:
        image_shape = (3, 64, 64)
        num_classes = 5
        mean, std = (0.5,) * 3, (0.25,) * 3

    recipe = resolve(BaselineConfig(width=0.25, stem_stride=2), 64, 50000)
    net = build_network(FakeSplit, recipe)
    assert net.head.in_features == 128  # 512 * 0.25
    stem_out = net.features[0](torch.zeros(1, 3, 64, 64))
    assert stem_out.shape[-1] == 32


def test_the_32px_small_set_recipe_is_a_quarter_width_whitened_cnn_that_whitens_a_few_hundred_images():
    from osrbench_baseline.method import fit_whitening
    from osrbench_baseline.networks import PatchWhitening

    class SmokeSplit:  # a --limit 50 run of 6 known classes
        image_shape = (3, 32, 32)
        num_classes = 6
        mean, std = (0.5,) * 3, (0.25,) * 3

    recipe = recipe_for(32, 300)
    assert (recipe.backbone, recipe.width, recipe.tta_shift) == ("whitened-cnn", 0.25, 0)
    net = build_network(SmokeSplit, recipe)
    assert net.head.in_features == 64  # 256 * 0.25
    images = torch.randint(0, 256, (300, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    fit_whitening(net, images, None)
    (whitening,) = [m for m in net.modules() if isinstance(m, PatchWhitening)]
    assert bool(torch.isfinite(whitening.weight).all()) and whitening.weight.abs().sum() > 0
    logits = net.eval()(images[:4].float() / 255)
    assert logits.shape == (4, 6) and bool(torch.isfinite(logits).all())


def test_test_time_views_average_mirrors_and_translations():
    class Identity(torch.nn.Module):  # logits = the image's pixels, so views are visible in the result
        def embed(self, x):
            return x.flatten(1)

        head = torch.nn.Identity()

    x = torch.arange(16.0).view(1, 1, 4, 4)
    model = ClassifierModel(Identity(), flip_tta=True, tta_shift=1)
    assert len(model.views(x)) == 6
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    views = [x, padded[:, :, :4, :4], padded[:, :, 2:, 2:]]
    views += [v.flip(3) for v in views]
    expected = sum(v.flatten(1) for v in views) / 6
    assert torch.allclose(model(x), expected)


def test_the_weight_average_is_an_exponential_moving_average_of_parameters_and_buffers():
    from osrbench_baseline.method import WeightAverage

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    start = [t.clone() for t in [*net.parameters(), *net.buffers()]]
    average = WeightAverage(net, decay=0.75)
    for value in (1.0, 3.0):
        with torch.no_grad():
            for t in [*net.parameters(), *net.buffers()]:
                t.fill_(value)
        average.update(net)
    linear_weight, *_, running_var, tracked = [*average.module.parameters(), *average.module.buffers()]
    expected = lambda first: (first * 0.75 + 1.0 * 0.25) * 0.75 + 3.0 * 0.25  # noqa: E731
    assert torch.allclose(linear_weight, expected(start[0])) and torch.allclose(running_var, expected(start[-2]))
    assert tracked.item() == 3  # integer counters are copied, not averaged
    assert not linear_weight.requires_grad


def test_the_whitening_layer_decorrelates_the_training_patches_to_unit_variance():
    from osrbench_baseline.networks import PatchWhitening

    g = torch.Generator().manual_seed(0)

    def correlated_images() -> torch.Tensor:  # channel 1 nearly equals channel 0; channel 2 is 5x wider
        a, b, c = torch.randn(3, 500, 1, 9, 9, generator=g)
        return torch.cat([a, a + 0.1 * b, 5 * c], dim=1)

    layer = PatchWhitening(3, eps=0.0)
    layer.fit(correlated_images())
    out = layer(correlated_images())  # new images of the same distribution
    half = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)
    half = half - half.mean(dim=0)
    assert torch.allclose(half.T @ half / len(half), torch.eye(12), atol=0.1)
    bias = layer.bias[:, None, None]
    assert torch.allclose((out - bias)[:, 12:], -(out - bias)[:, :12], atol=1e-4)  # each filter and its negative
    assert not layer.weight.requires_grad and layer.bias.requires_grad


def test_alternating_flips_mirror_each_image_in_exactly_one_of_two_epochs():
    from osrbench_baseline.method import epoch_batches

    class FakeSplit:
        train_images = torch.randint(0, 256, (200, 1, 4, 4), dtype=torch.uint8,
                                     generator=torch.Generator().manual_seed(1))
        train_labels = torch.zeros(200, dtype=torch.long)
        hflip = True

    batches = epoch_batches(FakeSplit, resolve(BaselineConfig(flip="alternating"), 32, 50000), 50, seed=0)
    even, odd = batches(0).images, batches(1).images
    original, mirrored = FakeSplit.train_images, FakeSplit.train_images.flip(3)
    mirrored_in_even = (even == mirrored).flatten(1).all(1) & (odd == original).flatten(1).all(1)
    mirrored_in_odd = (odd == mirrored).flatten(1).all(1) & (even == original).flatten(1).all(1)
    assert bool((mirrored_in_even | mirrored_in_odd).all())
    assert 60 < int(mirrored_in_even.sum()) < 140  # a random half
    assert torch.equal(batches(2).images, even)
    assert torch.equal(epoch_batches(FakeSplit, resolve(BaselineConfig(flip="alternating"), 32, 50000), 50,
                                     seed=0)(0).images, even)  # the same half after a restart


def test_the_lookahead_restarts_the_network_from_slow_weights_every_few_steps():
    from osrbench_baseline.method import Lookahead

    net = torch.nn.Linear(2, 1)
    lookahead = Lookahead(net, every=5, steps=20)
    slow_before = lookahead.slow.module.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    moved = net.weight.clone()
    lookahead.after_step(net, 3)  # not a multiple of 5: nothing happens
    assert torch.equal(net.weight, moved) and torch.equal(lookahead.slow.module.weight, slow_before)
    lookahead.after_step(net, 10)
    keep = 0.95 ** 5 * (10 / 20) ** 3
    assert torch.allclose(lookahead.slow.module.weight, keep * slow_before + (1 - keep) * moved)
    assert torch.equal(net.weight, lookahead.slow.module.weight)
    with torch.no_grad():
        net.weight.add_(1.0)
    slow = lookahead.slow.module.weight.clone()
    lookahead.after_step(net, 20)  # the last step: the network takes the slow weights whole
    assert torch.equal(net.weight, slow) and torch.equal(lookahead.slow.module.weight, slow)


def test_the_whitened_cnn_on_images_too_small_for_its_pools_is_refused_before_training():
    from osrbench import OsrbenchError
    from osrbench_baseline.method import checked_recipe

    class Digits:
        image_shape, train_images, protocol = (1, 8, 8), range(758), "digits"

    with pytest.raises(OsrbenchError, match=r"whitened-cnn: needs images of at least 9 px .* 'digits' has 8x8"):
        checked_recipe(BaselineConfig(backbone="whitened-cnn"), Digits)
    Digits.image_shape = (1, 9, 9)
    assert checked_recipe(BaselineConfig(backbone="whitened-cnn"), Digits).backbone == "whitened-cnn"


@pytest.mark.slow
def test_a_run_with_lookahead_and_alternating_flips_resumes_exactly(tmp_path, monkeypatch):
    """Their state (the slow weights, the step count, the mirrored half) survives an interruption: the resumed
    run's metrics equal an uninterrupted run's."""
    np.savez(tmp_path / "textures.npz", **make_textures(size=16, channels=1, per_class_train=40, per_class_test=20))
    protocol = write_protocol(tmp_path, "textures.json", name="textures", dataset="textures", unknown_dataset="textures",
                              hflip=True, splits=[{"known": [0, 2, 4, 6, 8, 9], "unknown": [1, 3, 5, 7]}])

    def run(results):
        return main(["run", "--protocol", str(protocol), "--data-root", str(tmp_path), "--results-dir", str(results),
                     "--quiet", "--set", "epochs=4", "batch_size=32", "lr=0.05", "lookahead=3", "flip=alternating"])

    with ctrl_c_after_epoch(monkeypatch, 2):  # in epoch three
        assert run(tmp_path / "res") == 130
    assert run(tmp_path / "res") == 0 and run(tmp_path / "straight") == 0
    resumed, straight = (json.loads(next((tmp_path / d).rglob("split0-seed0.json")).read_text())
                         for d in ("res", "straight"))
    assert resumed["cost"]["resumed"] is True and resumed["method_info"]["recipe"]["lookahead"] == 3
    assert resumed["metrics"] == straight["metrics"]
