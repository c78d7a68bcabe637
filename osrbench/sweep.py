"""``osrbench sweep``: a grid of runs expanded into jobs (one per record), finished ones skipped,
the rest run through an executor, with one progress bar over all of them.

A grid is lists of methods, augmentations, protocols, splits and seeds (plus scorers and ``--set``
options shared by every run of the grid). A grid file (TOML) holds one grid at its top level or
several as ``[[grid]]`` tables, with the same keys as the command line::

    method = ["mls", "msp"]
    augment = ["none", "mixup"]
    protocol = ["cifar10"]
    split = "all"            # or [0, 1]
    seed = [0, 1, 2]
    scorer = ["osr"]
    postprocessor = ["msp", "mls"]   # left out: each method's defaults
    set = {epochs = 50}
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from rich.markup import escape

from osrbench.types import Executor, OsrbenchError
from osrbench.jobs import Job, JobResult
from osrbench.plugins import Plugins
from osrbench.progress import Progress
from osrbench.records import DamagedRecord, read_record
from osrbench.runner import Run, RunRequest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

NO_AUGMENTATION = "none"


@dataclass
class Grid:
    methods: list[str] = field(default_factory=lambda: ["ce"])
    augments: list[str | None] = field(default_factory=lambda: [None])
    protocols: list[str] = field(default_factory=lambda: ["digits"])
    splits: list[int] | None = None  # None = all splits of each protocol
    seeds: list[int] = field(default_factory=lambda: [0])
    scorers: list[str] = field(default_factory=lambda: ["osr"])
    postprocessors: list[str] | None = None  # None = each method's defaults
    overrides: dict[str, str] = field(default_factory=dict)


def augmentations(names: Iterable[str]) -> list[str | None]:
    """Augmentation names with ``none`` meaning a run without one."""
    return [None if name == NO_AUGMENTATION else name for name in names]


# --------------------------------------------------------------------------- grid files

GRID_KEYS = ("method", "augment", "protocol", "split", "seed", "scorer", "postprocessor", "set")


def _names(value: Any, key: str, where: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise OsrbenchError(f"{where}: {key} must be a name or a non-empty list of names, got {value!r}")
    return values


def _ints(value: Any, key: str, where: str) -> list[int]:
    values = [value] if isinstance(value, int) else value
    if (not isinstance(values, list) or not values
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)):
        raise OsrbenchError(f"{where}: {key} must be an integer >= 0 or a non-empty list of them, got {value!r}")
    if len(set(values)) != len(values):
        raise OsrbenchError(f"{where}: {key} lists a value twice: {values}")
    return values


def _grid_from_table(table: dict[str, Any], where: str) -> Grid:
    unknown = sorted(set(table) - set(GRID_KEYS))
    if unknown:
        raise OsrbenchError(f"{where}: unknown key {unknown[0]!r}; grid keys are {', '.join(GRID_KEYS)}")
    grid = Grid()
    if "method" in table:
        grid.methods = _names(table["method"], "method", where)
    if "augment" in table:
        grid.augments = augmentations(_names(table["augment"], "augment", where))
    if "protocol" in table:
        grid.protocols = _names(table["protocol"], "protocol", where)
    if "scorer" in table:
        grid.scorers = _names(table["scorer"], "scorer", where)
    if "postprocessor" in table:
        grid.postprocessors = _names(table["postprocessor"], "postprocessor", where)
    if "split" in table:
        grid.splits = None if table["split"] == "all" else _ints(table["split"], "split", where)
    if "seed" in table:
        grid.seeds = _ints(table["seed"], "seed", where)
    options = table.get("set", {})
    if not isinstance(options, dict) or not all(isinstance(v, (str, int, float, bool)) for v in options.values()):
        raise OsrbenchError(f"{where}: set must be a table of option = value, e.g. set = {{epochs = 50}}")
    grid.overrides = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()}
    return grid


def read_grid_file(path: Path) -> list[Grid]:
    """The grids of a TOML grid file: its top level, or each ``[[grid]]`` table."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise OsrbenchError(f"--grid {path}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise OsrbenchError(f"--grid {path}: not a readable TOML file ({exc})") from None
    if "grid" in data:
        tables = data.pop("grid")
        if data or not isinstance(tables, list) or not tables:
            raise OsrbenchError(f"--grid {path}: put every key inside the [[grid]] tables (or use no [[grid]] at all)")
        return [_grid_from_table(t, f"--grid {path}, grid {i + 1}") for i, t in enumerate(tables)]
    return [_grid_from_table(data, f"--grid {path}")]


# --------------------------------------------------------------------------- planning


