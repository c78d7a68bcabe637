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
4. **Test rule** (``test_rule.py``, ``model.py``): counterfactual minimum-reconstruction rejection
   (τ_rec keeps 95% of training samples known), Gaussian class-attribute rejection, classifier
   label. The continuous known-ness score for AUROC is by default the Gaussian statistic
   ``−min_m D²_m(x)/d*_m`` (``--set score=rule`` for ``−max(r(x)/τ_rec, min_m D²_m(x)/d*_m)``; a
   harness choice, see ``model.py``); the scorer ``nas-osr-rule`` reports the rule's own F1 and the
   AUROC of each statistic.

Small images (8×8 digits, 28×28 MNIST) are resized to 32×32 inside the model, as the paper does
for MNIST, so the search space keeps its 3 scales and 2×2 stride-16 maps.
Search and retraining checkpoint to the run's work dir and resume; each has a progress bar.
"""

from __future__ import annotations

import osrbench
from osrbench import MethodSpec, ScorerSpec, deferred
from osrbench_nasosr.config import FAST_OVERRIDES, NasOsrConfig, RuleScorerConfig
from osrbench_nasosr.postprocessors import POSTPROCESSORS, REJECTION_STATISTICS

__all__ = ["FAST_OVERRIDES", "NasOsrConfig"]


def _record_name(config: NasOsrConfig) -> str:
    return "nas-osr-fixed-arch" if config.arch else "nas-osr"


@osrbench.hookimpl
def osrbench_methods():
    return [MethodSpec(
        name="nas-osr",
        description="NAS-OSR (AAAI 2022): PAS architecture search of a class-conditional VAE, retraining, "
                    "counterfactual + Gaussian rejection; --set arch=FILE retrains a given architecture",
        config=NasOsrConfig, fit=deferred("osrbench_nasosr.method:fit"), accepts_augmentation=False, record_name=_record_name,
        provides=frozenset({REJECTION_STATISTICS}),
        paper_epochs=300,  # retraining epochs of the paper (its cost column shows the run's retrain_epochs)
    )]


@osrbench.hookimpl
def osrbench_postprocessors():
    return POSTPROCESSORS


@osrbench.hookimpl
def osrbench_scorers():
    return [ScorerSpec(name="nas-osr-rule",
                       description="NAS-OSR's own test rule: macro-F1 (authors' and sklearn form), rejection rates, "
                                   "AUROC of each rejection statistic",
                       config=RuleScorerConfig,
                       score=deferred("osrbench_nasosr.scorer:score_rule"), reads_scores=False)]
