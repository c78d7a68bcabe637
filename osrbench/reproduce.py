"""``osrbench reproduce RECORD``: run a record's experiment again and compare the metrics.

The rerun uses the record's method, augmentation, postprocessors, scorers, protocol, split, seed and its full stored
configuration (every option, not only the non-default ones, so changed defaults do not change the
rerun), writing into a scratch results dir. Each scalar metric is compared with the record's.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from osrbench.types import DataOptions, OsrbenchError
from osrbench.config import config_dict
from osrbench.plugins import load_plugins
from osrbench.protocol_files import restore_protocol_file
from osrbench.records import read_record
from osrbench.runner import Run, RunRequest, load_split
from osrbench.specs import FIRST_METHOD_VERSION
from osrbench.progress import titled
from osrbench.summary import scalar_metrics


def _as_text(value: Any) -> str:
    """A config value as ``--set`` text that ``osrbench.config`` converts back to the same value."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_as_text(v) for v in value)
    return str(value)


def config_overrides(config: dict[str, Any], augmentation: str | None) -> dict[str, str]:
    """``--set`` pairs that rebuild a record's stored config: method keys bare, the others ``NAME.key``."""
    owned = {**(config.get("postprocessors") or {}), **(config.get("scorers") or {})}
    if augmentation:
        owned[augmentation] = config.get("augmentation") or {}
    pairs = {key: _as_text(value) for key, value in config["method"].items()}
    return pairs | {f"{owner}.{key}": _as_text(value) for owner, values in owned.items() for key, value in values.items()}


def _check_same_config(run: Run, stored: dict[str, Any]) -> None:
    rebuilt = {"method": config_dict(run.method_config),
               "augmentation": config_dict(run.aug_config) if run.aug_config else None,
               **run.evaluation.config()}
    for part in ("method", "augmentation", "postprocessors", "scorers"):
        if rebuilt[part] != stored.get(part):
            raise OsrbenchError(f"the record's {part} config cannot be rebuilt exactly here (stored {stored.get(part)}, "
                                f"rebuilt {rebuilt[part]}); was it made by another osrbench version?")


def rerun_protocol(record: dict[str, Any], results_dir: Path, where: Path) -> str:
    """The protocol to rerun ``record`` on: its name where a protocol of that name is installed, else the
    protocol file the record carries, written into ``results_dir``."""
    copy = record.get("protocol_file")
    if record["protocol"] in load_plugins().protocols or copy is None:
        return record["protocol"]
    return str(restore_protocol_file(copy, results_dir, str(where)))


def rerun_request(record: dict[str, Any], results_dir: Path, data: DataOptions, device: str,
                  quiet: bool, protocol: str | None = None) -> RunRequest:
    """The request that repeats ``record``'s run into ``results_dir`` (on ``protocol``, default the record's)."""
    augmentation = record.get("augmentation")
    return RunRequest(method=record["method"], protocol=protocol or record["protocol"], augment=augmentation,
                      postprocessors=list(record["metrics"]),
                      scorers=list(record["config"].get("scorers")
                                   or dict.fromkeys(s for by_scorer in record["metrics"].values() for s in by_scorer)),
                      splits=[record["split"]],
                      seed=record["seed"], data=data, device=device, results_dir=results_dir,
                      overrides=config_overrides(record["config"], augmentation),
                      force=True, quiet=quiet, health_check=_made_with_health_check(record))


def _made_with_health_check(record: dict[str, Any]) -> bool:
    """Whether the run had the training-health check on; records from before the field was written say so
    only through the warnings an unhealthy model left."""
    recorded = record.get("health_check")
    return recorded if isinstance(recorded, bool) else not record.get("warnings")


@dataclass
class Reproduction:
    record: dict[str, Any]
    rerun: dict[str, Any]
    rows: list[tuple[str, float | None, float | None]]  # metric, recorded, rerun
    tol: float

    @staticmethod
    def differs(recorded: float | None, rerun: float | None, tol: float) -> bool:
        if recorded is None or rerun is None:
            return True
        if math.isnan(recorded) or math.isnan(rerun):
            return not (math.isnan(recorded) and math.isnan(rerun))
        return abs(rerun - recorded) > tol

    @property
    def failures(self) -> list[str]:
        return [metric for metric, a, b in self.rows if self.differs(a, b, self.tol)]

    @property
    def same_data(self) -> bool:
        return self.record["data_fingerprint"] == self.rerun["data_fingerprint"]


def prepare(path: Path, results_dir: Path, data: DataOptions, device: str | None = None,
            quiet: bool = False) -> tuple[dict[str, Any], Run]:
    """The record at ``path`` (migrated to the current options) and the run that repeats it, its config
    checked to rebuild the stored one exactly; nothing is trained or loaded yet."""
    import torch

    record = read_record(path)
    wanted = device or record["cost"].get("device_type", "cpu")
    no_gpu = device is None and wanted == "cuda" and not torch.cuda.is_available()
    device = "cpu" if no_gpu else wanted  # the config is checked first, also where the record's GPU is missing
    protocol = rerun_protocol(record, results_dir, path)
    run = Run(rerun_request(record, results_dir, data, device, quiet, protocol))
    migrated = _migrated(record, config_dict(run.method_config))
    if migrated is not record:
        record, run = migrated, Run(rerun_request(migrated, results_dir, data, device, quiet, protocol))
    _check_same_config(run, record["config"])
    if no_gpu:
        raise OsrbenchError(f"the record was made on a GPU ({record['cost']['device']}) and this machine has no CUDA "
                            "device; its config rebuilds exactly: reproduce it on a GPU machine (with the data: "
                            "--data-root), or here with --device cpu and a --tol (CPU numbers differ from GPU ones)")
    return record, run


