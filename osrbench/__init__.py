"""osrbench: a benchmark harness for open-set recognition."""

from importlib.metadata import PackageNotFoundError, version

from osrbench.api import (
    Augmentation,
    AugmentationSpec,
    AugmentContext,
    DataOptions,
    DatasetArrays,
    DatasetSpec,
    Executor,
    ExecutorSpec,
    MethodSpec,
    MixedBatch,
    OpenSetModel,
    OsrbenchError,
    Postprocessor,
    PostprocessorSpec,
    Prediction,
    ProtocolSpec,
    RunContext,
    ScoredModel,
    ScorerSpec,
    Split,
    TrainData,
)
from osrbench.hookspecs import hookimpl

try:
    __version__ = version("osrbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AugmentContext",
    "Augmentation",
    "AugmentationSpec",
    "DataOptions",
    "DatasetArrays",
    "DatasetSpec",
    "Executor",
    "ExecutorSpec",
    "MethodSpec",
    "MixedBatch",
    "OpenSetModel",
    "OsrbenchError",
    "Postprocessor",
    "PostprocessorSpec",
    "Prediction",
    "ProtocolSpec",
    "RunContext",
    "ScoredModel",
    "ScorerSpec",
    "Split",
    "TrainData",
    "hookimpl",
    "__version__",
]
