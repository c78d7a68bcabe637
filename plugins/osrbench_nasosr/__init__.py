"""NAS-OSR (Learning Network Architecture for Open-Set Recognition, AAAI 2022), method ``nas-osr``.

The whole pipeline of ``shared/methods/nas-osr.md`` runs in :func:`fit`:

1. **Search** (``search.py``): a hierarchical super-network (``supernet.py``: 6 layers × 3 scales at
   strides 4/8/16, mixed-op cells weighted by softmax(α), paths by softmax(β); ops in
   ``operations.py``) inside a class-conditional VAE (``vae.py``), trained with the four losses
   (``losses.py``) under Pseudo Auxiliary Searching: a third of the known classes as
   pseudo-unknowns, two disjoint data halves for weights and architecture, weight warm-up, then
   first-order alternating updates (``architect.py``), snapshot chosen by the highest open-set
   macro-F1 on the pseudo-unknowns.
2. **Derivation** (``derivation.py``): one op per layer along branch 2, written to
   ``architecture.json`` in the run's work dir and into the record. ``--set arch=FILE`` retrains a
   given architecture without searching; such runs are recorded as ``nas-osr-fixed-arch``.
3. **Retraining** (``retrain.py``): the derived encoder (``derived_net.py``) with the latent head
   and decoder, re-initialised and trained on all known classes.
4. **Rejection rule** (the paper's test rule; ``rejection_rule.py``, ``model.py``): counterfactual
   minimum-reconstruction rejection (τ_rec keeps 95% of training samples known), Gaussian
   class-attribute rejection, classifier label. The continuous known-ness score for AUROC is by default the Gaussian statistic
   ``−min_m D²_m(x)/d*_m`` (``--set score=rule`` for ``−max(r(x)/τ_rec, min_m D²_m(x)/d*_m)``; a
   harness choice, see ``model.py``); the scorer ``nas-osr-rule`` reports the rule's own F1 and the
   AUROC of each statistic.

Small images (8×8 digits, 28×28 MNIST) are resized to 32×32 inside the model, as the paper does
for MNIST, so the search space keeps its 3 scales and 2×2 stride-16 maps.
Search and retraining checkpoint to the run's work dir and resume; each has a progress bar.
"""

from __future__ import annotations

import dataclasses

import torch

import osrbench
from osrbench import MethodSpec, RunContext, ScorerSpec, Split
from osrbench_nasosr.config import FAST_OVERRIDES, NasOsrConfig
from osrbench_nasosr.derivation import Architecture
from osrbench_nasosr.model import NasOsrModel
from osrbench_nasosr.postprocessors import POSTPROCESSORS, REJECTION_STATISTICS
from osrbench_nasosr.retrain import build_final_vae, retrain
from osrbench_nasosr.scorer import RuleScorerConfig, score_rule
from osrbench_nasosr.search import search
from osrbench_nasosr.rejection_rule import SCORE_FORMULAS, fit_test_rule

__all__ = ["FAST_OVERRIDES", "NasOsrConfig", "NasOsrModel", "fit"]


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
        "retrain_epochs": config.retrain_epochs, "retrain_final_loss": stats["final_loss"],
        "retrain_seconds": round(stats["train_seconds"], 2), **rule_fit.summary(),
        "score": SCORE_FORMULAS[config.score],
    })
    return NasOsrModel(vae, rule_fit.rule, config.score)


def _record_name(config: NasOsrConfig) -> str:
    return "nas-osr-fixed-arch" if config.arch else "nas-osr"


@osrbench.hookimpl
def osrbench_methods():
    return [MethodSpec(
        name="nas-osr",
        description="NAS-OSR (AAAI 2022): PAS architecture search of a class-conditional VAE, retraining, "
                    "counterfactual + Gaussian rejection; --set arch=FILE retrains a given architecture",
        config=NasOsrConfig, fit=fit, accepts_augmentation=False, record_name=_record_name,
        provides=frozenset({REJECTION_STATISTICS}),
    )]


@osrbench.hookimpl
def osrbench_postprocessors():
    return POSTPROCESSORS


@osrbench.hookimpl
def osrbench_scorers():
    return [ScorerSpec(name="nas-osr-rule",
                       description="NAS-OSR's own test rule: macro-F1 (authors' and sklearn form), rejection rates, "
                                   "AUROC of each rejection statistic",
                       config=RuleScorerConfig, score=score_rule, reads_scores=False)]
