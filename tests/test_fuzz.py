"""Property-based bad input: malformed records, ``--set`` values and model outputs give a valid result or
one ``OsrbenchError`` line, never another exception."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from osrbench_baseline import BaselineConfig
from osrbench_scorers.osr import OSRConfig

from osrbench import cli, metrics, ood_metrics
from osrbench.api import OsrbenchError
from osrbench.config import build_config
from osrbench.health import prediction_problem
from osrbench.leaderboard import build_leaderboard, render
from osrbench.records import read_record

ROOT = Path(__file__).resolve().parents[1]
VALID = json.loads((ROOT / "leaderboards" / "records" / "cifar10" / "ce" / "split0-seed0.json").read_text())
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


def one_line(exc: OsrbenchError) -> None:
    """The CLI prints the error as one non-empty line."""
    line = cli.one_line(str(exc))
    assert line and "\n" not in line


@st.composite
def damaged_records(draw):
    """A valid record with some fields removed or replaced by arbitrary JSON, at any depth of metrics/cost."""
    record = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 4))):
        metrics = record.get("metrics")
        scorers = metrics.get("mls") if isinstance(metrics, dict) else None
        places = [record, record.get("cost"), metrics, scorers,
                  scorers.get("osr") if isinstance(scorers, dict) else None]
        where = draw(st.sampled_from([p for p in places if isinstance(p, dict) and p]))
        key = draw(st.sampled_from(sorted(where)))
        if draw(st.booleans()):
            del where[key]
        else:
            where[key] = draw(json_values)
    return record


def write(folder: Path, text: str) -> Path:
    path = folder / VALID["protocol"] / VALID["label"] / f"split{VALID['split']}-seed{VALID['seed']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@FUZZ
@given(record=damaged_records() | json_values)
def test_any_record_is_read_or_named_as_damaged(tmp_path_factory, record):
    folder = tmp_path_factory.mktemp("records")
    path = write(folder, json.dumps(record))
    try:
        read_record(path)
    except OsrbenchError as exc:
        one_line(exc)
        assert str(path) in str(exc)
    try:
        board = build_leaderboard(folder)
    except OsrbenchError as exc:
        one_line(exc)
    else:
        for fmt in ("md", "csv", "html"):
            assert render(board, fmt)


@pytest.mark.parametrize("where, key, value", [
    ((), "limit", {}), ((), "split_hash", ["a"]), ((), "protocol_version", [1]),
    (("cost",), "epochs", []), (("cost",), "paper_epochs", "600"),
])
def test_an_ill_typed_optional_field_is_named(tmp_path, where, key, value):
    """Fields older records may lack are still type-checked where present: the leaderboard reads them."""
    record = json.loads(json.dumps(VALID))
    place = record
    for part in where:
        place = place[part]
    place[key] = value
    path = write(tmp_path, json.dumps(record))
    with pytest.raises(OsrbenchError, match=f"damaged record .*{key}"):
        read_record(path)
    with pytest.raises(OsrbenchError, match="no usable records .*1 damaged"):
        build_leaderboard(tmp_path)


@FUZZ
@given(data=st.binary(max_size=200))
def test_any_bytes_are_read_or_named_as_damaged(tmp_path_factory, data):
    path = write(tmp_path_factory.mktemp("records"), "")
    path.write_bytes(data)
    try:
        read_record(path)
    except OsrbenchError as exc:
        one_line(exc)


@FUZZ
@given(key=st.sampled_from(["lr", "momentum", "weight_decay", "label_smoothing", "warmup", "epochs", "batch_size",
                            "crop_pad", "cutout", "backbone", "compile"]),
       value=st.text(max_size=12) | st.floats().map(str) | st.integers(-10**6, 10**6).map(str))
def test_any_set_value_gives_a_valid_config_or_one_line(key, value):
    try:
        config = build_config(BaselineConfig, {key: value}, "method 'msp'")
    except OsrbenchError as exc:
        one_line(exc)
        return
    number = getattr(config, key)
    if isinstance(number, float):
        assert math.isfinite(number)


@FUZZ
@given(key=st.sampled_from(["tpr", "batch_size", "openness_draws", "grid_images", "plots"]),
       value=st.text(max_size=12) | st.floats().map(str))
def test_any_scorer_option_gives_a_valid_config_or_one_line(key, value):
    try:
        build_config(OSRConfig, {key: value}, "scorer 'osr'")
    except OsrbenchError as exc:
        one_line(exc)


shapes = st.sampled_from([(16,), (15,), (16, 1), (1, 16), (), (0,)])
dtypes = st.sampled_from([torch.int64, torch.int32, torch.float32, torch.float64, torch.bool])


@FUZZ
@given(label_shape=shapes, label_dtype=dtypes, score_shape=shapes, score_dtype=dtypes,
       poison=st.sampled_from([None, math.nan, math.inf, -math.inf]), high_label=st.integers(0, 8))
def test_any_model_output_passes_the_contract_and_scores_or_is_named(label_shape, label_dtype, score_shape,
                                                                      score_dtype, poison, high_label):
    labels = torch.randint(0, high_label + 1, label_shape).to(label_dtype)
    scores = torch.randn(score_shape).to(score_dtype)
    if poison is not None and scores.is_floating_point() and scores.numel():
        scores.view(-1)[0] = poison
    problem = prediction_problem((labels, scores), 16, num_classes=6)
    if problem is not None:
        assert "\n" not in problem
        return
    known_true = torch.randint(0, 6, (16,))
    unknown = torch.randn(10)
    for value in (metrics.auroc(scores, unknown), metrics.oscr(scores, labels, known_true, unknown),
                  metrics.macro_f1_at_tpr(scores, labels, known_true, unknown, torch.zeros(10, dtype=torch.long), 6),
                  *ood_metrics.ood_metrics(scores, unknown).values()):
        assert 0.0 <= value <= 1.0


@FUZZ
@given(known=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=20),
       unknown=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=20),
       tpr=st.floats(0.01, 1.0))
def test_metrics_of_any_scores_are_valid_or_one_line(known, unknown, tpr):
    k, u = np.array(known, dtype=np.float64), np.array(unknown, dtype=np.float64)
    calls = [lambda: metrics.auroc(k, u), lambda: metrics.threshold_at_tpr(k, tpr),
             lambda: metrics.oscr(k, np.zeros(len(k), int), np.zeros(len(k), int), u),
             lambda: ood_metrics.ood_metrics(k, u, tpr)]
    for call in calls:
        try:
            value = call()
        except OsrbenchError as exc:
            one_line(exc)
            continue
        values = value.values() if isinstance(value, dict) else [value]
        assert all(math.isfinite(v) for v in values)


def with_change(path: str, value) -> str:
    record = json.loads(json.dumps(VALID))
    *parents, key = path.split(".")
    where = record
    for part in parents:
        where = where[part]
    where[key] = value
    return json.dumps(record)


@pytest.mark.parametrize("text", ["{", "", "[]", "{}", "null", '{"schema": 2}', with_change("metrics.mls.osr.plots", 5),
                                  with_change("metrics.mls.osr.plots", [1]), with_change("cost.train_seconds", True),
                                  with_change("metrics.mls.osr", []), with_change("schema", 7)])
def test_the_usual_damage_is_named(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(OsrbenchError, match="damaged record"):
        read_record(path)
