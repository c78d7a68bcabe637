"""The types and errors that plugins and the core exchange: the ground floor, importing nothing of osrbench
but its torch-free half, ``osrbench.specs``.

Conventions fixed here and used everywhere:

* Images travel as ``uint8`` tensors of shape (N, C, H, W) until a batch is taken; a model
  receives float batches in [0, 1] of shape (B, C, H, W) on the run's device and normalises them
  itself (``Split.mean`` / ``Split.std`` tell it how).
* Known classes are labelled 0..K-1 in the order the protocol file lists them.
* Scores: **higher = more likely known** (OpenOOD's convention; pytorch-ood uses the opposite).

The spec types and the error, which need no torch, live in ``osrbench.specs`` (the other half of the
ground floor, so that listing plugins imports no torch) and are re-exported here.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor, nn

from osrbench.specs import (  # noqa: F401 - re-exported
    FEATURES,
    INPUT_GRADIENTS,
    LINEAR_HEAD,
    LOGITS,
    AugmentationSpec,
    DataOptions,
    DatasetArrays,
    DatasetSpec,
    Executor,
    ExecutorSpec,
    MethodSpec,
    OsrbenchError,
    PostprocessorSpec,
    ProtocolSpec,
    ScorerSpec,
    deferred,
)


# --------------------------------------------------------------------------- protocols


@dataclass
class Split:
    """One known/unknown split of a protocol, fully in memory."""

    protocol: str
    index: int
    train_images: Tensor  # uint8 (N, C, H, W), known classes only
    train_labels: Tensor  # int64 (N,), 0..K-1
    test_images: Tensor  # uint8, known test samples
    test_labels: Tensor  # int64, 0..K-1
    unknown_images: Tensor  # uint8, unknown test samples
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    fingerprint: str  # hash of the cached arrays the split was cut from
    split_family: str
    hflip: bool = True  # whether horizontal flips keep the class (False for digits)
    unknown_class_names: list[str] = field(default_factory=list)
    unknown_labels: Tensor | None = None  # int64 index into unknown_class_names, if known
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> "Split":
        """The same split with its tensors moved to ``device`` (data stays uint8)."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        return dataclasses.replace(self, **moved)


# --------------------------------------------------------------------------- models


class Prediction(NamedTuple):
    labels: Tensor  # int64 (B,), predicted known class
    scores: Tensor  # float (B,), higher = more likely known


class OpenSetModel(nn.Module):
    """What a method's ``fit`` returns.

    ``predict`` is required: the predicted known class of each image (used by every postprocessor)
    and the model's own known-ness score (used where the method names no default postprocessor).
    The other methods are capabilities that postprocessors ask for by name (``LOGITS``, ``FEATURES``,
    ``LINEAR_HEAD``, ``INPUT_GRADIENTS``); a method lists those its model offers in
    ``MethodSpec.provides``, so a postprocessor the model cannot serve is refused before training.
    ``embed`` (a feature vector per image, for the linear probe) is optional (``has_embedding``).
    All take float images in [0, 1] of shape (B, C, H, W) on the run's device. The capability
    methods are not defined here, so a model's own attributes of those names (e.g. a ``features``
    submodule) are never shadowed; a model defines those it offers:

    * ``logits(x) -> (B, K)`` float32 class logits (``LOGITS``);
    * ``features(x) -> (B, D)`` float32 penultimate features (``FEATURES``);
    * ``linear_head() -> (W, b)`` with ``logits(x) == features(x) @ W.T + b`` (``LINEAR_HEAD``).
    """

    has_embedding: bool = False

    def predict(self, images: Tensor) -> Prediction:  # pragma: no cover - interface
        raise OsrbenchError(f"{type(self).__name__} does not implement predict()")

    def embed(self, images: Tensor) -> Tensor:  # pragma: no cover - interface
        raise OsrbenchError(f"{type(self).__name__} provides no embedding")



# --------------------------------------------------------------------------- augmentations


@dataclass
class MixedBatch:
    """The output of a batch augmentation.

    ``images[i]`` mixes sample ``i`` (share ``lam[i]``) with sample ``partner[i]`` of the same
    batch (share ``1 - lam[i]``). ``weight`` is the loss weight of this batch (1 for Mixup and
    CutMix; γ² for GradMix), a scalar or one value per sample.
    """

    images: Tensor
    labels: Tensor
    partner: Tensor
    lam: Tensor
    weight: Tensor

    def soft_targets(self, num_classes: int) -> Tensor:
        own = nn.functional.one_hot(self.labels, num_classes).float()
        other = own[self.partner]
        lam = self.lam.float().view(-1, 1)
        return lam * own + (1 - lam) * other


