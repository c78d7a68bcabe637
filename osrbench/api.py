"""The public API that plugins import: a façade that only re-exports.

The types and errors live in :mod:`osrbench.types` (the ground floor); the helpers a plugin may rely
on, under stable names (docs/plugins.md describes each), live in the modules named below. No module
of the core imports this one (docs/architecture.md).
"""

from osrbench.batches import Minibatches, map_batches, predict_all, to_float
from osrbench.config import option
from osrbench.data import load_dataset
from osrbench.gpu_augment import standard_augment
from osrbench.metrics import threshold_at_tpr
from osrbench.training import NonFiniteLoss, train_epochs
from osrbench.types import (
    FEATURES,
    INPUT_GRADIENTS,
    LINEAR_HEAD,
    LOGITS,
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
    OwnScore,
    Postprocessor,
    PostprocessorSpec,
    Prediction,
    ProtocolSpec,
    RunContext,
    ScoredModel,
    ScorerSpec,
    Split,
    TrainData,
    trained_model,
)
from osrbench.specs import deferred

HELPERS = ("Minibatches", "NonFiniteLoss", "load_dataset", "map_batches", "option", "predict_all",
           "standard_augment", "threshold_at_tpr", "to_float", "train_epochs")

__all__ = [
    "FEATURES", "INPUT_GRADIENTS", "LINEAR_HEAD", "LOGITS", "Augmentation", "AugmentationSpec", "AugmentContext",
    "DataOptions", "DatasetArrays", "DatasetSpec", "Executor", "ExecutorSpec", "MethodSpec", "MixedBatch",
    "OpenSetModel", "OsrbenchError", "OwnScore", "Postprocessor", "PostprocessorSpec", "Prediction", "ProtocolSpec",
    "RunContext", "ScoredModel", "ScorerSpec", "Split", "TrainData", "deferred", "trained_model", *HELPERS,
]
