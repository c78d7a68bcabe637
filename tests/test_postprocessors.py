"""Postprocessors: hand-computed values on a fixed linear model, library references, and the harness's
train-once-score-many contract (one fit per split, refusal before training, scoring kept weights)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from osrbench_baseline import BaselineConfig
from osrbench_baseline.method import fit as ce_fit
from osrbench_baseline.method import load as ce_load
from osrbench_postprocessors.logit_scores import EnergyConfig, energy_score
from scipy.special import logsumexp

import osrbench
from osrbench import DataOptions, MethodSpec, OpenSetModel, OsrbenchError, Prediction
from osrbench.api import FEATURES, INPUT_GRADIENTS, LINEAR_HEAD, LOGITS
from osrbench.cli import main
from osrbench.leaderboard import build_leaderboard
from osrbench.plugins import build_plugins, load_plugins
from osrbench.runner import Run, RunRequest, run, score_record
from osrbench.schema import upgrade
from osrbench.weights import load_weights

LEARNS = {"epochs": "1", "batch_size": "32", "lr": "0.02"}  # one epoch that learns digits (the health guard)
ALL_EIGHT = ["msp", "mls", "energy", "odin", "mahalanobis", "knn", "vim", "react"]
W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
B = torch.tensor([0.0, 0.5, 0.0])


class LinearToy(OpenSetModel):
    """Its 'images' are 2-D feature vectors: features(x) = x, logits = x Wᵀ + b (fixed weights)."""

    def __init__(self, weight: torch.Tensor = W, bias: torch.Tensor = B):
        super().__init__()
        self.head = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(weight)
            self.head.bias.copy_(bias)

    def features(self, x):
        return x.float()

    def logits(self, x):
        return self.head(self.features(x))

    def linear_head(self):
        return self.head.weight, self.head.bias

    def predict(self, x):
        logits = self.logits(x)
        return Prediction(logits.argmax(dim=1), logits.amax(dim=1))


def build(name: str, **options):
    spec = load_plugins().postprocessors.get(name)
    return spec.build(spec.config(**options))


X = torch.tensor([[2.0, 0.0], [0.0, 0.0]])  # logits [2, 0.5, -2] and [0, 0.5, 0]


def test_msp_mls_and_energy_by_hand():
    model = LinearToy()
    e = math.exp
    msp = build("msp").score(model, X)
    assert msp.tolist() == pytest.approx([e(2) / (e(2) + e(0.5) + e(-2)), e(0.5) / (1 + e(0.5) + 1)])
    assert build("mls").score(model, X).tolist() == pytest.approx([2.0, 0.5])
    assert build("energy").score(model, X).tolist() == pytest.approx([math.log(e(2) + e(0.5) + e(-2)),
                                                                      math.log(2 + e(0.5))])
    # T = 2: 2·log Σ exp(l/2)
    assert build("energy", temperature=2.0).score(model, X)[1].item() == pytest.approx(2 * math.log(2 + e(0.25)))


def test_energy_equals_scipy_logsumexp_on_random_logits():
    logits = torch.randn(200, 7, generator=torch.Generator().manual_seed(0)) * 5
    for t in (1.0, 0.5, 3.0):
        expected = t * logsumexp(logits.double().numpy() / t, axis=1)
        np.testing.assert_allclose(energy_score(logits, t).numpy(), expected, rtol=1e-5)


def test_a_bad_postprocessor_option_is_one_line():
    with pytest.raises(OsrbenchError, match="energy.temperature=0"):
        EnergyConfig(temperature=0.0).validate()


# --------------------------------------------------------------------------- the harness


class FitCounter:
    """An in-process plugin: the ce method with its fit counted, and a method whose model offers no logits."""

    def __init__(self):
        self.calls = 0

    def fit(self, split, config, ctx):
        self.calls += 1
        return ce_fit(split, config, ctx)

    @osrbench.hookimpl
    def osrbench_methods(self):
        return [
            MethodSpec(name="counted-ce", description="ce with its fit counted", config=BaselineConfig, fit=self.fit,
                       load=ce_load, provides=frozenset({LOGITS, FEATURES, LINEAR_HEAD, INPUT_GRADIENTS}),
                       postprocessors=("msp",)),
            MethodSpec(name="no-logits", description="offers only its own score", config=BaselineConfig,
                       fit=self.fit),
        ]


@pytest.fixture
def counted(tmp_path):
    counter = FitCounter()
    plugins = build_plugins(extra={"counter": counter})
    return counter, plugins


def fast_request(tmp_path: Path, **kw) -> RunRequest:
    kw.setdefault("overrides", {**LEARNS, "osr.plots": "false"})
    return RunRequest(protocol="digits", splits=[0], device="cpu", results_dir=tmp_path / "res",
                      data=DataOptions(tmp_path / "data"), quiet=True, **kw)


def test_a_postprocessor_the_model_cannot_serve_is_refused_before_training(tmp_path, counted):
    counter, plugins = counted
    with pytest.raises(OsrbenchError, match=r"postprocessor 'mls' needs logits, which method 'no-logits' does not "
                                            r"provide .*drop it from --postprocessor"):
        Run(fast_request(tmp_path, method="no-logits", postprocessors=["mls", "msp"]), plugins).execute()
    assert counter.calls == 0 and not (tmp_path / "res").exists()


def test_refusal_on_the_command_line_is_one_line(tmp_path, capsys):
    code = main(["run", "--method", "gradmix", "--postprocessor", "mls", "--results-dir", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 2 and "needs logits" in out.err and "Traceback" not in out.err


@pytest.mark.slow
def test_several_postprocessors_train_once_and_score_adds_more_without_training(tmp_path, counted):
    counter, plugins = counted
    (record,) = Run(fast_request(tmp_path, method="counted-ce", postprocessors=ALL_EIGHT), plugins).execute()
    assert counter.calls == 1
    assert list(record["metrics"]) == ALL_EIGHT
    assert set(record["cost"]["score_seconds"]) == set(ALL_EIGHT)
    rows = build_leaderboard(tmp_path / "res")["wide"]["osr.auroc"]["method"].tolist()
    assert sorted(rows) == sorted(f"{record['label']}/{pp}" for pp in ALL_EIGHT)
    assert record["config"]["postprocessors"]["energy"] == {"temperature": 1.0}
    accuracies = {pp: m["osr"]["accuracy"] for pp, m in record["metrics"].items()}
    assert len(set(accuracies.values())) == 1  # one model, one set of labels
    path = next((tmp_path / "res").rglob("split0-seed0.json"))
    assert (path.with_suffix("") / "model.pt").is_file()

    # the same run command with one more postprocessor and an option changed: scored from the kept weights
    (again,) = Run(fast_request(tmp_path, method="counted-ce", postprocessors=ALL_EIGHT,
                                overrides={**LEARNS, "osr.plots": "false", "energy.temperature": "2"}),
                   plugins).execute()
    assert counter.calls == 1
    assert again["config"]["postprocessors"]["energy"] == {"temperature": 2.0}
    assert again["metrics"]["msp"] == record["metrics"]["msp"]

    # osrbench score: a new scorer for every postprocessor, and msp again from the reloaded weights
    scored = score_record(path, ["msp"], ["osr"], {"osr.plots": "false"}, DataOptions(tmp_path / "data"),
                          device="cpu", force=True, plugins=plugins)
    assert counter.calls == 1
    assert scored["metrics"]["msp"]["osr"]["auroc"] == pytest.approx(record["metrics"]["msp"]["osr"]["auroc"], abs=1e-6)
    assert json.loads(path.read_text())["metrics"].keys() == set(ALL_EIGHT)


@pytest.mark.slow
def test_osrbench_score_adds_a_postprocessor_to_a_finished_digits_run(tmp_path, capsys):
    res = tmp_path / "res"
    common = ["--split", "0", "--results-dir", str(res), "--data-root", str(tmp_path), "--quiet"]
    assert main(["run", "--method", "msp", "--set", "epochs=1", "batch_size=32", "lr=0.02", "osr.plots=false",
                 *common]) == 0
    (path,) = res.rglob("split0-seed0.json")
    assert path.parent.name.startswith("ce@")  # --method msp is ce scored by msp
    assert main(["score", str(path), "--postprocessor", "energy", "--data-root", str(tmp_path), "--quiet"]) == 0
    record = json.loads(path.read_text())
    assert set(record["metrics"]) == {"msp", "energy"} and "osr" in record["metrics"]["energy"]
    assert main(["score", str(path), "--set", "epochs=3", "--data-root", str(tmp_path)]) == 2
    assert "cannot change its training options" in capsys.readouterr().err


def test_a_crafted_weights_file_is_refused_and_does_not_run(tmp_path, counted):
    _, plugins = counted
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"format": 1, "state": Evil()}, run_dir / "model.pt")
    ctx = osrbench.RunContext(device=torch.device("cpu"), seed=0, work_dir=run_dir, progress=None)
    with pytest.raises(OsrbenchError, match="damaged or not a weights file"):
        load_weights(run_dir, plugins.methods.get("counted-ce"), None, ctx)
    assert not marker.exists()


def test_schema_1_records_are_read_as_schema_2():
    old = {"schema": 1, "method": "mls", "name": "mls", "label": "mls+mixup@1a2b3c4d",
           "metrics": {"osr": {"auroc": 0.9}}, "config": {"method": {}, "scorers": {"osr": {}}},
           "cost": {"score_seconds": {"osr": 1.5}, "train_seconds": 3.0}}
    new = upgrade(old)
    assert (new["schema"], new["method"], new["name"], new["label"]) == (2, "ce", "ce", "ce+mixup@1a2b3c4d")
    assert new["metrics"] == {"mls": {"osr": {"auroc": 0.9}}}
    assert new["config"]["postprocessors"] == {"mls": {}} and new["cost"]["score_seconds"] == {"mls": {"osr": 1.5}}
    other = upgrade({**old, "method": "gradmix", "name": "gradmix", "label": "gradmix+gradmix"})
    assert other["method"] == "gradmix" and other["metrics"] == {"gradmix": {"osr": {"auroc": 0.9}}}
    assert upgrade(new) is new


class ScoreBlindScorer:
    """An in-process scorer plugin that reads only the model's labels, with its calls counted."""

    def __init__(self):
        self.calls = 0

    def score(self, model, split, config, ctx):
        self.calls += 1
        labels = osrbench.api.predict_all(model, split.test_images, ctx).labels
        return {"accuracy": float((labels.cpu() == split.test_labels).float().mean())}

    @osrbench.hookimpl
    def osrbench_scorers(self):
        return [osrbench.ScorerSpec(name="blind", description="labels only", config=EnergyConfig,
                                    score=self.score, reads_scores=False)]


