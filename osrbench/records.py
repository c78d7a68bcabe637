"""Run records: one JSON file per (method variant, augmentation, protocol, split, seed).

A record is the single source of truth for a result. It is written atomically (temporary file,
then rename), so a finished run's result is never half-written or lost.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osrbench import safe_files
from osrbench.specs import OsrbenchError
from osrbench.schema import CURRENT as SCHEMA
from osrbench.schema import upgrade
from osrbench.version import __version__

if TYPE_CHECKING:
    import torch


def run_label(name: str, augmentation: str | None, overrides_hash: str | None) -> str:
    """The folder name of a run family, e.g. ``ce``, ``ce+mixup``, ``ce@1a2b3c4d``."""
    label = name + (f"+{augmentation}" if augmentation else "")
    return label + (f"@{overrides_hash}" if overrides_hash else "")


RECORD_NAME = re.compile(r"split(\d+)-seed(\d+)\.json")


def record_path(results_dir: Path, protocol: str, label: str, split: int, seed: int) -> Path:
    """``<results>/<protocol>/<label>/split<S>-seed<N>.json``, which must lie inside ``results_dir``."""
    root = Path(results_dir).resolve()
    path = (root / protocol / label / f"split{split}-seed{seed}.json").resolve()
    if path.parent.parent.parent != root:
        raise OsrbenchError(f"the record of protocol {protocol!r}, label {label!r} would lie at {path}, outside "
                            f"the results dir {root}; protocol and plugin names must not contain '/' or '..'")
    return path


def error_log_path(record: Path) -> Path:
    """Where a failed sweep job keeps its traceback, next to its record."""
    return record.with_name(record.stem + ".error.log")


def write_record(record: dict[str, Any], path: Path) -> None:
    """Write atomically (``safe_files.atomic_write``) what ``read_record`` accepts: the record is validated
    by the reader's rules and stored as standard JSON, or nothing is written."""
    try:
        text = safe_files.dumps(validate_record(record))
        safe_files.loads(text)  # the reader's bounds (depth) too
    except ValueError as exc:
        raise OsrbenchError(f"not writing the record {path}: {exc}; a plugin returned results the record "
                            "cannot hold") from None
    safe_files.atomic_write_text(path, text)


class DamagedRecord(OsrbenchError):
    """A record file that cannot be used: unreadable, not JSON, or missing or ill-typed fields."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"damaged record {path}: {reason}")
        self.path, self.reason = Path(path), reason


class MissingRecord(DamagedRecord):
    """No file at a record's path (a mistyped path, or a file removed while it was being read)."""

    def __init__(self, path: Path):
        OsrbenchError.__init__(self, f"no record at {path}: no such file (records are RESULTS_DIR/PROTOCOL/LABEL/"
                                     "splitN-seedS.json)")
        self.path, self.reason = Path(path), "no such file"


# The fields every record must carry, with their JSON types (bool is excluded from int by _typed).
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "schema": int, "name": str, "method": str, "protocol": str, "label": str, "split": int, "seed": int,
    "split_family": str, "data_fingerprint": str, "config": dict, "metrics": dict, "cost": dict,
}
REQUIRED_COST: dict[str, type | tuple[type, ...]] = {
    "train_seconds": (int, float), "device": str, "parameters": int,
}
# Fields a record may lack (older records) or hold as null, with their JSON types where present.
OPTIONAL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "protocol_version": (int, str), "method_version": str, "split_hash": str, "limit": int, "overrides": dict,
    "augmentation": str,
}
OPTIONAL_COST: dict[str, type | tuple[type, ...]] = {"epochs": (int, float), "paper_epochs": (int, float)}
# How deep the metrics nest per schema: schema 1 {scorer: {key: value}}; schema 2 {postprocessor: {scorer: ...}}.
METRIC_DEPTH = {1: 1, 2: 2}


def _typed(value: Any, types: type | tuple[type, ...]) -> bool:
    return isinstance(value, types) and not isinstance(value, bool)


def _check_fields(data: dict, fields: dict[str, type | tuple[type, ...]], where: str, optional: bool = False) -> None:
    for key, types in fields.items():
        if optional and data.get(key) is None:
            continue
        if key not in data:
            raise ValueError(f"{where}{key!r} is missing")
        if not _typed(data[key], types):
            names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
            raise ValueError(f"{where}{key!r} is {type(data[key]).__name__} {data[key]!r:.40}, expected {names}")


