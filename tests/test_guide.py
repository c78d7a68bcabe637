"""The plugin author's guide (docs/plugins.md) runs: each worked example under docs/examples/ is
executed here, and the example plugin package uses nothing but the public API."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from guide import EXAMPLES, example_module, write_protocol
from PIL import Image

import osrbench.api
from osrbench import DataOptions
from osrbench.plugins import build_plugins
from osrbench.runner import RunRequest, run

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = {"osrbench", "osrbench.api"}


def _imported_osrbench_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n == "osrbench" or n.startswith("osrbench.")}


@pytest.mark.parametrize("path", [*sorted((ROOT / "tests" / "example_plugin").rglob("*.py")),
                                  EXAMPLES / "my_plugin.py"], ids=lambda p: p.name)
def test_examples_import_only_the_public_api(path):
    assert _imported_osrbench_modules(path) <= PUBLIC


def test_every_helper_the_guide_names_is_exported():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    for name in osrbench.api.HELPERS:
        assert hasattr(osrbench.api, name) and (f"`{name}(" in guide or f"`{name}`" in guide), name


def test_the_guide_shows_the_example_protocol_file_as_it_is():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    shown = guide.split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(shown) == json.loads((EXAMPLES / "blobs.json").read_text())


def _write_pngs(folder: Path, classes: int = 3, per_class: int = 12) -> None:
    rng = np.random.default_rng(2)
    for part in ("train", "test"):
        for c in range(classes):
            (folder / part / f"shape{c}").mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / part / f"shape{c}" / f"{i}.png")


@pytest.mark.slow
def test_the_example_plugin_method_scorer_and_dataset_run_through_the_harness(tmp_path):
    """`energy` trains on the example protocol, `fpr-at-tpr` scores it, and the `png-folders`
    dataset (registered through the hook, read from PNG files) is the unknown set."""
    data_root = tmp_path / "data"
    subprocess.run([sys.executable, str(EXAMPLES / "make_dataset.py"), str(data_root)], check=True)
    _write_pngs(data_root / "png-folders")
    protocol = write_protocol(tmp_path, name="blobs-vs-png", unknown_dataset="png-folders",
                              splits=[{"known": [0, 1, 2, 3, 4, 5], "unknown": [0, 1, 2]}])
    plugins = build_plugins(extra={"my-plugin": example_module("my_plugin")})
    request = RunRequest(method="energy", protocol=str(protocol), scorers=["osr", "fpr-at-tpr"], splits=[0],
                         data=DataOptions(data_root), results_dir=tmp_path / "res",
                         overrides={"epochs": "3", "batch_size": "32"}, quiet=True)
    record = run(request, plugins=plugins)[0]
    assert (data_root / "png-folders.npz").exists()  # read once from the PNG files, then cached
    assert record["method"] == "energy" and record["cost"]["epochs"] == 3
    assert record["metrics"]["energy"]["osr"]["accuracy"] > 0.5  # learnable blobs, 6 classes; its own score
    assert 0 <= record["metrics"]["energy"]["fpr-at-tpr"]["fpr"] <= 1
    assert np.isfinite(record["method_info"]["final_loss"])


def test_the_example_scorer_matches_a_hand_count(tmp_path):
    plugin = example_module("my_plugin")

    class Fixed(osrbench.api.OpenSetModel):
        def predict(self, images):
            score = images.flatten(1).mean(1)
            return osrbench.api.Prediction(torch.zeros(len(images), dtype=torch.long), score)

    def grey(values):
        return torch.tensor(values, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()

    split = osrbench.api.Split(
        protocol="t", index=0, train_images=grey([0]), train_labels=torch.zeros(1, dtype=torch.long),
        test_images=grey(list(range(100, 200))), test_labels=torch.zeros(100, dtype=torch.long),
        unknown_images=grey([0, 50, 104, 105, 150]), class_names=["a"], mean=(0.5,), std=(0.5,),
        fingerprint="x", split_family="t")
    ctx = osrbench.api.RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path, progress=None)
    out = plugin.score_fpr(Fixed(), split, plugin.FprConfig(tpr=0.95), ctx)
    # 95 of the 100 known values 100..199 are >= 105; unknowns 105 and 150 reach that threshold: 2 of 5
    assert out["fpr"] == pytest.approx(2 / 5)