def _check_same_method_version(run: Run, record: dict[str, Any]) -> None:
    """Refuse a record of another method version: the installed plugin trains something else for the same
    options (e.g. a new default recipe behind an ``auto`` option), so the rerun could not repeat it."""
    import torch

    split = load_split(run.protocol, record["split"], run.data, run.request.limit, torch.device("cpu"))
    installed = run.method.version_for(split)
    made = str(record.get("method_version", FIRST_METHOD_VERSION))
    if installed != made:
        revision = (record.get("versions") or {}).get("git_revision") or "the one the record was made with"
        raise OsrbenchError(f"the record was made by version {made} of method {record['method']!r}, and the installed "
                            f"plugin is at version {installed} for this split (it trains something else for the same "
                            f"options, e.g. a new default recipe); reproduce it with the osrbench revision it names: "
                            f"git checkout {revision}")


def _migrated(record: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the method options it predates added (the record itself if none): each takes the value
    its run resolved (``method_info.recipe``), which is what that run used, else the option's default."""
    stored = record["config"]["method"]
    missing = [key for key in current if key not in stored]
    if not missing:
        return record
    resolved = (record.get("method_info") or {}).get("recipe") or {}
    method = {**stored, **{key: resolved.get(key, current[key]) for key in missing}}
    return {**record, "config": {**record["config"], "method": method}, "migrated_options": missing}


def reproduce(path: Path, results_dir: Path, data: DataOptions, device: str | None = None, tol: float = 0.0,
              quiet: bool = False) -> Reproduction:
    """Rerun the record at ``path`` into ``results_dir`` and pair its scalar metrics with the rerun's."""
    if not math.isfinite(tol) or tol < 0:
        raise OsrbenchError(f"--tol {tol}: expected a finite number ≥ 0")
    record, run = prepare(path, results_dir, data, device, quiet)
    _check_same_method_version(run, record)
    with _threads(_recorded_threads(record["cost"]) if run.device.type == "cpu" else None):
        rerun = run.execute()[0]
    recorded, again = _scalars(record), _scalars(rerun)
    rows = [(m, recorded.get(m), again.get(m)) for m in dict.fromkeys([*recorded, *again])]
    return Reproduction(record, rerun, rows, tol)


def _recorded_threads(cost: dict[str, Any]) -> int | None:
    """A CPU record's thread count: ``cost.cpu_threads``, or in an older record its device, "cpu (x86_64, 2 threads)"."""
    found = re.search(r"(\d+) threads?\)$", str(cost.get("device", "")))
    return cost.get("cpu_threads") or (int(found.group(1)) if found else None)


@contextmanager
def _threads(count: int | None):
    """torch's CPU thread count set to ``count`` (a CPU record's ``cost.cpu_threads``) for the rerun: CPU
    kernels sum in another order on another count, so the numbers would differ in their last digits."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    """``POSTPROCESSOR/scorer.key -> value`` for every scalar metric of a record."""
    return {f"{pp}/{key}": value for pp, by_scorer in record["metrics"].items()
            for key, value in scalar_metrics(by_scorer).items()}


def _number(value: float | None) -> str:
    return "missing" if value is None else f"{value:.6g}"


def reproduction_table(r: Reproduction) -> Group:
    title = (f"{r.record['label']} on {r.record['protocol']} split {r.record['split']} seed {r.record['seed']}: "
             f"record vs rerun (tolerance {r.tol:g})")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("metric", "record", "rerun", "rerun − record", ""):
        table.add_column(name, justify="left" if name == "metric" else "right", no_wrap=True)
    for metric, a, b in r.rows:
        difference = "-" if a is None or b is None else f"{b - a:+.3g}"
        verdict = "[red]DIFFERS[/red]" if r.differs(a, b, r.tol) else "ok"
        table.add_row(escape(metric), _number(a), _number(b), difference, verdict)
    return titled(escape(title), table)


def provenance_lines(r: Reproduction) -> list[str]:
    """Where the record and the rerun came from: device, data copy, versions (plain text)."""
    lines = []
    for who, rec in (("record", r.record), ("rerun", r.rerun)):
        v = rec.get("versions") or {}
        lines.append(f"{who}: {rec['cost']['device']}, data {rec['data_fingerprint']}, osrbench {v.get('osrbench')}, "
                     f"torch {v.get('torch')}, git {v.get('git_revision')}, train {rec['cost']['train_seconds']:.1f} s")
    if r.record.get("migrated_options"):
        lines.append(f"the record predates the options {', '.join(r.record['migrated_options'])}: they take the "
                     "values its run resolved")
    if not r.same_data:
        lines.append("the rerun read a different copy of the data (fingerprints differ): metrics are not comparable")
    return lines