@dataclass
class AugmentContext:
    """What an augmentation may ask of the training method.

    ``saliency(images, labels, **options)`` returns class-activation maps (B, h, w) of the current
    model for the given batch; methods that can provide it set it, others leave it ``None``. The
    keyword options are an agreement between a method and the augmentations it serves (GradMix asks
    for ``kind="layercam"|"gradcam"`` and ``layers=(...)``).
    """

    num_classes: int
    saliency: Callable[..., Tensor] | None = None
    generator: torch.Generator | None = None


class Augmentation:
    """A training-time batch transform. Subclasses implement ``__call__``."""

    name: str = ""

    def __call__(self, images: Tensor, labels: Tensor, ctx: AugmentContext) -> MixedBatch:  # pragma: no cover
        raise OsrbenchError(f"augmentation {self.name!r} does not implement __call__")


# --------------------------------------------------------------------------- methods and scorers


# --------------------------------------------------------------------------- postprocessors


class TrainData(NamedTuple):
    """The known training data a postprocessor may fit statistics on (never the test sets)."""

    images: Tensor  # uint8 (N, C, H, W)
    labels: Tensor  # int64 (N,), 0..K-1
    num_classes: int


class Postprocessor(abc.ABC):
    """Turns a trained model into known-ness scores (higher = more likely known).

    ``fit`` (optional) collects statistics of the training data once per run (class means, a
    feature bank, a percentile); ``score`` maps a float batch in [0, 1] to a (B,) score tensor.
    """

    def fit(self, model: OpenSetModel, train: TrainData, ctx: "RunContext") -> None:
        """Nothing to fit by default."""

    @abc.abstractmethod
    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        """(B,) known-ness scores of a float batch in [0, 1]; every postprocessor defines it."""


class OwnScore(Postprocessor):
    """The model's own ``predict`` score: the postprocessor of methods that name none."""

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        return model.predict(images).scores


class ScoredModel(OpenSetModel):
    """A trained model seen through one postprocessor: what scorers receive.

    ``predict`` gives the model's labels and the postprocessor's scores; every other attribute
    (``embed``, ``has_embedding``, a method's own hooks) is the model's.
    """

    def __init__(self, model: OpenSetModel, postprocessor: Postprocessor):
        super().__init__()
        self.model = model
        self.postprocessor = postprocessor

    @property
    def has_embedding(self) -> bool:  # type: ignore[override]
        return self.model.has_embedding

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["model"], name)

    def predict(self, images: Tensor) -> Prediction:
        own = self.model.predict(images)
        scores = own.scores if type(self.postprocessor) is OwnScore else self.postprocessor.score(self.model, images)
        return Prediction(own.labels, scores)

    def embed(self, images: Tensor) -> Tensor:
        return self.model.embed(images)

    def predicted(self, images: Tensor, ctx: "RunContext", batch_size: int) -> Prediction | None:
        """The whole set ``images`` predicted in batches of ``batch_size``, if the harness already holds it
        (``predict_all`` asks first); None: predict it."""
        return None


def trained_model(model: OpenSetModel) -> OpenSetModel:
    """The method's own model behind a :class:`ScoredModel` (for scorers that need a method's model type)."""
    return model.model if isinstance(model, ScoredModel) else model


# --------------------------------------------------------------------------- run context


@dataclass
class RunContext:
    """Everything a method or scorer needs from the harness, and nothing more."""

    device: torch.device
    seed: int
    work_dir: Path  # per-run folder for checkpoints and artefacts (plots, derived architectures)
    progress: Any  # osrbench.progress.Progress
    augmentation: Augmentation | None = None
    data: DataOptions | None = None
    extra_record: dict[str, Any] = field(default_factory=dict)  # methods may add facts to the record
    # Training-health findings (a model that did not learn) stop the run; False keeps them as warnings
    # in the record (``--no-health-check``, for smoke tests of the plumbing).
    health_check: bool = True
    warnings: list[str] = field(default_factory=list)

    def unhealthy(self, error: OsrbenchError) -> None:
        """Raise ``error``, or with the health check off, keep its message as a warning of the record."""
        if self.health_check:
            raise error
        self.warnings.append(str(error))
        self.progress.warn(str(error))

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        """bf16 autocast on CUDA, a no-op elsewhere."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.cuda)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.cuda else torch.contiguous_format