def _check_metric_value(value: Any, name: str) -> None:
    """A metric is a number, a note (text that is not a number), or a nested structure (curves, tables)."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return
        raise ValueError(f"metric {name} is the text {value!r}, not a number")


def _check_metrics(metrics: dict, depth: int, prefix: str = "") -> None:
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if depth == 0 and key == "plots":
            if not (isinstance(value, list) and all(isinstance(p, str) for p in value)):
                raise ValueError(f"metrics {name!r} must be a list of file names")
        elif depth > 0:
            if not isinstance(value, dict):
                raise ValueError(f"metrics {name!r} is {type(value).__name__}, expected an object of metrics")
            _check_metrics(value, depth - 1, name + ".")
        else:
            _check_metric_value(value, name)


def validate_record(data: Any) -> dict[str, Any]:
    """``data`` if it is a usable record of a known schema; otherwise ValueError saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    if not data:
        raise ValueError("the record is empty ({})")
    _check_fields(data, REQUIRED_FIELDS, "")
    _check_fields(data, OPTIONAL_FIELDS, "", optional=True)
    if data["schema"] not in METRIC_DEPTH:
        raise ValueError(f"schema {data['schema']} is not one this osrbench reads ({', '.join(map(str, METRIC_DEPTH))})")
    _check_fields(data["cost"], REQUIRED_COST, "cost.")
    _check_fields(data["cost"], OPTIONAL_COST, "cost.", optional=True)
    _check_fields(data["config"], {"method": dict}, "config.")
    for part in ("augmentation", "postprocessors", "scorers"):
        if data["config"].get(part) is not None and not isinstance(data["config"][part], dict):
            raise ValueError(f"config.{part!r} is {type(data['config'][part]).__name__}, expected an object")
    _check_metrics(data["metrics"], METRIC_DEPTH[data["schema"]])
    return data


def read_record(path: Path) -> dict[str, Any]:
    """The validated record at ``path`` in the current schema (older records are upgraded on read; the file is
    left as it is); DamagedRecord (an OsrbenchError naming the file) if it is unusable."""
    return upgrade(_read_stored(path))


def _read_stored(path: Path) -> dict[str, Any]:
    """The validated record at ``path`` as stored (any known schema)."""
    path = Path(path)
    try:
        text = safe_files.read_text(path)
    except FileNotFoundError:
        raise MissingRecord(path) from None
    except (OSError, UnicodeDecodeError, safe_files.UnreadableFile) as exc:
        raise DamagedRecord(path, f"cannot be read ({exc})") from None
    if not text.strip():
        raise DamagedRecord(path, "the file is empty")
    try:
        return validate_record(safe_files.loads(text))
    except json.JSONDecodeError as exc:
        raise DamagedRecord(path, f"not valid JSON (truncated?): {exc}") from None
    except ValueError as exc:
        raise DamagedRecord(path, str(exc)) from None


def _check_place(path: Path, record: dict[str, Any]) -> None:
    """A record must lie where its own fields put it, so copies elsewhere are never counted twice."""
    split, seed = (int(g) for g in RECORD_NAME.fullmatch(path.name).groups())  # type: ignore[union-attr]
    found = (path.parent.parent.name, path.parent.name, split, seed)
    claimed = (record["protocol"], record["label"], record["split"], record["seed"])
    if found != claimed:
        raise DamagedRecord(path, "its fields (protocol {}, label {}, split {}, seed {}) do not match its place "
                                  "<protocol>/<label>/split<S>-seed<N>.json; a moved or copied record?".format(*claimed))


@dataclass
class RecordScan:
    """The usable records under a results dir, and the damaged ones (never silently dropped)."""

    records: list[tuple[Path, dict[str, Any]]]
    damaged: list[DamagedRecord]


def scan_records(results_dir: Path) -> RecordScan:
    """Every record in the canonical layout ``<protocol>/<label>/split<S>-seed<N>.json`` of ``results_dir``.

    Files deeper or shallower (backups, copies in subfolders) are not read.
    """
    scan = RecordScan([], [])
    for path in sorted(Path(results_dir).glob("*/*/split*-seed*.json")):
        if not RECORD_NAME.fullmatch(path.name):
            continue
        try:
            record = _read_stored(path)
            _check_place(path, record)  # where it was stored, before an upgrade renames its label
        except DamagedRecord as exc:
            scan.damaged.append(exc)
            continue
        scan.records.append((path, upgrade(record)))
    return scan


def move_aside(path: Path, why: str = "corrupt") -> Path:
    """Rename a damaged (or stale) file to ``<name>.corrupt`` (``.corrupt1``, ... if taken); nothing is deleted."""
    for n in range(1000):
        target = path.with_name(f"{path.name}.{why}{n or ''}")
        if not target.exists():
            os.replace(path, target)
            return target
    raise OsrbenchError(f"{path} is {why} and 1000 copies were already moved aside; clean up {path.parent}")


REVISION_FILE = Path(__file__).resolve().parent.parent / "REVISION"  # beside the osrbench package


def _git_head(source: Path) -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The source revision of osrbench: ``$OSRBENCH_REVISION`` where set (it wins: a tree copied to another
    machine may carry a stale ``.git``), else git (with ``-dirty`` for local changes) where ``.git`` exists,
    else the file ``REVISION`` at the repository root (``git rev-parse HEAD > REVISION`` before copying the
    tree to a machine without ``.git``)."""
    from_env = os.environ.get("OSRBENCH_REVISION", "").strip()
    if from_env:
        return from_env
    from_file = REVISION_FILE.read_text().strip() if REVISION_FILE.is_file() else ""
    return _git_head(REVISION_FILE.parent) or from_file or None


def versions() -> dict[str, Any]:
    import torch  # here, not at the top: the readers of records (leaderboard, compare) need no torch

    return {
        "osrbench": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "git_revision": git_revision(),
    }


def device_name(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"cpu ({platform.processor() or platform.machine()}, {threads} thread{'s' if threads != 1 else ''})"
