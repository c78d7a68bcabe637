"""The ``osrbench`` command line: run, score, list, leaderboard, compare, reproduce, report, sweep."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import traceback
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from osrbench.specs import DataOptions, OsrbenchError
from osrbench.config import describe_fields, parse_overrides
from osrbench.data import DEFAULT_ROOT
from osrbench.plugins import KINDS, failure_line, load_plugins
from osrbench.progress import console_for, titled
from osrbench.signals import Terminated, terminate_like_interrupt
from osrbench.version import __version__

console = console_for()  # stdout: no wrapped table cells when it is a log or a pipe


def _ints(text: str, expected: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def _splits(text: str) -> list[int] | None:
    return None if text == "all" else _ints(text, "a split index, a comma list or 'all'")


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="train a method on a protocol and score it; stores one record per split",
                       description="Train METHOD on each split of PROTOCOL, score it, print a table and store "
                                   "one JSON record per split. With no options: the ce baseline (scored by "
                                   "msp and mls) on the bundled digits protocol, on the CPU in well under a "
                                   "minute. A split whose record exists is not trained again: postprocessors "
                                   "and scorers it lacks are scored from the run's kept weights.")
    p.add_argument("--method", default="ce", help="training method (see `osrbench list methods`; default ce)")
    p.add_argument("--protocol", default="digits", metavar="NAME|FILE.json",
                   help="protocol: a name (see `osrbench list protocols`; $OSRBENCH_PROTOCOLS adds folders of "
                        "protocol files, separated by ':') or the path of a protocol file (default digits)")
    p.add_argument("--augment", default=None, metavar="NAME",
                   help="training-time batch augmentation (see `osrbench list augmentations`; default: the "
                        "method's own if `osrbench list methods` names one, else none; none = no augmentation)")
    p.add_argument("--scorer", default="osr", metavar="NAME[,NAME]",
                   help="comma-separated scorers (see `osrbench list scorers`; default osr)")
    _add_postprocessor(p, "the method's defaults (ce: msp,mls)")
    p.add_argument("--split", default="all", type=_splits, metavar="N|N,M|all", help="which splits to run (default all)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--parallel", default=None, type=_parallel, metavar="N|auto",
                   help="train up to N splits at once, each in its own process on the same GPU(s); auto (the "
                        "default): on CUDA every split at once, up to 5 and 8 GiB of free GPU memory per training "
                        "(one training leaves part of a large GPU idle), on the CPU one after another")
    _add_run_options(p)
    p.add_argument("--no-rerun", action="store_true",
                   help="where a split's record was made from other inputs (options, protocol version, data, "
                        "threads ...), stop with an error naming what changed instead of running it again")


def _add_run_options(p) -> None:
    """The options that ``run`` and ``sweep`` share: where data and records live, --set, --force."""
    p.add_argument("--data-root", type=Path, default=DEFAULT_ROOT,
                   help=f"folder of the dataset cache and originals (default $OSRBENCH_DATA or {DEFAULT_ROOT})")
    p.add_argument("--download", action="store_true", help="download missing datasets (needs internet)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default auto: cuda when available)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="where records go (default ./results)")
    p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override a method option (KEY=VALUE) or an augmentation/scorer option (NAME.KEY=VALUE); "
                        "takes several pairs and may be repeated; `osrbench list -v` shows every key")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="smoke run: at most N training and N test images per class (the first N of each class); "
                        "recorded, stored under a label of its own and marked [limit N] on the leaderboard")
    p.add_argument("--force", action="store_true", help="rerun splits whose record already exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    p.add_argument("--no-health-check", dest="health_check", action="store_false",
                   help="record a model that did not learn (accuracy near chance, loss at chance level) with a "
                        "warning instead of stopping: for smoke tests of the plumbing, not for results")


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected one name or a comma list of names, got {text!r}")
    return names


def _seeds(text: str) -> list[int]:
    return _ints(text, "a seed or a comma list of seeds")


def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid of methods x augmentations x protocols x splits x seeds in parallel",
                       description="Expand a grid (comma lists, or a TOML --grid file) into one job per record, "
                                   "skip finished records, run the rest through an executor (local worker "
                                   "processes, or Ray) with one progress bar, and end with the leaderboard of "
                                   "the grid. A failed job is reported and does not stop the others; the exit "
                                   "status is 1 if any failed.")
    p.add_argument("--grid", type=Path, default=None, metavar="FILE",
                   help="TOML grid file (keys method, augment, protocol, split, seed, scorer, postprocessor, set; "
                        "several grids as [[grid]] tables) instead of the list options below")
    p.add_argument("--method", type=_names, default=None, metavar="A,B", help="methods (default ce)")
    p.add_argument("--augment", type=_names, default=None, metavar="none,A",
                   help="augmentations, 'none' for a run without one (default none)")
    p.add_argument("--protocol", type=_names, default=None, metavar="P,Q", help="protocols (default digits)")
    p.add_argument("--scorer", type=_names, default=None, metavar="NAME[,NAME]",
                   help="scorers every run gets (default osr)")
    _add_postprocessor(p, "each method's defaults (ce: msp,mls)")
    p.add_argument("--split", type=_splits, default=None, metavar="N|N,M|all", help="splits (default all)")
    p.add_argument("--seed", type=_seeds, default=None, metavar="N|N,M", help="seeds (default 0)")
    _add_run_options(p)
    p.add_argument("--executor", default="local", metavar="NAME",
                   help="where jobs run: local (worker processes here) or ray (a Ray cluster); "
                        "`osrbench list executors` shows the installed ones (default local)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="jobs at a time (local default: one per visible GPU, 1 without a GPU; "
                        "ray default: the cluster's GPUs, else CPUs)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="local executor: CPU threads per job (default: those of `osrbench run`, whose records "
                        "CPU jobs then equal; a smaller count shares the cores among the workers)")
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="ray executor: a running cluster's address (default: start a Ray on this machine)")
    p.add_argument("--executor-set", dest="executor_overrides", action="extend", nargs="+", default=[],
                   metavar="KEY=VALUE", help="any other executor option (`osrbench list executors -v`)")


def _add_postprocessor(p, default: str) -> None:
    p.add_argument("--postprocessor", default=None, type=_names, metavar="NAME[,NAME]",
                   help="comma-separated postprocessors that turn the trained model into known-ness scores, each "
                        f"evaluated with every scorer from one training (see `osrbench list postprocessors`; "
                        f"default {default})")


def _add_score(sub) -> None:
    p = sub.add_parser("score", help="add postprocessors or scorers to finished runs from their kept weights",
                       description="Score finished runs again from the weights kept in their run folders "
                                   "(model.pt), without training, and add the results to their records. "
                                   "Left out, --postprocessor and --scorer default to those a record already has; "
                                   "results it already has with the same options are kept unless --force.")
    p.add_argument("records", nargs="+", type=Path, metavar="RECORD",
                   help="records (results/PROTOCOL/LABEL/splitN-seedS.json) or their run folders")
    _add_postprocessor(p, "the record's own")
    p.add_argument("--scorer", default=None, type=_names, metavar="NAME[,NAME]",
                   help="comma-separated scorers (see `osrbench list scorers`; default the record's own)")
    p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="NAME.KEY=VALUE",
                   help="a postprocessor or scorer option (training options cannot change)")
    p.add_argument("--data-root", type=Path, default=DEFAULT_ROOT,
                   help=f"folder of the dataset cache (default $OSRBENCH_DATA or {DEFAULT_ROOT})")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default auto)")
    p.add_argument("--force", action="store_true", help="score again what a record already has")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")


def _add_list(sub) -> None:
    p = sub.add_parser("list", help="list installed plugins", description="List installed plugins with the "
                       "distribution that provides each; plugins and protocol files that failed to load are "
                       "reported with their error, names registered twice with both sources.")
    p.add_argument("kind", nargs="?", choices=list(KINDS), help="only this kind (default all)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show each plugin's options (--set keys) and the file each protocol was read from")


def _add_record_options(p, protocol_help: str, metric_help: str) -> None:
    """The options that ``leaderboard`` and ``compare`` share: which records, protocol and metrics."""
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="records to read (default ./results)")
    p.add_argument("--protocol", default=None, help=protocol_help)
    p.add_argument("--metric", action="append", default=None, metavar="SCORER.KEY",
                   help=f"{metric_help} (repeatable; default osr.auroc, osr.oscr, osr.macro_f1, osr.accuracy)")
    p.add_argument("--strict", action="store_true",
                   help="fail on a damaged record instead of leaving it out with a warning")


def _add_leaderboard(sub) -> None:
    p = sub.add_parser("leaderboard", help="build the leaderboard table from stored records",
                       description="Build a table from the records alone: rows = method (+augmentation), "
                                   "columns = protocols, cells = mean ± 95% Student t confidence interval over runs "
                                   "(splits × seeds) with the number of runs n, plus cost columns.")
    _add_record_options(p, "only this protocol", "metric tables to show")
    p.add_argument("--format", choices=["md", "csv", "html"], default="md",
                   help="output format (default md; html: one self-contained page with plots)")
    p.add_argument("--output", type=Path, default=None, help="write to this file instead of printing")
    p.add_argument("--write-tables", type=Path, default=None, metavar="DIR",
                   help="write DIR/leaderboard.md, DIR/leaderboard.csv and DIR/leaderboard.html "
                        "(how leaderboards/ is regenerated)")


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="compare two leaderboard rows run by run (paired statistics)",
                       description="Pair the runs of rows A and B (e.g. mls and msp) on one protocol by data copy, "
                                   "split and seed, and report for each metric the mean difference A − B, its 95% "
                                   "Student t confidence interval, a paired t-test and a Wilcoxon signed-rank test. "
                                   "Paired and unpaired runs are listed.")
    p.add_argument("a", metavar="A", help="a leaderboard row (the method column of `osrbench leaderboard`)")
    p.add_argument("b", metavar="B", help="the row to compare with")
    _add_record_options(p, "the protocol (default: the one protocol both rows have)", "metrics to compare")


def _add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="rerun a record's experiment and compare its metrics with the record's",
                       description="Rerun the method, augmentation, scorers, protocol, split, seed and full stored "
                                   "config of RECORD into a scratch results dir, print every metric of the record "
                                   "and of the rerun side by side with the difference, and exit with status 1 if any "
                                   "differs by more than --tol (or the rerun read a different copy of the data).")
    p.add_argument("record", type=Path, metavar="RECORD", help="a record (results/PROTOCOL/LABEL/splitN-seedS.json)")
    p.add_argument("--tol", type=float, default=0.0,
                   help="largest allowed |rerun − record| of a metric (default 0: exact, which CPU runs achieve; "
                        "GPU training is not bitwise deterministic, so pass e.g. --tol 0.01 there)")
    p.add_argument("--results-dir", type=Path, default=None,
                   help="where the rerun's record goes and stays (default: a temporary folder, removed at the end)")
    p.add_argument("--data-root", type=Path, default=DEFAULT_ROOT,
                   help=f"folder of the dataset cache and originals (default $OSRBENCH_DATA or {DEFAULT_ROOT})")
    p.add_argument("--download", action="store_true", help="download missing datasets (needs internet)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda, cuda:N or auto (default: the kind of device the record was made on)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="print one run's metrics and list its plots",
                       description="Print every metric of one run (all scorers) and list the PNG plots in its folder.")
    p.add_argument("run", type=Path, metavar="RUN", help="a record (results/PROTOCOL/LABEL/splitN-seedS.json) or its run folder")


def _with_debug_flag(sub) -> None:
    """Let ``--debug`` also follow the command (``osrbench run --debug``)."""
    add_parser = sub.add_parser

    def add_with_debug(*args, **kwargs):
        p = add_parser(*args, **kwargs)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error (also OSRBENCH_DEBUG=1)")
        return p

    sub.add_parser = add_with_debug


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="osrbench", description="A benchmark harness for open-set recognition.")
    parser.add_argument("--version", action="version", version=f"osrbench {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (also OSRBENCH_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _with_debug_flag(sub)
    _add_run(sub)
    _add_score(sub)
    _add_list(sub)
    _add_leaderboard(sub)
    _add_compare(sub)
    _add_reproduce(sub)
    _add_report(sub)
    _add_sweep(sub)
    return parser


def _request(args, **fields):
    from osrbench.runner import RunRequest

    return RunRequest(data=DataOptions(args.data_root, args.download), device=args.device,
                      results_dir=args.results_dir, overrides=parse_overrides(args.overrides), force=args.force,
                      quiet=args.quiet, limit=args.limit, health_check=args.health_check, **fields)


def _parallel(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of trainings >= 1 or auto, got {value!r}")
    return n


AUTO_PARALLEL_MAX = 5
AUTO_PARALLEL_GIB = 8  # free GPU memory asked per training: an 80 GB card takes all five splits (16 GiB left one for a second round)


def _parallel_trainings(requested: int | None, run) -> int:
    """How many of ``run``'s splits to train at once: --parallel N, or on CUDA all, within the limits above."""
    if requested is not None:
        return requested
    if run.device.type != "cuda":
        return 1
    import torch

    free, _ = torch.cuda.mem_get_info(run.device)
    return max(1, min(AUTO_PARALLEL_MAX, free // (AUTO_PARALLEL_GIB * 2**30)))


def _train_side_by_side(request, plugins, workers: int) -> None:
    """The run's splits as jobs of the local executor, ``workers`` at a time on this machine's GPU(s)."""
    from osrbench.config import build_config
    from osrbench.progress import Progress
    from osrbench.sweep import execute, plan, splits_of_run

    work = plan([splits_of_run(request)], request, plugins)
    spec = plugins.executors.get("local")
    with spec.create(build_config(spec.config, {"workers": str(workers)}, "executor 'local'")) as executor:
        results = execute(work, executor, Progress(quiet=request.quiet))
    # A job whose record was written failed only in some scorers: the run's table reports those.
    failed = [r for r in results if r.status == "failed" and not r.job.record.exists()]
    if failed:
        raise OsrbenchError(f"{failed[0].job.title}: {failed[0].message}"
                            + (f" (and {len(failed) - 1} more failed split(s))" if len(failed) > 1 else ""))


def cmd_run(args) -> int:
    from osrbench.runner import Run
    from osrbench.summary import results_table

    request = _request(args, method=args.method, protocol=args.protocol, augment=args.augment,
                       scorers=_names(args.scorer), postprocessors=args.postprocessor, splits=args.split,
                       seed=args.seed, no_rerun=args.no_rerun)
    run = Run(request)
    workers = min(_parallel_trainings(args.parallel, run), len(run.splits))
    if workers > 1:
        _train_side_by_side(request, run.plugins, workers)
        run = Run(dataclasses.replace(request, force=False), run.plugins)  # now reads the records just written
        run.compare_threads = False  # by this command's workers, with their share of the CPU threads
    records = run.execute()
    limited = f" [limit {args.limit}]" if args.limit else ""
    console.print(results_table(records, title=escape(f"{run.label} on {run.protocol.name}{limited}")))
    console.print(f"records: {escape(str(run.path(run.splits[0]).parent))}")
    return _report_failures(records)


def _report_failures(records: list[dict]) -> int:
    """One line per failed postprocessor x scorer of ``records``; the exit status (1 if any failed)."""
    from osrbench.evaluation import failure_lines

    lines = [line for record in records for line in failure_lines(record)]
    for line in lines:
        Console(stderr=True, soft_wrap=True).print(f"[red]failed:[/red] {escape(line)} (rerun to score it again)",
                                                   highlight=False)
    return 1 if lines else 0


def cmd_score(args) -> int:
    from osrbench.progress import Progress
    from osrbench.report import resolve_run
    from osrbench.runner import score_record
    from osrbench.summary import results_table

    progress = Progress(quiet=args.quiet)
    records = [score_record(resolve_run(path)[0], args.postprocessor, args.scorer, parse_overrides(args.overrides),
                            DataOptions(args.data_root), args.device, args.force, progress=progress)
               for path in args.records]
    console.print(results_table(records, title="scored runs"))
    return _report_failures(records)


def _description(spec) -> str:
    text = spec.description
    if getattr(spec, "default_augmentation", None):
        text = f"{text} [default augmentation: {spec.default_augmentation}]"
    requires = getattr(spec, "requires", None)
    return f"{text} (needs {', '.join(sorted(requires))})" if requires else text


def _list_verbose(kind: str, registry) -> None:
    """One block per plugin: name and description, where it comes from, one line per option (a table would pad
    every line to the longest option)."""
    console.print(f"[bold]{kind}[/bold]")
    for entry in registry:
        console.print(f"  [bold]{escape(entry.spec.name)}[/bold]: {escape(_description(entry.spec))}", highlight=False)
        console.print(f"    from {escape(entry.origin)}", highlight=False)
        config = getattr(entry.spec, "config", None)
        for name, typ, default, help_text in describe_fields(config) if config is not None else []:
            console.print(f"    {escape(name)} ({escape(typ)}, default {escape(str(default))}) {escape(help_text)}",
                          highlight=False)


def cmd_list(args) -> int:
    plugins = load_plugins()
    for kind in [args.kind] if args.kind else list(KINDS):
        if args.verbose:
            _list_verbose(kind, plugins.registry(kind))
            continue
        table = Table()
        table.add_column("name", style="bold")
        table.add_column("description")
        table.add_column("provided by")
        for entry in plugins.registry(kind):
            table.add_row(escape(entry.spec.name), escape(_description(entry.spec)),
                          escape(f"{entry.plugin} ({entry.distribution})"))
        console.print(titled(kind, table))
    for line in plugins.clashes():
        console.print(f"[red]clash:[/red] {escape(line)}; uninstall, remove or rename one of them", highlight=False)
    for source, error in sorted(plugins.failures.items()):
        console.print(f"[red]{escape(failure_line(source, error))}[/red]", highlight=False)
    return 0


def cmd_leaderboard(args) -> int:
    from osrbench.leaderboard import (
        HEADLINE_METRICS,
        build_leaderboard,
        render,
        write_tables,
    )

    metrics = tuple(args.metric) if args.metric else HEADLINE_METRICS
    table = build_leaderboard(args.results_dir, protocol=args.protocol, metrics=metrics, strict=args.strict)
    if table["damaged"]:
        warn = Console(stderr=True, soft_wrap=True)
        warn.print(f"[yellow]warning:[/yellow] left out {len(table['damaged'])} damaged record(s) "
                   "(--strict makes this an error):", highlight=False)
        for damaged in table["damaged"]:
            warn.print(f"  {escape(str(damaged.path))}: {escape(damaged.reason)}", highlight=False)
    if args.write_tables:
        with _writing("--write-tables", args.write_tables):
            paths = write_tables(table, args.write_tables)
        for path in paths:
            console.print(f"wrote {escape(str(path))}")
        return 0
    text = render(table, args.format)
    if args.output:
        with _writing("--output", args.output):
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text)
        console.print(f"wrote {escape(str(args.output))}")
    else:
        print(text)
        sys.stdout.flush()  # a closed pipe (`| head`) shows here, inside main's handler
    return 0


@contextmanager
def _writing(option: str, path: Path):
    """A failed write of ``path`` (a folder, a full disk, no permission) as one line naming ``option``."""
    try:
        yield
    except OSError as exc:
        raise OsrbenchError(f"{option} {path}: cannot write there ({exc.strerror or exc}); name a file (a "
                            "folder for --write-tables) you can write") from None


def cmd_compare(args) -> int:
    from osrbench.compare import compare, comparison_table, pairing_lines
    from osrbench.leaderboard import HEADLINE_METRICS

    metrics = tuple(args.metric) if args.metric else HEADLINE_METRICS
    result = compare(args.results_dir, args.a, args.b, args.protocol, metrics, args.strict)
    for line in pairing_lines(result):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(comparison_table(result))
    return 0


def cmd_reproduce(args) -> int:
    if args.results_dir is not None:
        return _reproduce_into(args, args.results_dir, f"rerun record: {args.results_dir}")
    with tempfile.TemporaryDirectory(prefix="osrbench-reproduce-") as scratch:  # removed also after a failure
        return _reproduce_into(args, Path(scratch), "rerun record: removed with its scratch folder (--results-dir "
                                                    "DIR keeps it)")


def _reproduce_into(args, results_dir: Path, where: str) -> int:
    from osrbench.reproduce import provenance_lines, reproduce, reproduction_table

    result = reproduce(args.record, results_dir, DataOptions(args.data_root, args.download), args.device, args.tol,
                       args.quiet)
    console.print(reproduction_table(result))
    for line in [*provenance_lines(result), where]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if result.failures or not result.same_data:
        why = [f"{len(result.failures)} metric(s) differ by more than {args.tol:g}"] if result.failures else []
        why += [] if result.same_data else ["the data copy differs"]
        console.print(f"[red]not reproduced:[/red] {'; '.join(why)}", highlight=False)
        return 1
    console.print(f"reproduced: all {len(result.rows)} metrics within {args.tol:g}", highlight=False)
    return 0


def cmd_report(args) -> int:
    from osrbench.report import report

    report(args.run, console)
    return 0


GRID_OPTIONS = {"method": "methods", "augment": "augments", "protocol": "protocols", "scorer": "scorers",
                "postprocessor": "postprocessors", "split": "splits", "seed": "seeds"}
EXECUTOR_OPTIONS = ("workers", "threads", "address")


def _grids(args) -> list:
    from osrbench.sweep import Grid, augmentations, read_grid_file

    given = {opt: getattr(args, opt) for opt in GRID_OPTIONS if getattr(args, opt) is not None}
    if args.grid is not None:
        if given:
            raise OsrbenchError(f"--grid and --{next(iter(given))}: give the grid either as a file or as options")
        return read_grid_file(args.grid)
    if "augment" in given:
        given["augment"] = augmentations(given["augment"])
    return [Grid(**{GRID_OPTIONS[opt]: value for opt, value in given.items()})]


def _executor(args, plugins):
    from osrbench.config import build_config

    spec = plugins.executors.get(args.executor)
    options = parse_overrides(args.executor_overrides)
    keys = {f.name for f in dataclasses.fields(spec.config)}
    for key in EXECUTOR_OPTIONS:
        value = getattr(args, key)
        if value is None:
            continue
        if key not in keys:
            raise OsrbenchError(f"--{key}: executor {spec.name!r} has no such option; its options: "
                                f"{', '.join(sorted(keys)) or 'none'}")
        options[key] = str(value)
    return spec.create(build_config(spec.config, options, f"executor {spec.name!r}"))


def cmd_sweep(args) -> int:
    from osrbench.leaderboard import build_leaderboard, render
    from osrbench.progress import Progress
    from osrbench.sweep import execute, plan, summary

    plugins = load_plugins()
    work = plan(_grids(args), _request(args), plugins)
    with _executor(args, plugins) as executor:
        results = execute(work, executor, Progress(quiet=args.quiet))
    failed = [r for r in results if r.status == "failed"]
    console.print(summary(work, results))
    for r in failed:
        console.print(f"[red]failed:[/red] {escape(r.job.title)}: {escape(r.message)}", soft_wrap=True)
    try:
        board = build_leaderboard(args.results_dir, only=work.cells)
        board["plots"] = board["plots"].iloc[:0]  # plot links belong in a written leaderboard, not the terminal
        print(render(board, "md"))
    except OsrbenchError as exc:
        console.print(f"no leaderboard: {escape(str(exc))}")
    return 1 if failed else 0


COMMANDS = {"run": cmd_run, "score": cmd_score, "list": cmd_list, "leaderboard": cmd_leaderboard,
            "compare": cmd_compare, "reproduce": cmd_reproduce, "report": cmd_report, "sweep": cmd_sweep}


def one_line(message: str) -> str:
    """An error message as one line: line breaks (say, in a value the user typed) are shown as ``\\n``."""
    return message.strip().replace("\r", "\\r").replace("\n", "\\n")


def _error_line(message: str) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(one_line(message))}", highlight=False)


