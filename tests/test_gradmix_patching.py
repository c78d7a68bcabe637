"""Where the GradMix patch goes, what fills it, and its loss weight."""

import pytest
import torch
from osrbench_gradmix.augment import GradMixAugmentation
from osrbench_gradmix.config import CodeVariantConfig, GradMixAugConfig
from osrbench_gradmix.patching import argmax_centres, boxes_around, paste_resized
from torch.nn import functional as F

from osrbench import AugmentContext, OsrbenchError
from osrbench.config import build_config

SIZE = 32


def peaked_maps(peaks):
    maps = torch.rand(len(peaks), SIZE, SIZE) * 0.1
    for i, (r, c) in enumerate(peaks):
        maps[i, r, c] = 5.0
    return maps


def context(maps, seed=0):
    calls = []

    def saliency(images, labels, *, kind, layers):
        calls.append((kind, layers))
        return maps

    return AugmentContext(num_classes=3, saliency=saliency, generator=torch.Generator().manual_seed(seed)), calls


def images(n, seed=1):
    return torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def fixed_gamma(gamma, **kw):
    return GradMixAugmentation("gradmix", GradMixAugConfig(gamma_min=gamma, gamma_max=gamma, **kw), cam="layercam")


def test_patch_is_centred_on_the_map_argmax_and_shifted_at_borders():
    peaks = [(10, 20), (16, 5), (1, 30), (31, 0)]
    x = images(4)
    ctx, calls = context(peaked_maps(peaks))
    out = fixed_gamma(0.25)(x, torch.zeros(4, dtype=torch.long), ctx)  # side floor(0.25 * 32) = 8
    assert calls == [("layercam", ("layer4.1",))]
    expected_boxes = [(6, 16, 14, 24), (12, 1, 20, 9), (0, 24, 8, 32), (24, 0, 32, 8)]  # last two shifted inside
    for i, (top, left, bottom, right) in enumerate(expected_boxes):
        if i < 2:  # not clamped: centre = top + side // 2 = the peak
            assert (top + 4, left + 4) == peaks[i]
        source = F.interpolate(x[out.partner[i]][None], size=(8, 8), mode="bilinear", align_corners=False)[0]
        assert torch.allclose(out.images[i, :, top:bottom, left:right], source, atol=1e-6)
        outside = torch.ones(SIZE, SIZE, dtype=torch.bool)
        outside[top:bottom, left:right] = False
        assert torch.equal(out.images[i][:, outside], x[i][:, outside])
        assert out.lam[i].item() == pytest.approx(1 - 64 / 1024)
    assert out.weight.item() == pytest.approx(0.0625)


def test_clip_border_cuts_the_box():
    boxes = boxes_around(torch.tensor([[1, 30]]), torch.tensor([[8, 8]]), (SIZE, SIZE), "clip")
    assert boxes.tolist() == [[0, 26, 5, 32]]
    boxes = boxes_around(torch.tensor([[1, 30]]), torch.tensor([[8, 8]]), (SIZE, SIZE), "shift")
    assert boxes.tolist() == [[0, 24, 8, 32]]


def test_argmax_takes_the_first_index_on_ties():
    maps = torch.zeros(1, 4, 4)
    maps[0, 2, 1] = maps[0, 3, 3] = 1.0
    assert argmax_centres(maps).tolist() == [[2, 1]]


def test_pasted_pixels_equal_the_resized_source_for_any_box():
    x, src = images(3, 1), images(3, 2)
    boxes = torch.tensor([[0, 0, 3, 5], [10, 7, 26, 23], [20, 1, 32, 17]])
    out = paste_resized(x, src, boxes)
    for i, (top, left, bottom, right) in enumerate(boxes.tolist()):
        resized = F.interpolate(src[i:i + 1], size=(bottom - top, right - left), mode="bilinear", align_corners=False)
        assert torch.allclose(out[i, :, top:bottom, left:right], resized[0], atol=1e-5)


