"""NAS-OSR's training (imported on the first ``fit``): search or a given architecture, retraining, the test rule."""

from __future__ import annotations

import dataclasses

import torch

from osrbench import RunContext, Split
from osrbench_nasosr.config import SCORE_FORMULAS, NasOsrConfig
from osrbench_nasosr.derivation import Architecture
from osrbench_nasosr.model import NasOsrModel
from osrbench_nasosr.retrain import build_final_vae, retrain
from osrbench_nasosr.search import search
from osrbench_nasosr.rejection_rule import fit_test_rule


def limit_per_class(split: Split, per_class: int) -> Split:
    """The split with at most ``per_class`` training images per class (the first ones)."""
    if per_class <= 0:
        return split
    keep = torch.cat([torch.nonzero(split.train_labels == c).flatten()[:per_class] for c in range(split.num_classes)])
    keep = keep.sort().values
    return dataclasses.replace(split, train_images=split.train_images[keep], train_labels=split.train_labels[keep])


def fit(split: Split, config: NasOsrConfig, ctx: RunContext) -> NasOsrModel:
    split = limit_per_class(split, config.train_per_class)
    if config.arch:
        arch = Architecture.load(config.arch)
        search_record = {"architecture_source": config.arch}
    else:
        outcome = search(split, config, ctx)
        arch = outcome.arch
        num_search = split.num_classes - len(outcome.pseudo_unknowns)
        search_record = {
            "search_history": outcome.history, "selected_epoch": outcome.selected_epoch,
            "search_seconds": round(outcome.seconds, 2),
            "pseudo_unknown_classes": [split.class_names[c] for c in outcome.pseudo_unknowns],
            "search_classes": split.class_names[:num_search],
        }
    arch_path = arch.save(ctx.work_dir / "architecture.json")
    ctx.progress.log(f"nas-osr architecture: ops {list(arch.ops)}, scales {list(arch.scales)} ({arch_path})")

    vae = build_final_vae(arch, split, config, ctx)
    stats = retrain(vae, split, config, ctx)
    rule_fit = fit_test_rule(vae, split.train_images, split.train_labels, ctx, reconstruction="counterfactual",
                             threshold_rule=config.rec_threshold_rule, level=config.gaussian_level,
                             draws=config.mc_draws, corner=config.gaussian_corner,
                             class_vectors=config.counterfactual_means)
    if rule_fit.stats.degenerate:
        ctx.progress.log(f"[yellow]nas-osr: classes {rule_fit.stats.degenerate} have < 2 correctly classified "
                         "training samples; their Gaussians use all of their samples[/yellow]")
    vae.eval()
    ctx.extra_record.update({
        "architecture": arch.to_dict(), "architecture_file": str(arch_path), **search_record,
        "search_epochs": {"warmup": config.warmup_epochs, "search": config.search_epochs} if not config.arch else None,
        "epochs": config.retrain_epochs, "retrain_epochs": config.retrain_epochs, "retrain_final_loss": stats["final_loss"],
        "retrain_seconds": round(stats["train_seconds"], 2), **rule_fit.summary(),
        "score": SCORE_FORMULAS[config.score],
    })
    return NasOsrModel(vae, rule_fit.rule, config.score)
