"""The batched SimCLR views: geometry, colour maths against torchvision, no flips where flips change the class."""

import torch
from osrbench_gradmix.views import (
    colour_jitter,
    grayscale,
    hsv_to_rgb,
    make_view,
    random_grayscale,
    rgb_to_hsv,
    simclr_view,
)
from torchvision.transforms.v2 import functional as TF

from osrbench.gpu_augment import random_affine_crop


def random_resized_crop(x, scale, ratio, hflip):
    return random_affine_crop(x, scale=scale, ratio=ratio, hflip=hflip)


def random_rotation(x, degrees):
    return random_affine_crop(x, scale=(1.0, 1.0), degrees=degrees)


def batch(n=4, channels=3, size=16, seed=0):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def test_full_crop_is_the_identity_and_flips_only_when_allowed():
    x = batch()
    torch.manual_seed(0)
    assert torch.allclose(random_resized_crop(x, (1.0, 1.0), (1.0, 1.0), hflip=False), x, atol=1e-5)
    x = batch(64)
    out = random_resized_crop(x, (1.0, 1.0), (1.0, 1.0), hflip=True)
    same = (out - x).abs().flatten(1).amax(1) < 1e-5
    mirrored = (out - x.flip(3)).abs().flatten(1).amax(1) < 1e-5
    assert torch.all(same | mirrored) and same.any() and mirrored.any()


def test_crop_zooms_into_the_image():
    # a horizontal ramp keeps its direction and covers a narrower range after a smaller crop
    ramp = torch.linspace(0, 1, 32).expand(8, 1, 32, 32).contiguous()
    out = random_resized_crop(ramp, (0.2, 0.3), (1.0, 1.0), hflip=False)
    spread = out[:, 0, 16, -1] - out[:, 0, 16, 0]
    assert torch.all(spread > 0) and torch.all(spread < 0.7)


def test_zero_rotation_is_the_identity():
    x = batch(channels=1)
    assert torch.allclose(random_rotation(x, 0.0), x, atol=1e-5)
    assert torch.allclose(make_view(x, "rotate", False, (0.2, 1.0), 0.0), x, atol=1e-5)


def test_hsv_round_trip_and_hue_shift_match_torchvision():
    x = batch()
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5)
    hsv = rgb_to_hsv(x)
    shifted = hsv_to_rgb(torch.stack([(hsv[:, 0] + 0.1) % 1.0, hsv[:, 1], hsv[:, 2]], 1))
    assert torch.allclose(shifted, TF.adjust_hue(x, 0.1), atol=1e-4)
    assert torch.allclose(grayscale(x), TF.rgb_to_grayscale(x), atol=1e-6)


def test_jitter_and_grayscale_probabilities():
    x = batch(400)
    jittered = colour_jitter(x, 0.4, 0.4, 0.4, 0.1, p=0.8)
    changed = (jittered - x).abs().flatten(1).amax(1) > 1e-6
    assert 0.7 < changed.float().mean() < 0.9
    gray = random_grayscale(x, p=0.2)
    made_gray = (gray - x).abs().flatten(1).amax(1) > 1e-6
    assert 0.1 < made_gray.float().mean() < 0.3
    assert torch.allclose(gray[made_gray][:, 0], gray[made_gray][:, 1])


def test_simclr_views_stay_images_on_both_image_kinds():
    for channels in (1, 3):
        out = simclr_view(batch(8, channels), hflip=True)
        assert out.shape == (8, channels, 16, 16) and out.min() >= 0 and out.max() <= 1
