"""The osr scorer: unchanged metrics, the openness curve, closed-set protocols, plots, activation grid."""

import json
import math

import pytest
import torch
from osrbench_scorers.openness import openness, openness_curve, openness_scheirer
from osrbench_scorers.osr import OSRConfig, score_osr
from scorers_toys import BrightnessModel, brightness_split, context, is_png

from osrbench import DataOptions, OsrbenchError, Split
from osrbench.metrics import macro_f1_at_tpr
from osrbench.protocol_files import load_protocol_file

# 2 known classes (values < 128 -> class 0, >= 128 -> class 1), 3 unknown classes.
KNOWN = [10, 60, 200, 250]
KNOWN_LABELS = [0, 0, 1, 1]
UNKNOWN = [20, 130, 140, 240, 5, 100]
UNKNOWN_CLASSES = [0, 0, 1, 1, 2, 2]


def toy_split() -> Split:
    return brightness_split(KNOWN, KNOWN_LABELS, UNKNOWN, UNKNOWN_CLASSES, num_classes=2, n_unknown_classes=3)


def test_openness_definitions():
    assert openness(6, 10) == pytest.approx(1 - math.sqrt(0.6))  # CIFAR10: I = 6, S = 10 -> 22.5%
    assert openness(6, 6) == 0.0
    assert openness_scheirer(4, 54) == pytest.approx(1 - math.sqrt(8 / 58))


def test_openness_curve_points_by_hand():
    split = toy_split()
    model = BrightnessModel(2)
    known, unknown = model.predict(split.test_images.float() / 255), model.predict(split.unknown_images.float() / 255)
    points = openness_curve(known, split.test_labels, unknown, split.unknown_labels, 3, 2, tpr=1.0, draws=50, seed=0)
    assert [p["unknown_classes"] for p in points] == [1, 2, 3]
    assert [p["draws"] for p in points] == [50, 50, 1]
    assert points[2]["openness"] == pytest.approx(1 - math.sqrt(2 / 5))
    # With every unknown class present, the point is the scorer's macro-F1 itself.
    full = macro_f1_at_tpr(known.scores, known.labels, split.test_labels, unknown.scores, unknown.labels, 2, 1.0)
    assert points[2]["macro_f1"] == pytest.approx(full) and points[2]["macro_f1_std"] == 0.0
    # Threshold 10/255 (TPR 1) rejects only unknown 5/255 (class 2); 20 and 100 are predicted 0, 130+ as 1.
    # One unknown class: class 0 {20, 130} gives F1s (c0 4/5, c1 4/5, unknown 0) -> 8/15; class 1 {140, 240}:
    # (1, 2/3, 0) -> 5/9; class 2 {5, 100}: (4/5, 1, 2/3) -> 37/45. 50 seeded draws average near their mean.
    one = [8 / 15, 5 / 9, 37 / 45]
    assert min(one) < points[0]["macro_f1"] < max(one)
    assert points[0]["macro_f1"] == pytest.approx(sum(one) / 3, abs=0.05)


def test_osr_scorer_keeps_its_keys_and_adds_curve_and_plots(tmp_path):
    ctx = context(tmp_path)
    out = score_osr(BrightnessModel(2), toy_split(), OSRConfig(openness_draws=2), ctx)
    assert {"auroc", "oscr", "macro_f1", "accuracy"} <= set(out)
    assert out["accuracy"] == 1.0
    # Known 10, 60, 200, 250 vs unknown 20, 130, 140, 240, 5, 100: known wins 1+2+5+6 of 24 pairs.
    assert out["auroc"] == pytest.approx(14 / 24)
    assert len(out["openness_curve"]) == 3
    assert out["plots"] == ["roc-osr.png", "openness-f1.png"]
    assert all(is_png(ctx.work_dir / name) for name in out["plots"])
    json.dumps(out)  # the record must stay JSON


def test_closed_set_protocol_skips_open_set_metrics(tmp_path):
    split = toy_split()
    split.unknown_images, split.unknown_labels, split.unknown_class_names = split.unknown_images[:0], None, []
    out = score_osr(BrightnessModel(2), split, OSRConfig(), context(tmp_path))
    assert out["accuracy"] == 1.0 and "auroc" not in out and "skipped" in out["open_set"]


def test_protocol_file_allows_empty_unknown_list(tmp_path):
    base = {"name": "toy-all", "description": "d", "version": "1", "source": "s", "split_family": "closed-set",
            "dataset": "digits", "unknown_dataset": "digits", "mean": [0.5], "std": [0.25], "hflip": False,
            "splits": [{"known": list(range(10)), "unknown": []}]}
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(base))
    split = load_protocol_file(path).load(0, DataOptions(tmp_path))
    assert split.num_classes == 10 and len(split.unknown_images) == 0 and len(split.test_images) > 500
    assert split.extras["dataset"] == "digits" and split.extras["known_classes"] == list(range(10))
    base["splits"] = [{"known": [], "unknown": [1]}]
    path.write_text(json.dumps(base))
    with pytest.raises(OsrbenchError, match=r"splits\[0\].known.*non-empty"):
        load_protocol_file(path)


def test_cifar10_all_protocol_is_registered():
    from osrbench.plugins import load_plugins

    spec = load_plugins().protocols.get("cifar10-all")
    assert spec.n_splits == 1 and spec.split_family == "closed-set"


class MapModel(BrightnessModel):
    """Offers activation maps: a horizontal ramp, and the left half as the patch."""

    def activation_figure_data(self, images):
        b, _, h, w = images.shape
        ramp = torch.linspace(0, 1, w // 2).expand(b, h // 2, -1)
        boxes = torch.tensor([[0, 0, h, w // 2]]).expand(b, -1)
        return {"images": images, "maps": ramp, "boxes": boxes}


def test_activation_grid_for_models_that_offer_maps(tmp_path):
    split = brightness_split([10, 60, 200, 250], KNOWN_LABELS, UNKNOWN, UNKNOWN_CLASSES, 2, 3, channels=3, size=32)
    ctx = context(tmp_path)
    out = score_osr(MapModel(2), split, OSRConfig(grid_images=3), ctx)
    assert "activation-grid.png" in out["plots"] and is_png(ctx.work_dir / "activation-grid.png")


def test_bad_activation_data_is_reported(tmp_path):
    class Broken(BrightnessModel):
        def activation_figure_data(self, images):
            return {"maps": images[:, 0]}

    with pytest.raises(OsrbenchError, match="returned no images"):
        score_osr(Broken(2), toy_split(), OSRConfig(), context(tmp_path))


def test_config_rejects_bad_values():
    with pytest.raises(OsrbenchError, match="openness_draws"):
        OSRConfig(openness_draws=0).validate()
