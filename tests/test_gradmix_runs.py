"""GradMix end to end on the bundled digits protocol with the spec's fast-version sizes."""

import json
from pathlib import Path

import pytest
from osrbench_gradmix import FAST_OVERRIDES, GradMixConfig

from osrbench import OsrbenchError
from osrbench.cli import main
from osrbench.config import build_config
from osrbench.runner import Run, RunRequest, run


def fast_args() -> list[str]:
    return [arg for key, value in FAST_OVERRIDES.items() for arg in ("--set", f"{key}={value}")]


@pytest.mark.slow
def test_cli_smoke_run_gradmix_trains_with_its_gradmix_augmentation_by_default(tmp_path):
    rc = main(["run", "--method", "gradmix", "--protocol", "digits", "--split", "0",
               "--device", "cpu", "--quiet", "--results-dir", str(tmp_path), *fast_args()])
    assert rc == 0
    (record_path,) = tmp_path.glob("digits/gradmix+gradmix@*/split0-seed0.json")
    record = json.loads(record_path.read_text())
    info = record["method_info"]
    assert info["mixed_term"] == "gradmix" and info["views"] == "rotate" and info["lam"] == 1.0
    assert record["config"]["augmentation"]["layers"] == ["layer4.1"]
    assert record["cost"]["epochs"] == 2 and record["cost"]["paper_epochs"] == 600  # the authors' schedule
    osr = record["metrics"]["topk-cosine"]["osr"]
    assert set(record["metrics"]) == {"topk-cosine", "topk-cosine-normalised"}  # both from one training
    assert osr["accuracy"] > 0.5  # top-k rule on 2 epochs of a width-8 ResNet18 (chance: 1/6)
    assert 0.5 < osr["auroc"] <= 1.0
    assert any(Path(p).name.startswith("activation") for p in osr["plots"])


@pytest.mark.slow
@pytest.mark.parametrize("augment", ["gradcam", "gradmix_codevariant", "cutmix"])
def test_other_mixed_terms_train(tmp_path, augment):
    overrides = {**FAST_OVERRIDES, "epochs": "1", "osr.plots": "false"}
    if augment == "cutmix":
        overrides["cutmix.weight"] = "replaced"
    (record,) = run(RunRequest(method="gradmix", protocol="digits", augment=augment, splits=[0], device="cpu",
                               results_dir=tmp_path, quiet=True, overrides=overrides))
    assert record["label"].startswith(f"gradmix+{augment}@")
    assert record["method_info"]["mixed_term"] == augment
    assert 0.0 <= record["metrics"]["topk-cosine"]["osr"]["auroc"] <= 1.0


def test_plain_contrastive_variant_is_supcon_simclr(tmp_path):
    overrides = {**FAST_OVERRIDES, "epochs": "1", "osr.plots": "false"}
    (record,) = run(RunRequest(method="supcon-simclr", protocol="digits", splits=[0], device="cpu",
                               results_dir=tmp_path, quiet=True, overrides=overrides))
    assert record["label"].startswith("supcon-simclr@") and record["augmentation"] is None
    assert record["method_info"]["mixed_term"] is None


def test_gradmix_without_its_augmentation_is_refused_with_a_hint(tmp_path):
    with pytest.raises(OsrbenchError, match="--augment none: method 'gradmix' is defined with the augmentation "
                                            "'gradmix'"):
        Run(RunRequest(method="gradmix", protocol="digits", augment="none", results_dir=tmp_path))


def test_augment_none_is_no_augmentation_for_other_methods(tmp_path):
    assert Run(RunRequest(method="msp", augment="none", results_dir=tmp_path)).augmentation is None
    assert Run(RunRequest(method="gradmix", augment="gradcam", results_dir=tmp_path)).label.startswith(
        "gradmix+gradcam")


def test_gradmix_augmentation_with_a_classifier_is_rejected(tmp_path):
    with pytest.raises(OsrbenchError, match="needs activation maps"):
        run(RunRequest(method="ce", protocol="digits", augment="gradmix", splits=[0], device="cpu",
                       results_dir=tmp_path, quiet=True, overrides={"epochs": "1"}))


@pytest.mark.parametrize("overrides, message", [
    ({"views": "jpeg"}, "choose auto, simclr, rotate"),
    ({"mixed_loss": "sum"}, "anchored or nt_xent_replaced"),
    ({"lr_floor": "2"}, "must lie in"),
    ({"lam": "-0.5"}, "theta and lam must be >= 0"),
])
def test_bad_method_options_are_rejected(overrides, message):
    with pytest.raises(OsrbenchError, match=message):
        build_config(GradMixConfig, overrides, "method 'gradmix'")


def test_defaults_are_the_authors_cifar_settings():
    config = GradMixConfig()
    assert (config.epochs, config.batch_size, config.lr) == (600, 256, 1e-3)
    assert (config.temperature, config.theta) == (0.05, 1.0)
    assert (config.topk, config.head_dim, config.width) == (10, 128, 64)
