"""The types a plugin's spec module needs, importable without torch.

``osrbench list``, ``leaderboard`` and ``compare`` load every plugin's specs, so a spec module
imports only these (and its config dataclasses); it names its heavy functions (training, models,
scorers) with :class:`deferred`, which imports them on their first call. ``osrbench.api``
re-exports everything here next to the types that need torch.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

if TYPE_CHECKING:  # the annotations' Split, OpenSetModel, RunContext, Augmentation and Postprocessor are those
    import numpy as np  # of osrbench.types, which builds on this module (so it is not imported here)
    from torch import Tensor


class OsrbenchError(Exception):
    """An error caused by the user's input; the CLI prints its message as one line, no traceback."""


class deferred:
    """A callable standing for ``"package.module:name"``, imported on its first call.

    A plugin's spec names ``fit=deferred("my_plugin.train:fit")`` instead of importing ``fit``, so
    that loading the spec imports neither torch nor the plugin's models.
    """

    def __init__(self, target: str):
        module, _, name = target.partition(":")
        if not module or not name:
            raise ValueError(f"deferred({target!r}): expected 'package.module:name'")
        self.target = target

    def resolve(self) -> Callable[..., Any]:
        """The function or class itself (importing its module)."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"deferred({self.target!r})"


# --------------------------------------------------------------------------- data and protocols


@dataclass
class DataOptions:
    """Where datasets live, whether they may be downloaded, and which datasets are registered.

    ``datasets`` is the registry of ``DatasetSpec`` by name that the harness passes along; left
    ``None``, the installed plugins' datasets are used.
    """

    root: Path
    download: bool = False
    datasets: Any = field(default=None, repr=False, compare=False)


class DatasetArrays(NamedTuple):
    """A whole dataset as arrays: what a dataset reader returns and what ``<root>/<name>.npz`` holds."""

    x_train: np.ndarray  # uint8 (N, H, W, C), C = 1 or 3
    y_train: np.ndarray  # integer (N,), indices into classes
    x_test: np.ndarray  # uint8 (M, H, W, C)
    y_test: np.ndarray  # integer (M,)
    classes: list[str]  # class names, in label order


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset and how to read its originals.

    ``read(folder, download)`` returns the ``DatasetArrays`` from the originals in ``folder``
    (``<data-root>/<name>``), fetching them first when ``download`` is true, and raises
    ``FileNotFoundError`` / ``OSError`` / ``RuntimeError`` when they are missing. The harness
    validates the arrays, caches them as ``<data-root>/<name>.npz`` (unless ``cache`` is false:
    cheap, bundled data read each time) and reads that file from then on.
    """

    name: str
    description: str
    source: str  # where the originals come from, shown when they are missing
    read: Callable[[Path, bool], DatasetArrays]
    cache: bool = True


@dataclass
class ProtocolSpec:
    """A named protocol: a dataset and its known/unknown class splits."""

    name: str
    description: str
    n_splits: int
    split_family: str
    source: str
    version: str
    load: Callable[[int, DataOptions], "Split"]
    # The protocol file's content (protocols read from a file): records carry it, so a record made with
    # ``--protocol FILE`` can be reproduced where that file is not.
    definition: dict[str, Any] | None = field(default=None, repr=False)


# --------------------------------------------------------------------------- plugin specs

# Capabilities a model may offer to postprocessors (a method declares them in ``MethodSpec.provides``).
# Plugins may define their own capability names for their own postprocessors (e.g. GradMix's exemplars).
LOGITS = "logits"  # model.logits(x) -> (B, K) float32 class logits
FEATURES = "features"  # model.features(x) -> (B, D) float32 penultimate features
LINEAR_HEAD = "linear_head"  # model.linear_head() -> (W, b) with logits(x) == features(x) @ W.T + b
INPUT_GRADIENTS = "input_gradients"  # logits(x) is differentiable with respect to the input images


@dataclass
class AugmentationSpec:
    name: str
    description: str
    config: type  # a dataclass of options, settable with --set NAME.key=value
    build: Callable[[Any], Augmentation]


FIRST_METHOD_VERSION = "1"


