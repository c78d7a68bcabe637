"""Train once, score many: a trained model through every postprocessor and every scorer.

A run's evaluation is the list of postprocessors (each turns the model into known-ness scores) times
the list of scorers (each turns labels and scores into metrics). Scorers keep their signature: they
receive a :class:`~osrbench.types.ScoredModel` whose ``predict`` gives the model's labels and one
postprocessor's scores. Results are stored per postprocessor, then per scorer (record schema 2).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from osrbench.batches import to_float
from osrbench.types import (
    MethodSpec,
    OpenSetModel,
    OsrbenchError,
    OwnScore,
    Postprocessor,
    Prediction,
    PostprocessorSpec,
    RunContext,
    ScoredModel,
    ScorerSpec,
    Split,
    TrainData,
)
from osrbench.config import build_config, config_dict
from osrbench.health import ContractViolation, prediction_problem
from osrbench.plugins import Plugins
from osrbench.predictions import TestPredictions
from osrbench.scorer_contract import checked_result

Todo = dict[str, list[str]]  # postprocessor -> the scorers still to run for it


def resolve_method(plugins: Plugins, name: str) -> tuple[MethodSpec, tuple[str, ...] | None]:
    """The method called ``name``, or the method that has ``name`` as an alias, with the alias's postprocessors."""
    if name in plugins.methods:
        return plugins.methods.get(name), None
    for entry in plugins.methods:
        if name in entry.spec.aliases:
            return entry.spec, tuple(entry.spec.aliases[name])
    return plugins.methods.get(name), None  # raises: unknown method, with a suggestion


def describe(todo: Todo) -> str:
    """``pp/scorer`` pairs as one line, e.g. ``knn/osr, knn/ood``."""
    return ", ".join(f"{pp}/{scorer}" for pp, scorers in todo.items() for scorer in scorers)


def option_owners(method: MethodSpec, postprocessors: list[str], scorers: list[str]) -> set[str]:
    """The names a ``--set NAME.key`` may address among these postprocessors and scorers (the model's own
    score, named after the method, has no options)."""
    return {name for name in postprocessors if name != method.name} | set(scorers)


def postprocessor_names(method: MethodSpec, requested: list[str] | None) -> list[str]:
    """The postprocessors asked for, else the method's defaults, else the model's own score (the method's name)."""
    return list(requested) if requested else list(method.postprocessors) or [method.name]


@dataclasses.dataclass
class NoOptions:
    """The model's own score has no options."""


