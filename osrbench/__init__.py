"""osrbench: a benchmark harness for open-set recognition.

The package's top (docs/architecture.md): it re-exports the public API and makes the installed
plugins' datasets the default dataset registry of ``osrbench.data``. The public names are imported on
first use (PEP 562), so ``import osrbench`` and a plugin's spec module stay light: the spec types come
from ``osrbench.specs`` without torch, the model and run types from ``osrbench.api`` only when asked for.
"""

import os
from importlib import import_module

# torch's OpenMP threads wait for work by sleeping, not spinning (read when torch loads, so set before): on a
# CPU shared with other jobs, spinning threads took 3-4 times as long to train (the numbers do not change).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from osrbench import data as _data  # noqa: E402
from osrbench.hookspecs import hookimpl  # noqa: E402
from osrbench.plugins import installed_datasets as _installed_datasets  # noqa: E402
from osrbench.version import __version__  # noqa: E402

_data.use_installed_datasets(_installed_datasets)

_SPECS = ("AugmentationSpec", "DataOptions", "DatasetArrays", "DatasetSpec", "Executor", "ExecutorSpec", "MethodSpec",
          "OsrbenchError", "PostprocessorSpec", "ProtocolSpec", "ScorerSpec", "deferred")
_API = ("AugmentContext", "Augmentation", "MixedBatch", "OpenSetModel", "Postprocessor", "Prediction", "RunContext",
        "ScoredModel", "Split", "TrainData")
_HOME = {**{name: "osrbench.specs" for name in _SPECS}, **{name: "osrbench.api" for name in _API}}

__all__ = sorted([*_HOME, "hookimpl", "__version__"])


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'osrbench' has no attribute {name!r}")
    value = getattr(import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
