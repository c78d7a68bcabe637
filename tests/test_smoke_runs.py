"""Smoke runs learn: a --limit run (few images, few optimiser steps) scales the baseline's schedule
and network to what it has, so the guide's smoke command learns a new dataset in seconds."""

import json
from dataclasses import replace

import numpy as np
import pytest
from guide import write_protocol
from synthetic import make_textures

from osrbench.cli import main
from osrbench_baseline import BaselineConfig
from osrbench_baseline.recipe import MIN_BATCH, MIN_STEPS, RECIPES, SMALL_SET, resolve, schedule


def test_a_run_of_many_steps_keeps_the_configured_batch_and_learning_rate():
    plan = schedule(train_images=36000, epochs=30, batch_size=512, lr=0.2)
    assert (plan.batch_size, plan.lr, plan.steps_per_epoch, plan.steps) == (512, 0.2, 70, 2100)
    assert schedule(758, 80, 512, 0.2).lr == 0.2  # digits: 80 epochs of one batch each are enough steps


def test_a_run_of_few_steps_takes_smaller_batches_at_a_proportionally_lower_rate():
    plan = schedule(train_images=300, epochs=8, batch_size=512, lr=0.2)  # --limit 50, 6 known classes
    assert MIN_BATCH <= plan.batch_size < 300 and plan.steps >= MIN_STEPS
    assert plan.lr == pytest.approx(0.2 * plan.batch_size / 512)  # the linear scaling rule
    tiny = schedule(train_images=120, epochs=2, batch_size=512, lr=0.2)
    assert tiny.batch_size == MIN_BATCH and tiny.steps == 2 * (120 // MIN_BATCH)  # batches stop shrinking


@pytest.mark.parametrize("side", [28, 32, 64])  # ResNet-9, the whitened CNN, ResNet-9 with a stride-2 stem
def test_a_small_training_set_takes_the_narrow_network_without_translated_test_views(side):
    small, full = resolve(BaselineConfig(), side, SMALL_SET - 1), resolve(BaselineConfig(), side, SMALL_SET)
    assert full == RECIPES[side] and small == replace(RECIPES[side], width=0.25, tta_shift=0)
    assert resolve(BaselineConfig(width=1.0), 28, 300).width == 1.0  # an explicit option still wins
    assert resolve(BaselineConfig(), 8, 300) == RECIPES[16]  # digits' small CNN is small already


@pytest.mark.slow
@pytest.mark.parametrize("size, channels, backbone, version", [(28, 1, "resnet9", "1"), (32, 3, "whitened-cnn", "2")])
def test_the_guides_smoke_command_learns_generated_textures(tmp_path, capsys, size, channels, backbone, version):
    """`osrbench run --protocol my.json --limit 50 --set epochs=8` (docs/plugins.md) on 10 classes of
    28x28 (32x32: the whitened CNN's recipe) textures that survive crops and flips: at the full recipe's batch
    and peak rate its 8 steps diverged (loss 13) and the health check stopped the run."""
    data_root = tmp_path / "data"
    data_root.mkdir()
    np.savez(data_root / "textures.npz",
             **make_textures(size=size, channels=channels, per_class_train=60, per_class_test=50))
    protocol = write_protocol(tmp_path, "my.json", name="textures", dataset="textures", unknown_dataset="textures",
                              hflip=True, splits=[{"known": [0, 2, 4, 6, 8, 9], "unknown": [1, 3, 5, 7]}],
                              mean=[0.5] * channels, std=[0.3] * channels)
    code = main(["run", "--protocol", str(protocol), "--limit", "50", "--set", "epochs=8", "--data-root",
                 str(data_root), "--results-dir", str(tmp_path / "res"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    record = json.loads(next((tmp_path / "res").rglob("split0-seed0.json")).read_text())
    info = record["method_info"]
    assert info["schedule"]["batch_size"] < 300 and info["recipe"]["width"] == 0.25
    assert info["recipe"]["backbone"] == backbone and record["method_version"] == version
    assert info["final_loss"] < 0.5 * np.log(6)  # learned: well below the chance loss ln K
    assert record["metrics"]["msp"]["osr"]["accuracy"] > 0.9
