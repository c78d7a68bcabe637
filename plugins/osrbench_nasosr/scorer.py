"""Scorer ``nas-osr-rule``: the metrics of the NAS-OSR test rule itself (thresholds fitted on training data).

The ``osr`` scorer thresholds the continuous score at 95% known *test* TPR; this one applies the
paper's own decision (τ_rec from training data, the Gaussian level t) and reports the macro-F1 in
the authors' form (comparable with the paper's Table 2) and scikit-learn's, the rejection rates,
and the AUROC of each of the two rejection statistics on its own.
"""

from __future__ import annotations

import torch

from osrbench import OpenSetModel, OsrbenchError, RunContext, Split
from osrbench.api import trained_model
from osrbench.batches import map_batches
from osrbench.metrics import auroc
from osrbench_nasosr.config import RuleScorerConfig
from osrbench_nasosr.model import NasOsrModel
from osrbench_nasosr.rejection_rule import decide, open_set_f1


def _parts(model: NasOsrModel, images: torch.Tensor, ctx: RunContext, batch_size: int):
    model.eval()
    return map_batches(model.score_parts, images, ctx, batch_size)


def score_rule(model: OpenSetModel, split: Split, config: RuleScorerConfig, ctx: RunContext) -> dict:
    model = trained_model(model)
    if not isinstance(model, NasOsrModel):
        raise OsrbenchError("scorer nas-osr-rule needs a model of method nas-osr; use --scorer osr for other methods")
    k_labels, k_rec, k_gauss = _parts(model, split.test_images, ctx, config.batch_size)
    u_labels, u_rec, u_gauss = _parts(model, split.unknown_images, ctx, config.batch_size)
    k = split.num_classes
    pred = torch.cat([decide(k_labels, k_rec, k_gauss, k), decide(u_labels, u_rec, u_gauss, k)])
    true = torch.cat([split.test_labels.to(pred.device), torch.full_like(u_labels, k)])
    return {
        **open_set_f1(true, pred, k),
        "known_rejected": float((pred[:len(k_labels)] == k).float().mean()),
        "unknown_rejected": float((pred[len(k_labels):] == k).float().mean()),
        "auroc_reconstruction": auroc(-k_rec.float(), -u_rec.float()),
        "auroc_gaussian": auroc(-k_gauss.float(), -u_gauss.float()),
    }
