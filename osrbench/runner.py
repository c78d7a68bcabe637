"""The run loop: protocol split -> method.fit -> postprocessors x scorers -> record, for each requested split.

A split whose record exists is not trained again: what the record lacks (a postprocessor or scorer
asked for now, or one with other options) is scored from the run's kept weights (``model.pt``).
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.markup import escape

from osrbench import attempts
from osrbench.claims import claim_record, lock_path
from osrbench.config import build_config, config_dict, config_hash, split_overrides
from osrbench.data import load_dataset
from osrbench.evaluation import (
    Evaluation,
    Todo,
    describe,
    merge_into_record,
    option_owners,
    postprocessor_names,
    resolve_method,
)
from osrbench.identity import differences, record_identity, split_hash
from osrbench.limit import limit_split
from osrbench.protocol_files import protocol_copy
from osrbench.health import check_trained_model
from osrbench.plugins import Plugins, load_plugins
from osrbench.predictions import predict_test_sets
from osrbench.progress import Progress
from osrbench.safe_files import refuse_links, refuse_links_within
from osrbench.records import (
    SCHEMA,
    DamagedRecord,
    device_name,
    error_log_path,
    move_aside,
    read_record,
    record_path,
    run_label,
    versions,
    write_record,
)
from osrbench.training import TrainingFailed, UntrainedModel
from osrbench.types import (
    AugmentationSpec,
    DataOptions,
    MethodSpec,
    OpenSetModel,
    OsrbenchError,
    ProtocolSpec,
    RunContext,
    Split,
)
from osrbench.weights import load_weights, save_weights, weights_path


@dataclass
class RunRequest:
    method: str = "ce"
    protocol: str = "digits"
    augment: str | None = None
    scorers: list[str] = field(default_factory=lambda: ["osr"])
    postprocessors: list[str] | None = None  # None = the method's defaults
    splits: list[int] | None = None  # None = all
    seed: int = 0
    data: DataOptions = field(default_factory=lambda: DataOptions(Path(".")))
    device: str = "auto"
    results_dir: Path = Path("results")
    overrides: dict[str, str] = field(default_factory=dict)
    force: bool = False
    quiet: bool = False
    wait_for_claims: bool = True  # False: a split claimed by another process raises ClaimHeld
    limit: int | None = None  # at most this many training and test images per class (smoke runs)
    health_check: bool = True  # False: a model that did not learn is recorded with a warning (smoke tests)
    no_rerun: bool = False  # True: a record made from other inputs is an error, not rerun


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise OsrbenchError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise OsrbenchError(f"--device {name}: expected cpu, cuda, cuda:N or auto")
    return torch.device(name)


def check_results_dir(results_dir: Path) -> None:
    """Before any training: the results dir exists or can be created, and is writable."""
    path = Path(results_dir)
    if path.exists() and not path.is_dir():
        raise OsrbenchError(f"--results-dir {path} is a file, not a folder; name a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise OsrbenchError(f"--results-dir {path} is not writable ({exc.strerror}); name a folder you can write to") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


NO_AUGMENTATION = "none"
MAX_SEED = 2**32 - 1  # numpy's seeds
MAX_LIMIT = 2**31 - 1


def resolve_augmentation(plugins: Plugins, method: MethodSpec, name: str | None) -> AugmentationSpec | None:
    """``--augment NAME``; with no name the method's own augmentation, if it has one; ``none``: no augmentation."""
    if name is None:
        name = method.default_augmentation
    elif name == NO_AUGMENTATION and method.default_augmentation:
        raise OsrbenchError(f"--augment none: method {method.name!r} is defined with the augmentation "
                            f"{method.default_augmentation!r}; replace it with --augment NAME, or pick a method "
                            "without it (`osrbench list methods`)")
    return None if name in (None, NO_AUGMENTATION) else plugins.augmentations.get(name)


