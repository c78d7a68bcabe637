"""The trained NAS-OSR model as the harness sees it.

``predict`` returns the classifier's label on μ_u and a continuous **known-ness score**; neither
the paper nor the code defines one, so it is a harness choice (``--set score=...``):

* ``gaussian`` (default): ``−min_m D²_m(x)/d*_m``, the Gaussian class-attribute statistic alone;
* ``rule``: ``−max(r(x)/τ_rec, min_m D²_m(x)/d*_m)``, the larger of the two rejection statistics,
  each divided by its own threshold. The test rule's decision is exactly "unknown iff this score is
  below −1", so AUROC over it sweeps the paper's rule with both thresholds scaled together. With the
  authors' corner point d*_m is many times the spread of D² for knowns, so the maximum is nearly
  always the reconstruction term, and with the authors' tanh decoder that term ranked unknowns
  above knowns on CIFAR10 (AUROC 0.47 against 0.76 for the Gaussian part): hence the default;
* ``reconstruction``: ``−r(x)/τ_rec``.

``decide`` gives the rule's own labels (K = unknown) and ``score_parts`` the two statistics.
"""

from __future__ import annotations

from torch import Tensor

from osrbench import OpenSetModel, Postprocessor, Prediction
from osrbench_nasosr.rejection_rule import TestRule, decide, known_score
from osrbench_nasosr.vae import ConditionalVAE


class NasOsrModel(OpenSetModel):
    has_embedding = True

    def __init__(self, vae: ConditionalVAE, rule: TestRule, score: str):
        super().__init__()
        self.vae, self.rule, self.score = vae, rule, score

    def score_parts(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(label, r/τ_rec, min_m D²_m/d*_m)."""
        return self.rule.parts(self.vae, images)

    def predict(self, images: Tensor) -> Prediction:
        labels, rec, gauss = self.score_parts(images)
        return Prediction(labels, known_score(rec, gauss, self.score))

    def decide(self, images: Tensor) -> Tensor:
        """The test rule's open-set label: 0..K-1, or K for unknown."""
        return decide(*self.score_parts(images), self.vae.num_classes)

    def embed(self, images: Tensor) -> Tensor:
        """μ_u, the class attribute."""
        mu, _, _ = self.vae.encode(self.vae.prepare(images))
        return mu[:, self.vae.z_dim:]


class RuleStatistic(Postprocessor):
    def __init__(self, kind: str, config: object = None):  # no options: the thresholds come with the model
        self.kind = kind

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        _, reconstruction, gaussian = model.score_parts(images)
        return known_score(reconstruction, gaussian, self.kind)
