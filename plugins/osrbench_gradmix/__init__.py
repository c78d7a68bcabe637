"""GradMix ("Informed Mixing – Improving Open Set Recognition with Deep Dynamic Data Augmentation").

Method ``gradmix`` (spec: ``shared/methods/gradmix.md``):

* ``network.py``: ResNet18 with the CIFAR stem and a 2-layer head to a 128-d unit-length embedding;
* ``views.py``: two SimCLR views per image, batched on the device (±5° rotation only for digits);
* ``losses.py``: SupCon, SimCLR and the GradMix SimCLR term;
* ``objective.py``: L = θ·SupCon + λ·(SimCLR + w·SimCLR on the mixed views), and the per-iteration
  activation-map callback handed to the augmentation;
* ``train.py``: Adam with per-epoch cosine decay through the shared training loop;
* ``model.py``: the top-k (k = 10) cosine-similarity rule for labels; ``postprocessors.py``: its known-ness
  scores ``topk-cosine`` (paper) and ``topk-cosine-normalised`` (authors' code), the method's default
  postprocessors (both from one training); the backbone features serve ``knn`` and ``mahalanobis`` too.

Two methods share this code: ``gradmix`` is the paper's method, its mixed term by default the
``gradmix`` augmentation (LayerCAM); ``supcon-simclr`` is the plain contrastive objective, with a
mixed term only when ``--augment`` names one. The mixed term comes from whatever augmentation the
harness hands over (``--augment`` replaces GradMix's); this package provides three (``augment.py``,
``patching.py``, ``cam.py``):

* ``gradmix``: LayerCAM maps, patch side γ ~ U(0.1, 0.5) on the most activated pixel, filled with
  another image of the batch resized into the box, weight γ² (the paper);
* ``gradcam``: the same with Grad-CAM maps ("vanilla GradMix", the paper's ablation);
* ``gradmix_codevariant``: the authors' released code: patch *area* ~ U(0.1, 0.5), uniform noise
  fill, boxes clipped at the border, weight 1 − covered area.
"""

from __future__ import annotations

import osrbench
from osrbench import AugmentationSpec, MethodSpec, deferred
from osrbench.specs import FEATURES
from osrbench_gradmix.config import FAST_OVERRIDES, CodeVariantConfig, GradMixAugConfig, GradMixConfig
from osrbench_gradmix.postprocessors import EXEMPLAR_SCORES, POSTPROCESSORS

__all__ = ["FAST_OVERRIDES", "GradMixConfig"]


@osrbench.hookimpl
def osrbench_methods():
    shared = dict(config=GradMixConfig, fit=deferred("osrbench_gradmix.train:fit"),
                  load=deferred("osrbench_gradmix.train:load"), provides=frozenset({FEATURES, EXEMPLAR_SCORES}),
                  postprocessors=("topk-cosine", "topk-cosine-normalised"),
                  paper_epochs=600)  # the authors' CIFAR10 / TinyImageNet scripts
    return [
        MethodSpec(name="gradmix", description="GradMix: SupCon + SimCLR ResNet18 with the LayerCAM-guided mixed "
                                               "views' SimCLR term and top-k similarity scoring (--augment gradcam "
                                               "or gradmix_codevariant swaps the mixed term)",
                   default_augmentation="gradmix", **shared),
        MethodSpec(name="supcon-simclr", description="GradMix's objective without the mixed term: SupCon + SimCLR "
                                                     "ResNet18, top-k similarity scoring (--augment adds a mixed "
                                                     "term)", **shared),
    ]


@osrbench.hookimpl
def osrbench_postprocessors():
    return POSTPROCESSORS


@osrbench.hookimpl
def osrbench_augmentations():
    return [
        AugmentationSpec(name="gradmix", description="GradMix: a resized in-batch image pasted on the LayerCAM "
                                                     "peak, side γ ~ U(0.1, 0.5), weight γ² "
                                                     "(the default of --method gradmix)",
                         config=GradMixAugConfig,
                         build=deferred("osrbench_gradmix.augment:build_gradmix")),
        AugmentationSpec(name="gradcam", description="vanilla GradMix: as gradmix, with Grad-CAM maps",
                         config=GradMixAugConfig,
                         build=deferred("osrbench_gradmix.augment:build_gradcam")),
        AugmentationSpec(name="gradmix_codevariant",
                         description="GradMix as in the authors' released code: noise fill, area ~ U(0.1, 0.5), "
                                     "clipped boxes, weight 1 − area",
                         config=CodeVariantConfig,
                         build=deferred("osrbench_gradmix.augment:build_codevariant")),
    ]
