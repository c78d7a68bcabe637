"""The baseline's per-size recipe: auto options resolve by image size, explicit options win."""

from __future__ import annotations

import torch

from osrbench_baseline import BaselineConfig
from osrbench_baseline.method import ClassifierModel, build_network
from osrbench_baseline.recipe import RECIPES, recipe_for, resolve


def test_auto_options_take_the_recipe_of_the_image_size():
    full = 50000  # training images
    assert recipe_for(8, full) == RECIPES[16]
    assert recipe_for(28, full) == RECIPES[28]
    assert recipe_for(32, full) == RECIPES[32]
    assert recipe_for(64, full) == RECIPES[64]
    assert recipe_for(96, full) == RECIPES[64]
    assert resolve(BaselineConfig(), 32, full) == RECIPES[32]


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