@pytest.mark.slow
def test_a_scorer_that_does_not_read_the_scores_runs_once_per_training(tmp_path):
    blind = ScoreBlindScorer()
    plugins = build_plugins(extra={"blind": blind})
    (record,) = Run(fast_request(tmp_path, postprocessors=["msp", "mls", "energy"], scorers=["osr", "blind"]),
                    plugins).execute()
    assert blind.calls == 1
    results = [record["metrics"][pp]["blind"] for pp in ("msp", "mls", "energy")]
    assert results[0] == results[1] == results[2]
    assert results[0]["accuracy"] == pytest.approx(record["metrics"]["msp"]["osr"]["accuracy"])


def test_the_nas_osr_rule_statistics_are_postprocessors_of_its_model():
    from osrbench_nasosr.rejection_rule import known_score

    class Parts(OpenSetModel):
        def score_parts(self, x):
            return torch.zeros(len(x), dtype=torch.int64), x[:, 0], x[:, 1]

    x = torch.tensor([[0.5, 2.0], [3.0, 0.25]])
    plugins = load_plugins()
    for name, kind in (("nas-osr-gaussian", "gaussian"), ("nas-osr-reconstruction", "reconstruction"),
                       ("nas-osr-rule-score", "rule")):
        spec = plugins.postprocessors.get(name)
        assert torch.equal(spec.build(spec.config()).score(Parts(), x), known_score(x[:, 0], x[:, 1], kind))
    assert plugins.postprocessors.get("nas-osr-rule-score").build(None).score(Parts(), x).tolist() == [-2.0, -3.0]