def _crash_report() -> Path:
    """Write the current exception's traceback to a file in the temp folder; returns its path."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(tempfile.gettempdir()) / f"osrbench-error-{stamp}-{os.getpid()}.txt"
    path.write_text(f"osrbench {__version__}, argv {sys.argv}\n\n{traceback.format_exc()}")
    return path


def _quiet_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the interpreter's final flush stays silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("OSRBENCH_DEBUG", "") not in ("", "0")
    if args.command is None:  # `osrbench` alone: show what there is to do
        parser.print_help()
        return 0
    terminate_like_interrupt()
    try:
        return COMMANDS[args.command](args)
    except OsrbenchError as exc:
        if debug:
            traceback.print_exc()
        _error_line(str(exc))
        return 2
    except KeyboardInterrupt as exc:
        Console(stderr=True, soft_wrap=True).print(
            "interrupted: no record for the unfinished split; finished splits are stored; rerun the same command "
            "to resume from the last checkpoint", highlight=False)
        return Terminated.exit_status if isinstance(exc, Terminated) else 130
    except BrokenPipeError:  # the reader went away (`osrbench leaderboard | head -1`): end quietly
        _quiet_stdout()
        return 1
    except Exception as exc:  # a bug in osrbench or a plugin: one line here, the traceback in a file
        if debug:
            raise
        try:
            where = f"full report in {_crash_report()}"
        except OSError:
            where = "rerun with --debug for the traceback"
        _error_line(f"unexpected {type(exc).__name__}: {exc} (a bug in osrbench or a plugin); {where}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