def test_weight_is_gamma_squared_and_matches_the_patch():
    aug = GradMixAugmentation("gradmix", GradMixAugConfig(per_sample=True), cam="layercam")
    x = images(256)
    ctx, _ = context(torch.rand(256, SIZE, SIZE))
    out = aug(x, torch.zeros(256, dtype=torch.long), ctx)
    w = out.weight
    assert w.shape == (256,) and w.min() >= 0.01 and w.max() <= 0.25
    assert w.max() - w.min() > 0.15  # γ really varies over U(0.1, 0.5)
    side = (w.sqrt() * SIZE).floor()
    assert torch.allclose((1 - out.lam) * SIZE * SIZE, side ** 2)  # the covered area is the drawn γ's box
    one = fixed_gamma(0.3)(x[:4], torch.zeros(4, dtype=torch.long), context(torch.rand(4, SIZE, SIZE))[0])
    assert one.weight.ndim == 0 and one.weight.item() == pytest.approx(0.09)


def test_code_variant_fills_noise_and_weights_by_the_uncovered_area():
    aug = GradMixAugmentation("gradmix_codevariant", CodeVariantConfig(gamma_min=0.25, gamma_max=0.25),
                              cam="layercam", code_variant=True)
    x = images(2)
    ctx, _ = context(peaked_maps([(16, 16), (0, 0)]))
    out = aug(x, torch.zeros(2, dtype=torch.long), ctx)
    # area share 0.25 -> side ratio 0.5 -> 16 px; the second box is clipped at the corner to 8 x 8
    assert out.lam.tolist() == pytest.approx([1 - 256 / 1024, 1 - 64 / 1024])
    assert torch.allclose(out.weight, out.lam)
    patch = out.images[0, :, 8:24, 8:24]
    assert torch.equal(patch[0], patch[1]) and torch.equal(patch[1], patch[2])  # one value per pixel
    assert patch.min() >= 0 and patch.max() < 1 and not torch.allclose(patch, x[0, :, 8:24, 8:24])
    assert out.partner.tolist() == [0, 1]


def test_gradcam_variant_asks_for_grad_cam_maps():
    aug = GradMixAugmentation("gradcam", GradMixAugConfig(layers=("layer3.1", "layer4.1")), cam="gradcam")
    ctx, calls = context(torch.rand(2, SIZE, SIZE))
    aug(images(2), torch.zeros(2, dtype=torch.long), ctx)
    assert calls == [("gradcam", ("layer3.1", "layer4.1"))]


def test_random_centre_asks_for_no_maps_and_keeps_the_weight():
    x = images(64)
    ctx, calls = context(peaked_maps([(5, 5)] * 64))
    out = fixed_gamma(0.25, centre="random")(x, torch.zeros(64, dtype=torch.long), ctx)
    assert calls == [] and out.weight.item() == pytest.approx(0.0625)
    changed = (out.images != x).any(dim=1)  # (B, H, W): where the patch went
    tops = {int(torch.nonzero(changed[i].any(dim=1))[0]) for i in range(64) if changed[i].any()}
    assert len(tops) > 5  # boxes spread over the image, not all on the map peak
    plain = fixed_gamma(0.25, centre="random")(x, torch.zeros(64, dtype=torch.long), AugmentContext(num_classes=3))
    assert plain.images.shape == x.shape  # no activation maps needed


def test_method_without_maps_is_rejected():
    with pytest.raises(OsrbenchError, match="--method gradmix"):
        fixed_gamma(0.2)(images(2), torch.zeros(2, dtype=torch.long), AugmentContext(num_classes=3))


@pytest.mark.parametrize("overrides, message", [
    ({"layers": "layer5.0"}, "choose blocks among"),
    ({"gamma_min": "0.6", "gamma_max": "0.5"}, "gamma_min <= gamma_max"),
    ({"border": "wrap"}, "shift or clip"),
    ({"centre": "corner"}, "cam or random"),
])
def test_bad_options_are_rejected(overrides, message):
    with pytest.raises(OsrbenchError, match=message):
        build_config(GradMixAugConfig, overrides, "augmentation 'gradmix'")


def test_layers_parse_from_the_command_line():
    config = build_config(GradMixAugConfig, {"layers": "layer3.1,layer4.1"}, "augmentation 'gradmix'")
    assert config.layers == ("layer3.1", "layer4.1")
