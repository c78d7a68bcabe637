"""Plots are written and non-empty; ``osrbench report`` prints a run's metrics and lists its plots; end to end."""

import numpy as np
import pytest
from matplotlib.image import imread
from PIL import Image
from osrbench_scorers import plots
from rich.console import Console
from scorers_toys import is_png

from osrbench import DataOptions, OsrbenchError
from osrbench.cli import main
from osrbench.report import metric_rows, report, resolve_run
from osrbench.runner import RunRequest, run


def assert_drawn(path):
    assert is_png(path)
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels[..., :3].std() > 0.05  # not a blank canvas


def test_each_figure_is_a_drawn_png(tmp_path):
    fpr = np.array([0, 0, 0.5, 1.0])
    tpr = np.array([0, 0.5, 1.0, 1.0])
    names = [
        plots.save(plots.roc_figure({"a": (fpr, tpr, 0.875)}, "roc"), tmp_path, plots.ROC_OSR),
        plots.save(plots.openness_figure([{"unknown_classes": u, "openness": 0.1 * u, "macro_f1": 0.8 - 0.1 * u,
                                           "macro_f1_std": 0.02} for u in (1, 2, 3)], "open"), tmp_path, plots.OPENNESS),
        plots.save(plots.corruption_figure({"fog": {"1": 0.05, "5": 0.3}, "snow": {"1": 0.1, "5": 0.4}}, "drop"),
                   tmp_path, plots.CORRUPTION),
        plots.save(plots.activation_grid_figure(np.random.default_rng(0).random((2, 16, 16, 3)),
                                                np.tile(np.linspace(0, 1, 16), (2, 16, 1)),
                                                np.array([[0, 0, 8, 8], [4, 4, 12, 12]]), "maps"),
                   tmp_path, plots.ACTIVATIONS),
    ]
    assert names == ["roc-osr.png", "openness-f1.png", "corruption-drop.png", "activation-grid.png"]
    for name in names:
        assert_drawn(tmp_path / name)
        with Image.open(tmp_path / name) as image:
            assert image.mode == "P"  # a palette PNG: a third of the bytes of an RGBA one


def test_figures_are_deterministic(tmp_path):
    for folder in ("a", "b"):
        plots.save(plots.corruption_figure({"fog": {"1": 0.05}}, "drop"), tmp_path / folder, plots.CORRUPTION)
    assert (tmp_path / "a" / plots.CORRUPTION).read_bytes() == (tmp_path / "b" / plots.CORRUPTION).read_bytes()


def test_metric_rows_flatten_nested_tables():
    rows = metric_rows({"mls": {
        "corruption": {"mean_drop": 0.25, "drop": {"fog": {"1": 0.1, "5": 0.4}}, "plots": ["x.png"]},
        "osr": {"openness_curve": [{"openness": 0.1}, {"openness": 0.2}], "samples": 3}}})
    assert rows == [("mls", "corruption", "mean_drop", "0.2500"), ("mls", "corruption", "drop.fog", "1: 0.1000, 5: 0.4000"),
                    ("mls", "osr", "openness_curve", "curve of 2 points (in the record)"), ("mls", "osr", "samples", "3")]


def test_resolve_run_rejects_other_paths(tmp_path):
    (tmp_path / "split0-seed0.json").write_text("{}")
    with pytest.raises(OsrbenchError, match="name one of them"):
        resolve_run(tmp_path)
    with pytest.raises(OsrbenchError, match="neither a run record"):
        resolve_run(tmp_path / "missing")


@pytest.mark.slow
def test_run_then_report_end_to_end(tmp_path, capsys):
    request = RunRequest(method="mls", protocol="digits", scorers=["osr", "ood", "linear-probe"], splits=[0],
                         data=DataOptions(tmp_path / "data"), device="cpu", results_dir=tmp_path / "results",
                         overrides={"epochs": "1", "batch_size": "32", "lr": "0.02", "ood.sets": "digits"}, quiet=True)
    (record,) = run(request)
    assert {"osr", "ood", "linear-probe"} == set(record["metrics"]["mls"])
    run_dir = next((tmp_path / "results" / "digits").glob("*/split0-seed0"))
    shown = report(run_dir, Console(width=200, record=True))
    assert [p.relative_to(run_dir).as_posix() for p in shown["plots"]] == [
        "mls/openness-f1.png", "mls/roc-ood.png", "mls/roc-osr.png"]
    for p in shown["plots"]:
        assert_drawn(p)
    assert main(["report", str(run_dir.with_suffix(".json"))]) == 0
    printed = capsys.readouterr().out
    assert "digits.auroc" in printed and "top1" in printed and "roc-osr.png" in printed
    assert main(["report", str(tmp_path)]) == 2
