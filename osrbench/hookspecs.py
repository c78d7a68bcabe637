"""pluggy hook specifications: the kinds of plugin, plus optional run observers.

A plugin is a module (or object) named in the ``osrbench`` entry-point group that implements any
of these hooks with ``@osrbench.hookimpl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy

from osrbench.specs import (
    AugmentationSpec,
    DatasetSpec,
    ExecutorSpec,
    MethodSpec,
    PostprocessorSpec,
    ProtocolSpec,
    ScorerSpec,
)

PROJECT = "osrbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def osrbench_protocols() -> list[ProtocolSpec]:
    """Return the protocols (datasets with known/unknown splits) this plugin provides."""


@hookspec
def osrbench_protocol_files() -> list[Path]:
    """Return protocol JSON files, or folders of them, that this plugin provides.

    The core reads and validates each file on its own: a malformed file is reported and every
    other protocol keeps working.
    """


@hookspec
def osrbench_datasets() -> list[DatasetSpec]:
    """Return the datasets (name -> reader of the original files) this plugin provides."""


@hookspec
def osrbench_methods() -> list[MethodSpec]:
    """Return the training methods this plugin provides."""


@hookspec
def osrbench_augmentations() -> list[AugmentationSpec]:
    """Return the training-time batch augmentations this plugin provides."""


@hookspec
def osrbench_scorers() -> list[ScorerSpec]:
    """Return the evaluators (trained model -> metrics) this plugin provides."""


@hookspec
def osrbench_executors() -> list[ExecutorSpec]:
    """Return the executors (where the jobs of ``osrbench sweep`` run) this plugin provides."""


@hookspec
def osrbench_postprocessors() -> list[PostprocessorSpec]:
    """Return the postprocessors (trained model -> known-ness scores, e.g. energy, KNN) this plugin provides."""


@hookspec
def osrbench_run_started(run: dict[str, Any]) -> None:
    """Called before a run trains; ``run`` holds its names and config (observers, e.g. loggers)."""


@hookspec
def osrbench_run_finished(record: dict[str, Any]) -> None:
    """Called after a run's record has been written."""
