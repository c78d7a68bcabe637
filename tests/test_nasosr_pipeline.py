"""NAS-OSR end to end on the bundled digits protocol with the spec's fast-version sizes."""

import json
from pathlib import Path

import pytest
import torch
from osrbench_nasosr import FAST_OVERRIDES, NasOsrConfig
from osrbench_nasosr.method import limit_per_class
from osrbench_nasosr.derivation import FASTERSEG_PATH, Architecture
from osrbench_nasosr.scorer import RuleScorerConfig, score_rule
from osrbench_nasosr.search import search

from osrbench import DataOptions, OsrbenchError, RunContext
from osrbench.cli import main
from osrbench.config import build_config
from osrbench.plugins import load_plugins
from osrbench.progress import Progress
from osrbench.runner import RunRequest, run


def fast_args() -> list[str]:
    return [arg for key, value in FAST_OVERRIDES.items() for arg in ("--set", f"{key}={value}")]


@pytest.mark.slow
def test_cli_smoke_run_searches_retrains_and_records(tmp_path):
    # The spec's fast sizes do not learn digits (accuracy near chance): a plumbing test, so no health check.
    rc = main(["run", "--method", "nas-osr", "--protocol", "digits", "--split", "0", "--device", "cpu", "--quiet",
               "--no-health-check",
               "--scorer", "osr,nas-osr-rule", "--results-dir", str(tmp_path), *fast_args()])
    assert rc == 0
    (record_path,) = tmp_path.glob("digits/*/split0-seed0.json")
    record = json.loads(record_path.read_text())
    assert record["name"] == "nas-osr"
    info = record["method_info"]
    arch = Architecture.load(info["architecture_file"])
    assert arch.scales == FASTERSEG_PATH and "skip" not in arch.ops
    assert [h["phase"] for h in info["search_history"]] == ["warmup", "search"]
    assert info["pseudo_unknown_classes"] == ["4", "8"]  # the last third of the known classes [1, 5, 9, 7, 4, 8]
    assert 0.0 <= record["metrics"]["nas-osr"]["osr"]["auroc"] <= 1.0
    assert info["score"] == "-min_m D2_m/d*_m"  # the Gaussian statistic by default
    assert record["config"]["method"]["decoder_output"] == "linear"
    assert record["config"]["method"]["recon_source"] == "latent"
    rule = record["metrics"]["nas-osr"]["nas-osr-rule"]
    assert 0.0 <= rule["macro_f1_code"] <= 1.0 and 0.0 <= rule["known_rejected"] <= 1.0

    # the derived architecture retrains without a search and is recorded under its own name
    records = run(RunRequest(method="nas-osr", protocol="digits", splits=[0], device="cpu", quiet=True,
                             health_check=False,
                             results_dir=tmp_path, overrides={**FAST_OVERRIDES, "arch": info["architecture_file"]}))
    assert records[0]["name"] == "nas-osr-fixed-arch"
    assert records[0]["method_info"]["architecture"]["ops"] == list(arch.ops)
    assert "search_history" not in records[0]["method_info"]


@pytest.mark.slow
def test_search_resumes_from_its_checkpoint(tmp_path):
    split = load_plugins().protocols.get("digits").load(0, DataOptions(Path(".")))
    split = limit_per_class(split, 40)
    ctx = RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path, progress=Progress(quiet=True))
    logs = []
    ctx.progress.log = logs.append
    small = {**FAST_OVERRIDES, "search_iterations": "2", "mc_draws": "2000"}
    first = search(split, build_config(NasOsrConfig, small, "nas-osr"), ctx)
    longer = search(split, build_config(NasOsrConfig, {**small, "search_epochs": "2"}, "nas-osr"), ctx)
    assert len(first.history) == 2 and len(longer.history) == 3
    assert f"resuming the NAS-OSR search from epoch 2 ({tmp_path / 'nasosr-search.ckpt'})" in logs
    assert longer.history[:2] == first.history  # epochs 1-2 came from the checkpoint, not retrained


def test_bad_options_are_rejected_with_clear_messages(tmp_path):
    with pytest.raises(OsrbenchError, match="path_rule"):
        build_config(NasOsrConfig, {"path_rule": "random"}, "nas-osr")
    with pytest.raises(OsrbenchError, match="input_size"):
        build_config(NasOsrConfig, {"input_size": "20"}, "nas-osr")
    with pytest.raises(OsrbenchError, match="decoder_output=sigmoid: choose linear or tanh"):
        build_config(NasOsrConfig, {"decoder_output": "sigmoid"}, "nas-osr")
    with pytest.raises(OsrbenchError, match="score=mean: choose gaussian or rule or reconstruction"):
        build_config(NasOsrConfig, {"score": "mean"}, "nas-osr")
    with pytest.raises(OsrbenchError, match="arch="):
        run(RunRequest(method="nas-osr", protocol="digits", splits=[0], device="cpu", quiet=True,
                       results_dir=tmp_path, overrides={"arch": str(tmp_path / "none.json")}))
    with pytest.raises(OsrbenchError, match="nas-osr-rule"):
        score_rule(torch.nn.Module(), None, RuleScorerConfig(), None)
