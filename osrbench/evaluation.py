"""Train once, score many: a trained model through every postprocessor and every scorer.

A run's evaluation is the list of postprocessors (each turns the model into known-ness scores) times
the list of scorers (each turns labels and scores into metrics). Scorers keep their signature: they
receive a :class:`~osrbench.api.ScoredModel` whose ``predict`` gives the model's labels and one
postprocessor's scores. Results are stored per postprocessor, then per scorer (record schema 2).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from osrbench.api import (
    MethodSpec,
    OpenSetModel,
    OsrbenchError,
    OwnScore,
    Postprocessor,
    PostprocessorSpec,
    RunContext,
    ScoredModel,
    Split,
    TrainData,
)
from osrbench.config import build_config, config_dict
from osrbench.plugins import Plugins

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

    def build(self, name: str) -> Postprocessor:
        spec = self.postprocessors[name]
        return spec.build(self.pp_configs[name]) if spec else OwnScore()

    def evaluate(self, model: OpenSetModel, split: Split, ctx: RunContext, todo: Todo) -> dict[str, Any]:
        """Fit each postprocessor of ``todo`` on the training data, then run its scorers.

        Scorers write their figures into ``<run folder>/<postprocessor>/``; the record lists them
        relative to the run folder. Returns metrics, scoring seconds and fitting seconds, per postprocessor.
        """
        model.eval()
        train = TrainData(split.train_images, split.train_labels, split.num_classes)
        metrics: dict[str, dict[str, Any]] = {}
        seconds: dict[str, dict[str, float]] = {}
        fit_seconds: dict[str, float] = {}
        by_name = {s.name: s for s in self.scorers}
        pairs = [(pp, scorer) for pp, scorers in todo.items() for scorer in scorers]
        fitted: dict[str, ScoredModel] = {}
        for pp, scorer_name in ctx.progress.track(pairs, "scoring"):
            if pp not in fitted:
                postprocessor = self.build(pp)
                t0 = time.perf_counter()
                postprocessor.fit(model, train, ctx)
                fit_seconds[pp] = round(time.perf_counter() - t0, 3)
                fitted[pp] = ScoredModel(model, postprocessor).eval()
            scorer = by_name[scorer_name]
            pp_ctx = dataclasses.replace(ctx, work_dir=ctx.work_dir / pp)
            t0 = time.perf_counter()
            try:
                result = scorer.score(fitted[pp], split, self.scorer_configs[scorer.name], pp_ctx)
            except OsrbenchError as exc:
                raise OsrbenchError(f"postprocessor {pp!r}, scorer {scorer.name!r}: {exc}") from None
            seconds.setdefault(pp, {})[scorer.name] = round(time.perf_counter() - t0, 3)
            if "plots" in result:
                result = {**result, "plots": [f"{pp}/{name}" for name in result["plots"]]}
            metrics.setdefault(pp, {})[scorer.name] = result
        return {"metrics": metrics, "score_seconds": seconds, "fit_seconds": fit_seconds}


def merge_into_record(record: dict[str, Any], evaluation: Evaluation, results: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the new metrics, their configs and their seconds added.

    Results computed with other options than the new ones are dropped (a postprocessor whose options
    changed loses its old metrics; a scorer whose options changed, its old results), so a record
    never mixes options; the record's config says which options its metrics were computed with.
    """
    old_config = record.get("config", {})
    wanted = evaluation.config()
    stale_pps = {pp for pp in results["metrics"] if old_config.get("postprocessors", {}).get(pp) not in
                 (None, wanted["postprocessors"][pp])}
    stale_scorers = {s for by_scorer in results["metrics"].values() for s in by_scorer
                     if old_config.get("scorers", {}).get(s) not in (None, wanted["scorers"][s])}

    def kept(table: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {pp: {s: v for s, v in by_scorer.items() if s not in stale_scorers}
                for pp, by_scorer in table.items() if pp not in stale_pps}

    cost = {**record.get("cost", {})}
    metrics, seconds = kept(record.get("metrics", {})), kept(cost.get("score_seconds", {}))
    for pp, by_scorer in results["metrics"].items():
        metrics.setdefault(pp, {}).update(by_scorer)
        seconds.setdefault(pp, {}).update(results["score_seconds"][pp])
    cost["score_seconds"] = seconds
    cost["postprocessor_fit_seconds"] = {**cost.get("postprocessor_fit_seconds", {}), **results["fit_seconds"]}
    config = {**old_config,
              "postprocessors": {**old_config.get("postprocessors", {}),
                                 **{pp: wanted["postprocessors"][pp] for pp in results["metrics"]}},
              "scorers": {**old_config.get("scorers", {}),
                          **{s: wanted["scorers"][s] for by_scorer in results["metrics"].values() for s in by_scorer}}}
    return {**record, "metrics": metrics, "config": config, "cost": cost}
