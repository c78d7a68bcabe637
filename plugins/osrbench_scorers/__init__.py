"""Built-in scorers. ``osr``: AUROC, OSCR, macro-F1 at 95% known TPR, closed-set accuracy."""

from __future__ import annotations

from dataclasses import dataclass, field

import osrbench
from osrbench import OpenSetModel, OsrbenchError, RunContext, ScorerSpec, Split
from osrbench import metrics
from osrbench.batches import predict_all


@dataclass
class OSRConfig:
    tpr: float = field(default=0.95, metadata={"help": "share of known test samples kept when thresholding for macro-F1"})
    batch_size: int = field(default=1024, metadata={"help": "inference batch size"})

    def validate(self) -> None:
        if not 0 < self.tpr <= 1:
            raise OsrbenchError(f"--set osr.tpr={self.tpr}: must lie in (0, 1]")


def score_osr(model: OpenSetModel, split: Split, config: OSRConfig, ctx: RunContext) -> dict:
    known = predict_all(model, split.test_images, ctx, config.batch_size)
    unknown = predict_all(model, split.unknown_images, ctx, config.batch_size)
    return {
        "auroc": metrics.auroc(known.scores, unknown.scores),
        "oscr": metrics.oscr(known.scores, known.labels, split.test_labels, unknown.scores),
        "macro_f1": metrics.macro_f1_at_tpr(known.scores, known.labels, split.test_labels, unknown.scores,
                                            unknown.labels, split.num_classes, config.tpr),
        "accuracy": metrics.closed_set_accuracy(known.labels, split.test_labels),
    }


@osrbench.hookimpl
def osrbench_scorers():
    return [ScorerSpec(name="osr", description="open-set recognition: AUROC, OSCR, macro-F1 at 95% TPR, closed-set accuracy",
                       config=OSRConfig, score=score_osr)]
