"""Mixup and CutMix: mixed pixels, mixing shares, loss weights, options; a baseline run with each."""

from pathlib import Path

import pytest
import torch
from osrbench_mixing import MixingConfig
from osrbench_mixing.mixing import BetaMixing, cutmix, mixup

from osrbench import AugmentContext, OsrbenchError
from osrbench.config import build_config
from osrbench.plugins import load_plugins
from osrbench.runner import RunRequest, run


def constant_images(n=8, size=16):
    """Image i is filled with the value i, so every mixed pixel says where it came from."""
    return torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size).contiguous()


def ctx(seed=0):
    return AugmentContext(num_classes=4, generator=torch.Generator().manual_seed(seed))


def test_mixup_is_a_convex_combination_with_soft_targets():
    torch.manual_seed(0)
    x = constant_images()
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    out = BetaMixing("mixup", mixup, MixingConfig(alpha=1.0))(x, labels, ctx())
    lam = out.lam[0].item()
    assert torch.allclose(out.lam, torch.full((8,), lam))
    assert torch.allclose(out.images, lam * x + (1 - lam) * x[out.partner])
    targets = out.soft_targets(4)
    assert torch.allclose(targets.sum(1), torch.ones(8))
    assert targets[0, labels[0]] >= lam - 1e-6
    assert out.weight.item() == 1.0


def test_cutmix_replaces_exactly_one_box_and_lambda_is_the_kept_share():
    torch.manual_seed(1)
    x = constant_images(size=32)
    for seed in range(5):
        out = BetaMixing("cutmix", cutmix, MixingConfig(alpha=1.0))(x, torch.zeros(8, dtype=torch.long), ctx(seed))
        for i in range(8):
            own = out.images[i] == x[i]
            from_partner = out.images[i] == x[out.partner[i]]
            assert torch.all(own | from_partner)
            if out.partner[i] != i:
                changed = (~own[0]).nonzero()
                rows, cols = changed[:, 0], changed[:, 1]
                # a solid rectangle
                assert len(changed) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
                assert out.lam[i].item() == pytest.approx(1 - len(changed) / 1024)


@pytest.mark.parametrize("weight, expected", [("one", lambda lam: 1.0), ("replaced", lambda lam: 1 - lam),
                                              ("kept", lambda lam: lam)])
def test_weight_conventions(weight, expected):
    torch.manual_seed(2)
    aug = BetaMixing("mixup", mixup, MixingConfig(weight=weight))
    out = aug(constant_images(), torch.zeros(8, dtype=torch.long), ctx())
    assert out.weight.item() == pytest.approx(expected(out.lam[0].item()))


def test_alpha_controls_the_mixing_strength():
    torch.manual_seed(3)
    x = constant_images()

    def mean_extremity(alpha):
        aug = BetaMixing("mixup", mixup, MixingConfig(alpha=alpha))
        lams = torch.tensor([aug(x, torch.zeros(8, dtype=torch.long), ctx()).lam[0].item() for _ in range(200)])
        return (lams - 0.5).abs().mean().item()

    assert mean_extremity(0.1) > 0.35 > 0.15 > mean_extremity(8.0)


@pytest.mark.parametrize("overrides, message", [({"alpha": "0"}, "α must be positive"),
                                                ({"weight": "half"}, "one, replaced, kept")])
def test_bad_options_are_rejected(overrides, message):
    with pytest.raises(OsrbenchError, match=message):
        build_config(MixingConfig, overrides, "augmentation 'mixup'")


def test_both_are_registered():
    plugins = load_plugins()
    assert "mixup" in plugins.augmentations and "cutmix" in plugins.augmentations


@pytest.mark.slow
@pytest.mark.parametrize("augment", ["mixup", "cutmix"])
def test_baseline_smoke_run_with_mixing_records_alpha(tmp_path: Path, augment):
    (record,) = run(RunRequest(method="msp", protocol="digits", augment=augment, splits=[0], device="cpu",
                               results_dir=tmp_path, quiet=True,
                               overrides={"epochs": "10", "batch_size": "64", f"{augment}.alpha": "0.4",
                                          "osr.plots": "false"}))
    assert record["label"].startswith(f"ce+{augment}@")  # --method msp: ce scored by msp
    assert record["config"]["augmentation"] == {"alpha": 0.4, "weight": "one"}
    assert list(record["metrics"]) == ["msp"]
    assert record["metrics"]["msp"]["osr"]["accuracy"] > 0.8  # it learned despite the mixing (chance: 1/6)
    assert record["metrics"]["msp"]["osr"]["auroc"] > 0.7