@dataclass
class MethodSpec:
    name: str
    description: str
    config: type  # a dataclass of hyperparameters with the paper's defaults
    fit: Callable[[Split, Any, "RunContext"], OpenSetModel]
    accepts_augmentation: bool = True
    # The name a run is recorded under; lets a variant (e.g. a fixed architecture) be told apart.
    record_name: Callable[[Any], str] | None = None
    # The augmentation that is part of the method's definition (e.g. GradMix's mixed views): used when
    # --augment names none; another --augment NAME replaces it; --augment none is refused (the method
    # without it is another method, which the plugin names).
    default_augmentation: str | None = None
    # Capabilities the trained model offers to postprocessors (LOGITS, FEATURES, ...).
    provides: frozenset[str] = frozenset()
    # Postprocessors a run uses when --postprocessor is not given; empty = the model's own
    # ``predict`` score, recorded under the method's name.
    postprocessors: tuple[str, ...] = ()
    # Other names for this method with the postprocessors they stand for (e.g. msp -> ce with msp).
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Rebuilds a trained model from its saved state dict (``load(state, split, config, ctx)``), so that
    # finished runs can be scored again without training; None = the run keeps no weights.
    load: Callable[[dict[str, Tensor], Split, Any, "RunContext"], OpenSetModel] | None = None
    # The training epochs of the method's paper (or its authors' scripts), recorded with each run; the
    # leaderboard marks a run of fewer epochs "cut short". None: the method has no published schedule.
    paper_epochs: int | None = None
    # Bump it when a change of the plugin makes the same config train something else (e.g. a new default
    # recipe behind an ``auto`` option): records of another version are neither reused nor averaged with
    # this version's. Records made before versions were recorded count as the first version. A string, or
    # ``version(split) -> str`` for a method whose default recipe depends on the data (the baseline's recipe
    # per image size): then only the records of the splits whose recipe changed are retrained. Read it with
    # ``version_for``.
    version: str | Callable[[Split], str] = FIRST_METHOD_VERSION

    def version_for(self, split: Split) -> str:
        """The method's version for runs on ``split``: ``version``, or what it returns for the split."""
        version = self.version(split) if callable(self.version) else self.version
        if isinstance(version, str) and version:
            return version
        told = (f"version(split) returned {version!r} for split {split.index} of protocol {split.protocol!r}"
                if callable(self.version) else f"version is {version!r}")
        raise OsrbenchError(f"method {self.name!r}: its {told}, not a non-empty string; a bug in the method's plugin")


@dataclass
class ScorerSpec:
    name: str
    description: str
    config: type  # a dataclass of options, settable with --set NAME.key=value
    score: Callable[[OpenSetModel, Split, Any, "RunContext"], dict[str, Any]]
    # The names of the datasets the scorer reads for a config; loaded before training so that a
    # missing one stops the run before it trains.
    datasets: Callable[[Any], list[str]] | None = None
    # False for scorers that read only the model's labels or embedding, never the known-ness scores
    # (linear probe, corruption accuracy): they run once per trained model, and every postprocessor's
    # record entry holds that one result.
    reads_scores: bool = True


@dataclass
class PostprocessorSpec:
    name: str
    description: str  # with the paper it comes from
    config: type  # a dataclass of options, settable with --set NAME.key=value
    build: Callable[[Any], Postprocessor]
    requires: frozenset[str] = frozenset()  # capabilities the model must offer (LOGITS, FEATURES, ...)


# --------------------------------------------------------------------------- executors (osrbench sweep)


class Executor(abc.ABC):
    """Runs the jobs of a sweep somewhere (local processes, a Ray cluster, a batch queue ...).

    ``map(jobs, started)`` runs each ``osrbench.jobs.Job`` (one training, i.e. one record), calls
    ``started(job)`` when it begins, and yields one ``osrbench.jobs.JobResult`` per job as each
    finishes, in any order. A failing job becomes a result with status ``failed`` and never
    stops the others. Jobs write their records into the shared results dir themselves
    (``osrbench.jobs.run_job`` does all of it where the job runs). Used as a context manager.
    """

    @abc.abstractmethod
    def map(self, jobs: list[Any], started: Callable[[Any], None]) -> Any:
        """Yield one ``JobResult`` per job as each finishes."""

    def close(self) -> None:
        """Release what the executor holds (workers, a cluster connection)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ExecutorSpec:
    name: str
    description: str
    config: type  # a dataclass of options (--workers, --address, --executor-set key=value)
    create: Callable[[Any], Executor]