def _non_default(config: Any) -> dict[str, Any]:
    defaults = config_dict(type(config)())
    return {k: v for k, v in config_dict(config).items() if defaults.get(k) != v}


def _parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Run:
    """One resolved request: the plugins, their configs, and where each split's record goes."""

    def __init__(self, request: RunRequest, plugins: Plugins | None = None):
        self.request = request
        self.plugins = plugins or load_plugins()
        p = self.plugins
        self.method, alias_postprocessors = resolve_method(p, request.method)
        self.protocol = p.protocol(request.protocol)
        self.data = dataclasses.replace(request.data, datasets=p.datasets)
        self.augmentation = resolve_augmentation(p, self.method, request.augment)
        if self.augmentation is not None and not self.method.accepts_augmentation:
            raise OsrbenchError(f"method {self.method.name!r} takes no augmentation; drop --augment")
        pp_names = postprocessor_names(self.method, request.postprocessors or alias_postprocessors)
        owners = option_owners(self.method, pp_names, request.scorers) | ({self.augmentation.name} if self.augmentation else set())
        grouped = split_overrides(request.overrides, owners)
        self.method_config = build_config(self.method.config, grouped[""], f"method {self.method.name!r}")
        self.aug_config = (build_config(self.augmentation.config, grouped.get(self.augmentation.name, {}),
                                        f"augmentation {self.augmentation.name!r}") if self.augmentation else None)
        self.evaluation = Evaluation(p, self.method, pp_names, request.scorers, grouped)
        splits = request.splits if request.splits is not None else list(range(self.protocol.n_splits))
        bad = [s for s in splits if not 0 <= s < self.protocol.n_splits]
        if bad:
            raise OsrbenchError(f"--split {bad[0]}: protocol {self.protocol.name!r} has splits "
                                f"0..{self.protocol.n_splits - 1} (or 'all')")
        repeated = sorted({s for s in splits if splits.count(s) > 1})
        if repeated:
            raise OsrbenchError(f"--split names split {repeated[0]} more than once; name each split once, "
                                f"e.g. --split {','.join(map(str, dict.fromkeys(splits)))}")
        self.splits = splits
        self.record_name = self.method.record_name(self.method_config) if self.method.record_name else self.method.name
        # Runs whose training config differs from the defaults are kept apart by a hash of the difference.
        training_overrides = {"method": _non_default(self.method_config),
                              "augmentation": _non_default(self.aug_config) if self.aug_config else {}}
        self.training_overrides = {k: v for k, v in training_overrides.items() if v}
        if request.limit is not None and not 1 <= request.limit <= MAX_LIMIT:
            raise OsrbenchError(f"--limit {request.limit}: give a number of images per class from 1 to {MAX_LIMIT}")
        if not 0 <= request.seed <= MAX_SEED:
            raise OsrbenchError(f"--seed {request.seed}: give a seed from 0 to {MAX_SEED}")
        # A limited (smoke) run gets a label of its own, so it never mixes with full runs.
        hashed = {**self.training_overrides, **({"limit": request.limit} if request.limit else {})}
        self.label = run_label(self.record_name, self.augmentation.name if self.augmentation else None,
                               config_hash(hashed) if hashed else None)
        self.device = resolve_device(request.device)
        for split in self.splits:  # names that would place a record outside the results dir fail here
            self.path(split)
        self.trained: list[int] = []  # splits that execute() trained (the others had records)
        self.compare_threads = True  # False: a record made with another CPU thread count is reused

    def path(self, split: int) -> Path:
        r = self.request
        return record_path(r.results_dir, self.protocol.name, self.label, split, r.seed)

    def execute(self, progress: Progress | None = None) -> list[dict[str, Any]]:
        progress = progress or Progress(quiet=self.request.quiet)
        check_results_dir(self.request.results_dir)
        records = []
        checked = False
        for split in self.splits:
            path = self.path(split)
            self._refuse_links(path)
            if not checked and (self.request.force or not path.exists()):
                self._load_scorer_datasets()
                checked = True
            claimed = claim_record(path, wait=self.request.wait_for_claims, log=lambda m: progress.log(escape(m)))
            try:
                with claimed as claim:
                    self._refuse_links(path)  # again, now that no other osrbench process writes there
                    # A claim we had to wait for may have ended with the record written: never train it twice.
                    record = None if self.request.force and not claim.waited else self._finished(path, progress)
                    if record is None:
                        record = self._run_split(split, path, progress)
                        self.trained.append(split)
            except BaseException:  # the claim is released: leave no empty folders behind
                _remove_empty_folders(path.with_suffix(""), self.request.results_dir)
                raise
            records.append(record)
        return records

    def _refuse_links(self, path: Path) -> None:
        """A run writes and deletes only in its own folders: none of them (nor anything in the run folder)
        may be a symbolic link, which could point outside the results dir."""
        root = Path(self.request.results_dir).resolve()
        for place in (path, lock_path(path), path.with_suffix(""), error_log_path(path)):
            refuse_links(root, place)
        refuse_links_within(path.with_suffix(""))

    def identity(self, split: Split) -> dict[str, Any]:
        """The identity (``osrbench.identity``) of this run's record of ``split``."""
        r = self.request
        return {
            "method": self.method.name, "method version": self.method.version_for(split),
            "method config": config_dict(self.method_config),
            "augmentation": self.augmentation.name if self.augmentation else None,
            "augmentation config": config_dict(self.aug_config) if self.aug_config else None,
            "protocol": self.protocol.name, "protocol version": self.protocol.version,
            "split family": split.split_family, "split classes": split_hash(split),
            "data fingerprint": split.fingerprint, "limit": r.limit, "seed": r.seed,
            "CPU threads": torch.get_num_threads() if self.device.type == "cpu" else None,
        }

    def changes(self, record: dict[str, Any], threads: bool = True) -> list[str]:
        """What differs between ``record``'s identity and this run's (empty: it may be reused); without
        ``threads`` the CPU thread count is not compared (a sweep's jobs choose theirs)."""
        # The split as the run trains on it (cut by --limit; kept on the CPU): a method's version may depend on it.
        wanted = self.identity(load_split(self.protocol, record["split"], self.data, self.request.limit,
                                          torch.device("cpu")))
        if not threads or record.get("cost", {}).get("device_type", "cpu") != self.device.type:
            wanted["CPU threads"] = None
        defaults = {"method config": config_dict(type(self.method_config)()),
                    "augmentation config": config_dict(type(self.aug_config)()) if self.aug_config else {}}
        return differences(record_identity(record), wanted, defaults)

    def _load_scorer_datasets(self) -> None:
        """Load the datasets the scorers will read (e.g. OOD sets) now, so a missing one stops the run
        before anything trains."""
        for scorer in self.evaluation.scorers:
            for name in scorer.datasets(self.evaluation.scorer_configs[scorer.name]) if scorer.datasets else []:
                load_dataset(name, self.data)

    def _finished(self, path: Path, progress: Progress) -> dict[str, Any] | None:
        """The stored record of this split (with what it lacks scored from the kept weights), or None.

        A damaged record, or one made from other inputs (``changes``), is moved aside and the split rerun
        (``--no-rerun``: an error naming what changed).
        """
        if not path.exists():
            return None
        try:
            record = read_record(path)
        except DamagedRecord as exc:
            kept = move_aside(path)
            progress.warn(f"{exc.reason}; moved it to {kept.name} and running the split again")
            return None
        changed = self.changes(record, threads=self.compare_threads)
        todo = self.evaluation.todo(record)
        restated = self.evaluation.changed_options(record)
        has_weights = weights_path(path.with_suffix("")).is_file()
        if not changed and restated and not has_weights:
            changed = [f"{describe(restated)} with other options, and the run kept no weights (model.pt) to "
                       "score them again"]
        if changed and self.request.no_rerun:
            raise OsrbenchError(f"split {record['split']}: the record {path} was made from other inputs "
                                f"({'; '.join(changed)}); --no-rerun: not running it again (drop --no-rerun "
                                "to rerun it, or pick another --results-dir)")
        if changed:
            kept = move_aside(path, "stale")
            progress.warn(f"split {record['split']}: the record {path} was made from other inputs "
                          f"({'; '.join(changed)}); moved it to {kept.name} and training again")
            return None
        if not todo:
            progress.log(f"[dim]split {record['split']}: record exists ({escape(str(path))}); skipped "
                         "(use --force to rerun)[/dim]")
        elif restated and self.request.no_rerun:
            raise OsrbenchError(f"split {record['split']}: the record {path} has {describe(restated)} with other "
                                "options; --no-rerun: not scoring them again (drop --no-rerun to score them "
                                "again from the kept weights)")
        elif not has_weights:
            progress.warn(f"split {record['split']}: record {path} lacks {describe(todo)} and the run kept no "
                          "weights (model.pt): use --force to train again")
        else:
            record = add_scores(path, record, self.evaluation, todo, self.plugins, self.data, self.device,
                                progress)
        return record

    def _run_split(self, split_index: int, path: Path, progress: Progress) -> dict[str, Any]:
        """Train and score one split; on failure no record is left, and checkpoints are kept where a rerun
        can use them (an interrupted training, a failed scoring)."""
        work_dir = path.with_suffix("")
        if self.request.force and work_dir.exists():
            for ckpt in work_dir.glob("*.ckpt"):
                ckpt.unlink()
        work_dir.mkdir(parents=True, exist_ok=True)
        earlier = attempts.earlier_attempts(work_dir)
        attempts.note_start(work_dir, earlier)
        clock = Stopwatch()
        try:
            record = self._train_and_score(split_index, path, work_dir, progress, clock, earlier)
        except TrainingFailed as exc:  # the model is no use: drop its checkpoints, name the split
            for ckpt in work_dir.glob("*.ckpt"):
                ckpt.unlink()
            attempts.clear(work_dir)
            hint = ""
            if self.request.limit and isinstance(exc, UntrainedModel):
                hint = (f" (a --limit {self.request.limit} smoke run may hold too few images for this protocol to "
                        "learn: raise --limit, or add --no-health-check to check only the plumbing)")
            raise type(exc)(f"split {split_index}, seed {self.request.seed}: {exc}{hint}") from None
        except BaseException:
            attempts.note_end(work_dir, earlier, clock.seconds)
            raise
        for leftover in [*work_dir.glob("*.ckpt"), work_dir / attempts.FILE]:  # the record is safe now
            leftover.unlink(missing_ok=True)
        _remove_empty_folders(work_dir, self.request.results_dir)
        self.plugins.hook.osrbench_run_finished(record=record)
        return record

    def _train_and_score(self, split_index: int, path: Path, work_dir: Path, progress: Progress,
                         clock: "Stopwatch", earlier: attempts.Attempts) -> dict[str, Any]:
        """One split's life in stages: load split -> train -> predict once -> health check -> postprocess and
        score -> record."""
        began = time.perf_counter()
        split = load_split(self.protocol, split_index, self.data, self.request.limit, self.device)
        self.method.version_for(split)  # a plugin's broken version fails here, not after the training
        ctx = self._context(work_dir, progress)
        self._announce(split, progress)
        with clock:
            model = train(self.method, self.method_config, split, ctx)  # the method resumes from its checkpoints
        own = predict_test_sets(model, split, ctx)
        check_trained_model(own, split, ctx, f"method {self.method.name!r}")
        save_weights(model, self.method, self.method_config, work_dir)  # before scoring: a scoring failure keeps them
        results = self.evaluation.evaluate(model, own, split, ctx, self.evaluation.everything())  # failures recorded
        record = self._new_record(split, model, ctx, clock.seconds, earlier)
        record = merge_into_record(record, self.evaluation, results)
        record["cost"]["wall_seconds"] = round(time.perf_counter() - began, 3)
        write_record(record, path)
        return record

    def _context(self, work_dir: Path, progress: Progress) -> RunContext:
        """A fresh seed, the augmentation built, and what the method and scorers may use of the harness."""
        seed_everything(self.request.seed)
        augmentation = self.augmentation.build(self.aug_config) if self.augmentation else None
        return RunContext(device=self.device, seed=self.request.seed, work_dir=work_dir, progress=progress,
                          augmentation=augmentation, data=self.data, health_check=self.request.health_check)

    def _names(self, split_index: int) -> dict[str, Any]:
        return {"name": self.record_name, "method": self.method.name, "protocol": self.protocol.name,
                "augmentation": self.augmentation.name if self.augmentation else None,
                "split": split_index, "seed": self.request.seed, "label": self.label}

    def _config(self) -> dict[str, Any]:
        return {"method": config_dict(self.method_config),
                "augmentation": config_dict(self.aug_config) if self.aug_config else None,
                **self.evaluation.config()}

    def _announce(self, split: Split, progress: Progress) -> None:
        """Tell the observer plugins and the user what starts training."""
        self.plugins.hook.osrbench_run_started(run={**self._names(split.index), "config": self._config()})
        progress.log(f"[bold]{escape(self.label)}[/bold] on {escape(self.protocol.name)} split {split.index} "
                     f"({len(split.train_images)} train, {len(split.test_images)} known test, "
                     f"{len(split.unknown_images)} unknown test) on {self.device}")

    def _new_record(self, split: Split, model: OpenSetModel, ctx: RunContext, train_seconds: float,
                    earlier: attempts.Attempts) -> dict[str, Any]:
        """The record of a split just trained, before its metrics are merged in."""
        config = self._config()
        return {
            "schema": SCHEMA, **self._names(split.index),
            "protocol_version": self.protocol.version,
            "method_version": self.method.version_for(split),
            "split_family": split.split_family,
            "split_hash": split_hash(split),
            **({"protocol_file": copy} if (copy := protocol_copy(self.protocol)) else {}),
            "data_fingerprint": split.fingerprint,
            "config": {"method": config["method"], "augmentation": config["augmentation"]},
            "overrides": self.training_overrides,
            "limit": self.request.limit,
            "metrics": {},
            "cost": {
                "train_seconds": round(earlier.train_seconds + train_seconds, 3),
                "attempts": earlier.count + 1,
                "resumed": earlier.resumed,
                "device": device_name(self.device),
                "device_type": self.device.type,
                "cpu_threads": torch.get_num_threads() if self.device.type == "cpu" else None,
                "parameters": _parameter_count(model),
                "epochs": ctx.extra_record.get("epochs", getattr(self.method_config, "epochs", None)),
                "paper_epochs": self.method.paper_epochs,
            },
            "method_info": ctx.extra_record,
            "warnings": ctx.warnings,
            "health_check": self.request.health_check,  # False: made with --no-health-check (reproduce repeats that)
            "versions": versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


def load_split(protocol: ProtocolSpec, index: int, data: DataOptions, limit: int | None,
               device: torch.device) -> Split:
    """Stage one: the protocol's split ``index`` (at most ``limit`` images per class), on ``device``."""
    split = protocol.load(index, data)
    if limit:
        split = limit_split(split, limit)
    return split.to(device) if device.type == "cuda" else split


def train(method: MethodSpec, config: Any, split: Split, ctx: RunContext) -> OpenSetModel:
    """The method's trained model, in eval mode."""
    model = method.fit(split, config, ctx)
    if not isinstance(model, OpenSetModel):
        raise OsrbenchError(f"method {method.name!r}: fit() returned {type(model).__name__}, not the trained "
                            "OpenSetModel; a bug in the method's plugin")
    return model.eval()


class Stopwatch:
    """Seconds spent inside ``with stopwatch:``, also when the block ends by an exception."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> "Stopwatch":
        self._began = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds += time.perf_counter() - self._began


def _remove_empty_folders(folder: Path, results_dir: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``results_dir`` while they are empty."""
    root = Path(results_dir).resolve()
    folder = folder.resolve()
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError:  # not empty: stop here
            return
        folder = folder.parent


def add_scores(path: Path, record: dict[str, Any], evaluation: Evaluation, todo: Todo, plugins: Plugins,
               data: DataOptions, device: torch.device, progress: Progress) -> dict[str, Any]:
    """Score a finished run's kept weights with what ``todo`` names and rewrite its record (no training)."""
    progress.log(f"split {record['split']}: record {escape(str(path))} lacks {escape(describe(todo))} (or has them "
                 "with other options); scoring them from the kept weights")
    method = plugins.methods.get(record["method"])
    data = dataclasses.replace(data, datasets=plugins.datasets)
    split = load_split(plugins.protocol(record["protocol"]), record["split"], data, record.get("limit"), device)
    if split.fingerprint != record.get("data_fingerprint"):
        raise OsrbenchError(f"{path}: the data of {record['protocol']} split {record['split']} differ from those the "
                            f"run was trained on (fingerprint {split.fingerprint} vs {record.get('data_fingerprint')}); "
                            "point --data-root at the same copy or rerun with --force")
    seed_everything(record["seed"])
    ctx = RunContext(device=device, seed=record["seed"], work_dir=path.with_suffix(""), progress=progress, data=data)
    model = load_weights(ctx.work_dir, method, split, ctx)
    results = evaluation.evaluate(model, predict_test_sets(model, split, ctx), split, ctx, todo)
    updated = merge_into_record(record, evaluation, results)
    write_record(updated, path)
    return updated


def score_record(path: Path, postprocessors: list[str] | None, scorers: list[str] | None,
                 overrides: dict[str, str], data: DataOptions, device: str = "auto", force: bool = False,
                 plugins: Plugins | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Add postprocessors and scorers to a finished run from its kept weights (``osrbench score``); no training.

    Left out, ``postprocessors`` and ``scorers`` default to those the record already has; what the
    record has with the same options is not scored again unless ``force``.
    """
    plugins = plugins or load_plugins()
    progress = progress or Progress()
    with claim_record(path, wait=True, log=lambda m: progress.log(escape(m))):  # one writer per record
        return _score_claimed(path, postprocessors, scorers, overrides, data, device, force, plugins, progress)


def _score_claimed(path: Path, postprocessors: list[str] | None, scorers: list[str] | None,
                   overrides: dict[str, str], data: DataOptions, device: str, force: bool, plugins: Plugins,
                   progress: Progress) -> dict[str, Any]:
    record = read_record(path)
    method = plugins.methods.get(record["method"])
    pp_names = postprocessors or list(record.get("metrics", {}))
    scorer_names = scorers or list(dict.fromkeys(s for by_scorer in record.get("metrics", {}).values() for s in by_scorer))
    grouped = split_overrides(overrides, option_owners(method, pp_names, scorer_names))
    if grouped[""]:
        raise OsrbenchError(f"--set {next(iter(grouped['']))}: scoring a finished run cannot change its training "
                            "options; set postprocessor or scorer options as NAME.key=value")
    evaluation = Evaluation(plugins, method, pp_names, scorer_names, grouped)
    todo = evaluation.everything() if force else evaluation.todo(record)
    if not todo:
        progress.log(f"{path} already has {describe(evaluation.everything())} with these options; "
                     "nothing to add (--force scores them again)")
        return record
    return add_scores(path, record, evaluation, todo, plugins, data, resolve_device(device), progress)
def run(request: RunRequest, plugins: Plugins | None = None, progress: Progress | None = None) -> list[dict[str, Any]]:
    return Run(request, plugins).execute(progress)