class Evaluation:
    """The postprocessors and scorers asked for, their configs, and how to run them on a trained model."""

    def __init__(self, plugins: Plugins, method: MethodSpec, names: list[str], scorers: list[str],
                 overrides: dict[str, dict[str, str]]):
        if not names:
            raise OsrbenchError("--postprocessor: name at least one postprocessor")
        if len(set(names)) != len(names):
            raise OsrbenchError(f"--postprocessor {','.join(names)}: a postprocessor is named twice")
        if not scorers:
            raise OsrbenchError("--scorer: name at least one scorer")
        self.method = method
        self.postprocessors: dict[str, PostprocessorSpec | None] = {}
        for name in names:
            # The method's own predict score goes by the method's name (before a postprocessor of that name).
            spec = None if name == method.name else plugins.postprocessors.get(name)
            if spec is not None:
                lacking = sorted(spec.requires - method.provides)
                if lacking:
                    offered = ", ".join(sorted(method.provides)) or "nothing but its own score"
                    raise OsrbenchError(f"postprocessor {name!r} needs {', '.join(lacking)}, which method "
                                        f"{method.name!r} does not provide (it offers {offered}); "
                                        "drop it from --postprocessor")
            self.postprocessors[name] = spec
        # The model's own score has no options (and its name may be an augmentation's too: gradmix).
        self.pp_configs = {name: build_config(spec.config, overrides.get(name, {}), f"postprocessor {name!r}")
                           if spec else NoOptions() for name, spec in self.postprocessors.items()}
        self.scorers = [plugins.scorers.get(name) for name in scorers]
        self.scorer_configs = {s.name: build_config(s.config, overrides.get(s.name, {}), f"scorer {s.name!r}")
                               for s in self.scorers}

    def config(self) -> dict[str, Any]:
        return {"postprocessors": {k: config_dict(v) for k, v in self.pp_configs.items()},
                "scorers": {k: config_dict(v) for k, v in self.scorer_configs.items()}}

    def everything(self) -> Todo:
        return {pp: [s.name for s in self.scorers] for pp in self.postprocessors}

    def todo(self, record: dict[str, Any]) -> Todo:
        """What a finished record lacks: missing pairs, and every pair whose postprocessor or scorer options differ."""
        have = record.get("metrics", {})
        config = record.get("config", {})
        wanted = self.config()
        out: Todo = {}
        for pp in self.postprocessors:
            pp_changed = config.get("postprocessors", {}).get(pp) != wanted["postprocessors"][pp]
            missing = [s.name for s in self.scorers
                       if pp_changed or s.name not in have.get(pp, {})
                       or config.get("scorers", {}).get(s.name) != wanted["scorers"][s.name]]
            if missing:
                out[pp] = missing
        return out

    def changed_options(self, record: dict[str, Any]) -> Todo:
        """The pairs ``record`` has results for, computed with other postprocessor or scorer options than these."""
        have = record.get("metrics", {})
        todo = self.todo(record)
        out = {pp: [s for s in scorers if s in have.get(pp, {})] for pp, scorers in todo.items()}
        return {pp: scorers for pp, scorers in out.items() if scorers}

    def build(self, name: str) -> Postprocessor:
        spec = self.postprocessors[name]
        return spec.build(self.pp_configs[name]) if spec else OwnScore()

    def evaluate(self, model: OpenSetModel, own: TestPredictions, split: Split, ctx: RunContext,
                 todo: Todo) -> dict[str, Any]:
        """Postprocess, then score: fit each postprocessor of ``todo`` on the training data, then run its scorers.

        Every postprocessor and scorer reads the model's own test-set predictions from ``own`` (made
        once). Scorers write their figures into ``<run folder>/<postprocessor>/``; the record lists them
        relative to the run folder. Each postprocessor and scorer fails alone: its error is kept in
        ``failures[pp][scorer]`` (and the files it left are removed) while the others go on. A scorer that
        does not read the scores (``ScorerSpec.reads_scores``) runs once; the other postprocessors get its
        result (0 scoring seconds). Returns the pairs asked for (``todo``), metrics, failures, scoring
        seconds and fitting seconds, per postprocessor.
        """
        model.eval()
        train = TrainData(split.train_images, split.train_labels, split.num_classes)
        results: dict[str, Any] = {"todo": todo, "metrics": {}, "failures": {}, "score_seconds": {}, "fit_seconds": {}}
        by_name = {s.name: s for s in self.scorers}
        pairs = [(pp, scorer) for pp, scorers in todo.items() for scorer in scorers]
        fitted: dict[str, CheckedModel | str] = {}  # a fitted model, or why the postprocessor failed
        once: dict[str, dict[str, Any]] = {}  # results of the scorers that do not read the scores
        for pp, scorer_name in ctx.progress.track(pairs, "scoring"):
            if scorer_name in once:
                results["metrics"].setdefault(pp, {})[scorer_name] = once[scorer_name]
                results["score_seconds"].setdefault(pp, {})[scorer_name] = 0.0
                continue
            if pp not in fitted:  # each postprocessor is fitted just before its scorers run
                postprocessor = self.build(pp)
                t0 = time.perf_counter()
                fitted[pp] = postprocess(postprocessor, pp, model, own, train, ctx)
                results["fit_seconds"][pp] = round(time.perf_counter() - t0, 3)
            scorer = by_name[scorer_name]
            t0 = time.perf_counter()
            try:
                result = score(scorer, self.scorer_configs[scorer.name], fitted[pp], pp, split, ctx)
            except Exception as exc:
                message = f"postprocessor {pp!r}, scorer {scorer.name!r}: {_reason(exc)}"
                results["failures"].setdefault(pp, {})[scorer.name] = message
                ctx.progress.warn(f"{message}; recorded as failed, the other scorers go on")
                continue
            results["score_seconds"].setdefault(pp, {})[scorer.name] = round(time.perf_counter() - t0, 3)
            results["metrics"].setdefault(pp, {})[scorer.name] = result
            if not scorer.reads_scores:
                once[scorer.name] = result
        return results


def postprocess(postprocessor: Postprocessor, name: str, model: OpenSetModel, own: TestPredictions,
                train: TrainData, ctx: RunContext) -> CheckedModel | str:
    """The postprocessor fitted on the training data, as the model scorers see; or why fitting it failed."""
    try:
        postprocessor.fit(model, train, ctx)
    except Exception as exc:  # any failure of a plugin: recorded, the others go on
        return f"fitting the postprocessor failed: {_reason(exc)}"
    return CheckedModel(model, postprocessor, own, name).eval()


def score(scorer: ScorerSpec, config: Any, scored: CheckedModel | str, pp: str, split: Split,
          ctx: RunContext) -> dict[str, Any]:
    """One scorer's checked result for the model seen through postprocessor ``pp``; its figures go into
    ``<work dir>/<pp>/`` and are listed relative to the work dir. A failure raises, leaving no files behind."""
    pp_ctx = dataclasses.replace(ctx, work_dir=ctx.work_dir / pp)
    before = _files(pp_ctx.work_dir)
    try:
        if isinstance(scored, str):
            raise ScorerFailed(scored)
        result = checked_result(scorer.name, scorer.score(scored, split, config, pp_ctx))
    except Exception:
        for leftover in _files(pp_ctx.work_dir) - before:
            leftover.unlink(missing_ok=True)
        raise
    if "plots" in result:
        result = {**result, "plots": [f"{pp}/{name}" for name in result["plots"]]}
    return result


