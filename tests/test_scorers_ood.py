"""The ood scorer: OOD sets loaded, reshaped and scored; consistency with the osr scorer."""

import pytest
import torch
from osrbench_scorers.ood import OODConfig, fit_to_shape, parse_set, score_ood
from osrbench_scorers.osr import OSRConfig, score_osr
from scorers_toys import BrightnessModel, context, is_png

from osrbench import OsrbenchError
from osrbench.plugins import load_plugins


def digits_split(tmp_path):
    spec = load_plugins().protocols.get("digits")
    return spec.load(0, context(tmp_path).data)


def test_ood_on_the_unknown_classes_equals_osr_auroc(tmp_path):
    """The digits protocol's unknown test set, named as an OOD set, gives exactly the osr AUROC."""
    split = digits_split(tmp_path)
    unknown = "+".join(str(c) for c in sorted(set(range(10)) - set(split.extras["known_classes"])))
    ctx, model = context(tmp_path), BrightnessModel(split.num_classes)
    ood = score_ood(model, split, OODConfig(sets=[f"digits:{unknown}", "digits"]), ctx)
    osr = score_osr(model, split, OSRConfig(plots=False), ctx)
    assert ood[f"digits:{unknown}.auroc"] == pytest.approx(osr["auroc"], abs=1e-12)
    assert ood["samples"] == {"in_distribution": len(split.test_images), f"digits:{unknown}": len(split.unknown_images),
                              "digits": len(split.test_images) + len(split.unknown_images)}
    assert ood["source_shape"]["digits"] == "1x8x8"
    assert set(ood) >= {f"digits.{k}" for k in ("tnr_at_95tpr", "auroc", "dtacc", "auin", "auout")}
    assert ood["plots"] == ["roc-ood.png"] and is_png(ctx.work_dir / "roc-ood.png")


def test_fit_to_shape_converts_channels_and_size():
    grey = torch.arange(4, dtype=torch.uint8).mul(60).view(4, 1, 1, 1).expand(4, 1, 8, 8).contiguous()
    colour = fit_to_shape(grey, (3, 16, 16), torch.device("cpu"), chunk=3)
    assert colour.shape == (4, 3, 16, 16) and colour.dtype == torch.uint8
    assert torch.equal(colour, grey[:, :1, :1, :1].expand(4, 3, 16, 16))  # constant images stay constant
    rgb = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    rgb[:, 0] = 90  # mean over channels: 30
    assert torch.equal(fit_to_shape(rgb, (1, 32, 32), torch.device("cpu")), torch.full((2, 1, 32, 32), 30, dtype=torch.uint8))
    assert fit_to_shape(grey, (1, 8, 8), torch.device("cpu")) is grey


def test_antialiased_downsampling_averages():
    checker = (torch.arange(64).view(8, 8) + torch.arange(64).view(8, 8).T).remainder(2).to(torch.uint8) * 200
    half = fit_to_shape(checker.view(1, 1, 8, 8), (1, 4, 4), torch.device("cpu"))
    assert torch.all((half.int() - 100).abs() <= 2)  # a checkerboard averages to its mean (edges within 2)


@pytest.mark.parametrize("spec, message", [("cifar10:", "NAME:I\\+J"), ("cifar10:a+b", "class indices")])
def test_bad_set_names_rejected(spec, message):
    with pytest.raises(OsrbenchError, match=message):
        parse_set(spec)


def test_parse_set():
    assert parse_set("svhn") == ("svhn", None) and parse_set("cifar10:2+3") == ("cifar10", [2, 3])


def test_missing_dataset_and_bad_class_are_clear(tmp_path):
    split = digits_split(tmp_path)
    with pytest.raises(OsrbenchError, match="not found"):
        score_ood(BrightnessModel(6), split, OODConfig(sets=["svhn"]), context(tmp_path))
    with pytest.raises(OsrbenchError, match="classes 0..9"):
        score_ood(BrightnessModel(6), split, OODConfig(sets=["digits:12"]), context(tmp_path))
    with pytest.raises(OsrbenchError, match="at least one"):
        OODConfig(sets=[]).validate()
