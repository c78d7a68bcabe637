"""Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) as batch augmentations.

One mixing share λ ~ Beta(α, α) and one random pairing per minibatch, as in both papers.

* ``mixup``: x̃ = λ·x + (1 − λ)·x_π.
* ``cutmix``: a box of side ratio √(1 − λ) at a uniformly random position fully inside the image
  is copied from x_π; λ becomes the share of pixels kept.

``MixedBatch.weight`` (``--set NAME.weight=...``): ``one`` (default; a classifier trains on the mixed
batch instead of the clean one), ``replaced`` (1 − λ, the share replaced: the GradMix spec's
convention when the mixed views are an extra SimCLR term, as in the paper's Fig. 2), or ``kept``
(λ, the GradMix authors' code).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import osrbench
from osrbench import AugmentationSpec, OsrbenchError, deferred

WEIGHTS = ("one", "replaced", "kept")


@dataclass
class MixingConfig:
    alpha: float = field(default=1.0, metadata={"help": "λ ~ Beta(α, α); larger α mixes more strongly"})
    weight: str = field(default="one", metadata={"help": "loss weight of the mixed batch: one, replaced (1 − λ) "
                                                         "or kept (λ)"})

    def validate(self) -> None:
        if self.alpha <= 0:
            raise OsrbenchError(f"--set alpha={self.alpha}: α must be positive")
        if self.weight not in WEIGHTS:
            raise OsrbenchError(f"--set weight={self.weight}: choose {', '.join(WEIGHTS)}")


@osrbench.hookimpl
def osrbench_augmentations():
    return [
        AugmentationSpec(name="mixup", description="Mixup: convex combination of image pairs, λ ~ Beta(α, α)",
                         config=MixingConfig, build=deferred("osrbench_mixing.mixing:build_mixup")),
        AugmentationSpec(name="cutmix", description="CutMix: a box of another image pasted in, area share "
                                                    "1 − λ, λ ~ Beta(α, α)", config=MixingConfig,
                         build=deferred("osrbench_mixing.mixing:build_cutmix")),
    ]