class ScorerFailed(OsrbenchError):
    """A scorer could not run (its postprocessor failed)."""


def _reason(exc: Exception) -> str:
    """An exception as one line: an OsrbenchError's message, else the type and message."""
    text = str(exc) if isinstance(exc, OsrbenchError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _files(folder: Path) -> set[Path]:
    """The regular files under ``folder`` (links are never followed, so never deleted through)."""
    return {p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()} if folder.is_dir() else set()


class CheckedModel(ScoredModel):
    """A :class:`ScoredModel` whose every ``predict`` batch is checked against the contract, so a model that
    emits a wrong label or score on a later batch is a failure naming it, not a wrong metric.

    A test set is predicted from the model's own prediction made once (``own``), once per postprocessor
    and shared by its scorers.
    """

    def __init__(self, model: OpenSetModel, postprocessor: Postprocessor, own: TestPredictions, name: str):
        super().__init__(model, postprocessor)
        self.own, self.name = own, name
        self.num_classes = own.split.num_classes
        self._sets: dict[int, Prediction] = {}  # id of a test set's images -> its prediction

    def check(self, prediction: Prediction, batch: int) -> Prediction:
        problem = prediction_problem(prediction, batch, self.num_classes)
        if problem:
            raise ContractViolation(f"the model seen through postprocessor {self.name!r} breaks the predict() "
                                    f"contract: {problem}")
        return prediction

    def predict(self, images: Tensor) -> Prediction:
        return self.check(super().predict(images), len(images))

    @torch.no_grad()
    def predicted(self, images: Tensor, ctx: RunContext, batch_size: int) -> Prediction | None:
        made = self.own.of(images, batch_size)
        if made is None:
            return None
        if id(made.images) not in self._sets:
            parts = []
            with ctx.autocast():
                for batch, output in made.batches():
                    scores = (output.scores if type(self.postprocessor) is OwnScore
                              else self.postprocessor.score(self.model, to_float(batch, ctx)))
                    parts.append(self.check(Prediction(output.labels, scores), len(batch)))
            self._sets[id(made.images)] = Prediction(torch.cat([p.labels for p in parts]),
                                                     torch.cat([p.scores for p in parts]).float())
        return self._sets[id(made.images)]


def merge_into_record(record: dict[str, Any], evaluation: Evaluation, results: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the new metrics, failures, their configs and their seconds added.

    Results computed with other options than the new ones are dropped (a postprocessor whose options
    changed loses its old metrics; a scorer whose options changed, its old results), also where the new
    attempt failed, so a record never mixes options and never keeps a stale number; the record's config
    says which options its metrics were computed with. ``failures[pp][scorer]`` holds the error of each
    pair whose latest attempt failed (a later run scores it again from the kept weights).
    """
    old_config = record.get("config", {})
    wanted = evaluation.config()
    attempted = results["todo"]
    scorers = {s for by_pp in attempted.values() for s in by_pp}
    stale_pps = {pp for pp in attempted if old_config.get("postprocessors", {}).get(pp) not in
                 (None, wanted["postprocessors"][pp])}
    stale_scorers = {s for s in scorers if old_config.get("scorers", {}).get(s) not in (None, wanted["scorers"][s])}

    def kept(table: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {pp: {s: v for s, v in by_scorer.items() if s not in stale_scorers}
                for pp, by_scorer in table.items() if pp not in stale_pps}

    cost = {**record.get("cost", {})}
    metrics, seconds = kept(record.get("metrics", {})), kept(cost.get("score_seconds", {}))
    failures = {pp: {s: m for s, m in by_scorer.items() if s not in attempted.get(pp, [])}
                for pp, by_scorer in (record.get("failures") or {}).items()}
    for pp, by_scorer in results["metrics"].items():
        metrics.setdefault(pp, {}).update(by_scorer)
        seconds.setdefault(pp, {}).update(results["score_seconds"][pp])
    for pp, by_scorer in results["failures"].items():
        failures.setdefault(pp, {}).update(by_scorer)
    cost["score_seconds"] = seconds
    cost["postprocessor_fit_seconds"] = {**cost.get("postprocessor_fit_seconds", {}), **results["fit_seconds"]}
    config = {**old_config,
              "postprocessors": {**old_config.get("postprocessors", {}),
                                 **{pp: wanted["postprocessors"][pp] for pp in attempted}},
              "scorers": {**old_config.get("scorers", {}), **{s: wanted["scorers"][s] for s in scorers}}}
    merged = {**record, "metrics": metrics, "config": config, "cost": cost}
    merged.pop("failures", None)
    failures = {pp: by_scorer for pp, by_scorer in failures.items() if by_scorer}
    return {**merged, "failures": failures} if failures else merged


def failure_lines(record: dict[str, Any]) -> list[str]:
    """One line per postprocessor x scorer whose latest attempt on ``record`` failed."""
    return [f"split {record.get('split')}: {message}" for by_scorer in (record.get("failures") or {}).values()
            for message in by_scorer.values()]