@dataclass
class Plan:
    jobs: list[Job]
    finished: list[Path]  # records that already hold everything asked for (skipped)
    cells: set[tuple[str, str]]  # (protocol, label) pairs the grid covers, for its leaderboard


def _complete(path: Path, run: Run) -> bool:
    """Whether the record at ``path`` exists, was made from the inputs ``run`` has (the job's own thread count
    is checked where it runs) and holds every postprocessor x scorer that ``run`` asks for."""
    if not path.exists():
        return False
    try:
        record = read_record(path)
    except DamagedRecord:  # the job moves it aside and trains again
        return False
    return not run.changes(record, threads=False) and not run.evaluation.todo(record)


def plan(grids: list[Grid], template: RunRequest, plugins: Plugins) -> Plan:
    """Expand the grids into one job per record; every combination is validated before anything runs.

    A record named twice (e.g. by overlapping grids, or ``msp,mls``: both the method ce) becomes one
    job that evaluates the postprocessors of both. A record that exists but lacks some of them becomes
    a job too: it scores them from the run's kept weights, without training.
    """
    jobs: dict[Path, Job] = {}
    finished: dict[Path, None] = {}
    cells = set()
    for grid in grids:
        for method, augment, protocol, seed in itertools.product(grid.methods, grid.augments, grid.protocols,
                                                                 grid.seeds):
            request = dataclasses.replace(template, method=method, augment=augment, protocol=protocol,
                                          splits=grid.splits, seed=seed, scorers=grid.scorers,
                                          postprocessors=grid.postprocessors,
                                          overrides={**grid.overrides, **template.overrides})
            try:
                run = Run(request, plugins)
            except OsrbenchError as exc:
                combo = method + (f" + {augment}" if augment else "")
                raise OsrbenchError(f"{combo} on {protocol}: {exc}") from None
            cells.add((run.protocol.name, run.label))
            postprocessors = list(run.evaluation.postprocessors)
            for split in run.splits:
                path = run.path(split)
                if path in jobs:
                    job = jobs[path]
                    merged = list(dict.fromkeys([*job.request.postprocessors, *postprocessors]))
                    job.request = dataclasses.replace(job.request, postprocessors=merged)
                elif template.force or not _complete(path, run):
                    finished.pop(path, None)
                    title = f"{run.label} on {run.protocol.name} split {split} seed {seed}"
                    jobs[path] = Job(dataclasses.replace(request, splits=[split], postprocessors=postprocessors,
                                                         wait_for_claims=False, quiet=True), path, title)
                else:
                    finished[path] = None
    return Plan(list(jobs.values()), list(finished), cells)


def splits_of_run(request: RunRequest) -> Grid:
    """The grid of one ``osrbench run``: its method, augmentation and protocol over its splits."""
    return Grid(methods=[request.method], augments=[request.augment], protocols=[request.protocol],
                splits=request.splits, seeds=[request.seed], scorers=request.scorers,
                postprocessors=request.postprocessors)


# --------------------------------------------------------------------------- running


def execute(plan: Plan, executor: Executor, progress: Progress) -> list[JobResult]:
    """Run the plan's jobs through ``executor`` under one progress bar; failures are logged as they come."""
    results: list[JobResult] = []
    counts: Counter[str] = Counter()
    lock = threading.Lock()  # executors may report starts from their own threads

    def info() -> str:
        running = counts["started"] - len(results)
        parts = [f"running {running}", f"failed {counts['failed']}"]
        return " · ".join(parts + ([f"claimed elsewhere {counts['claimed']}"] if counts["claimed"] else []))

    with progress.task("sweep", total=len(plan.jobs)) as bar:
        def started(job: Job) -> None:
            with lock:
                counts["started"] += 1
                bar.advance(0, info=info())

        for result in executor.map(plan.jobs, started):
            with lock:
                results.append(result)
                counts[result.status] += 1
                bar.advance(1, info=info())
            if result.status == "failed":
                progress.log(f"[red]failed:[/red] {escape(result.job.title)}: {escape(result.message)}")
            elif result.status == "claimed":
                progress.log(f"[yellow]skipped:[/yellow] {escape(result.message)}")
    return results


def summary(plan: Plan, results: list[JobResult]) -> str:
    counts = Counter(r.status for r in results)
    parts = [f"{counts['trained']} trained", f"{len(plan.finished)} already finished"]
    if counts["scored"]:
        parts.append(f"{counts['scored']} completed without training")
    if counts["claimed"]:
        parts.append(f"{counts['claimed']} claimed by another process (not run here)")
    parts.append(f"{counts['failed']} failed")
    return f"{len(plan.jobs) + len(plan.finished)} records: " + ", ".join(parts)
