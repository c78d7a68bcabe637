"""The trained NAS-OSR model as the harness sees it.

``predict`` returns the classifier's label on μ_u and a continuous **known-ness score**
``−max(r(x)/τ_rec, min_m D²_m(x)/d*_m)``: the larger of the two rejection statistics of the test
rule, each divided by its own threshold, negated so that higher = more likely known. The test
rule's decision is exactly "unknown iff this score is below −1" (ties aside), so AUROC over the
score sweeps the paper's rule with both thresholds scaled together. This score is a harness
choice; neither the paper nor the code defines one. ``decide`` gives the rule's own labels
(K = unknown) and ``score_parts`` the two statistics on their own.
"""

from __future__ import annotations

from torch import Tensor

from osrbench import OpenSetModel, Prediction
from osrbench_nasosr.test_rule import TestRule, decide, known_score
from osrbench_nasosr.vae import ConditionalVAE


class NasOsrModel(OpenSetModel):
    has_embedding = True

    def __init__(self, vae: ConditionalVAE, rule: TestRule):
        super().__init__()
        self.vae, self.rule = vae, rule

    def score_parts(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(label, r/τ_rec, min_m D²_m/d*_m)."""
        return self.rule.parts(self.vae, images)

    def predict(self, images: Tensor) -> Prediction:
        labels, rec, gauss = self.score_parts(images)
        return Prediction(labels, known_score(rec, gauss))

    def decide(self, images: Tensor) -> Tensor:
        """The test rule's open-set label: 0..K-1, or K for unknown."""
        return decide(*self.score_parts(images), self.vae.num_classes)

    def embed(self, images: Tensor) -> Tensor:
        """μ_u, the class attribute."""
        mu, _, _ = self.vae.encode(self.vae.prepare(images))
        return mu[:, self.vae.z_dim:]
