"""osrbench: a benchmark harness for open-set recognition.

The package's top (docs/architecture.md): it re-exports the public API and makes the installed
plugins' datasets the default dataset registry of ``osrbench.data``.
"""

from osrbench import data as _data
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
from osrbench.plugins import installed_datasets as _installed_datasets
from osrbench.version import __version__

_data.use_installed_datasets(_installed_datasets)

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
