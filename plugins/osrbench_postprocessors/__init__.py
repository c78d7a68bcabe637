"""Built-in postprocessors: post-hoc known-ness scores of a trained model (OpenOOD's split of a
method into a trainer and a postprocessor). Higher = more likely known. Defaults are the papers'.

* ``msp``: maximum softmax probability (Hendrycks & Gimpel, ICLR 2017);
* ``mls``: maximum logit (Vaze et al., ICLR 2022);
* ``energy``: negative free energy T·logsumexp(logits/T), T = 1 (Liu et al., NeurIPS 2020);
* ``odin``: temperature T = 1000 and input perturbation ε = 0.0014 (Liang et al., ICLR 2018);
* ``mahalanobis``: class means and a tied covariance of the penultimate features, without input
  preprocessing or layer ensemble (Lee et al., NeurIPS 2018);
* ``relative-mahalanobis``: the class distance minus the distance under one Gaussian of all training
  features (Ren et al., arXiv 2106.09022, 2021);
* ``knn``: distance to the k-th (k = 50) nearest normalised training feature (Sun et al., ICML 2022);
* ``vim``: energy minus a virtual logit from the residual of the features' principal subspace
  (Wang et al., CVPR 2022);
* ``react``: features clipped at their 90th training percentile, then energy (Sun et al., NeurIPS 2021).

Each declares the model capabilities it needs (``osrbench.api.LOGITS`` ...); the harness refuses a
postprocessor that the method's model cannot serve before training.
"""

from __future__ import annotations

import osrbench
from osrbench import PostprocessorSpec, deferred
from osrbench.specs import FEATURES, INPUT_GRADIENTS, LINEAR_HEAD, LOGITS
from osrbench_postprocessors.configs import (
    EnergyConfig,
    KnnConfig,
    MahalanobisConfig,
    NoOptions,
    OdinConfig,
    ReactConfig,
    RelativeMahalanobisConfig,
    VimConfig,
)

LOGIT_SCORES = "osrbench_postprocessors.logit_scores"
FEATURE_SCORES = "osrbench_postprocessors.feature_scores"


@osrbench.hookimpl
def osrbench_postprocessors():
    return [
        PostprocessorSpec(name="msp", description="maximum softmax probability (Hendrycks & Gimpel, ICLR 2017)",
                          config=NoOptions, build=deferred(f"{LOGIT_SCORES}:max_softmax"), requires=frozenset({LOGITS})),
        PostprocessorSpec(name="mls", description="maximum logit (Vaze et al., ICLR 2022)",
                          config=NoOptions, build=deferred(f"{LOGIT_SCORES}:max_logit"), requires=frozenset({LOGITS})),
        PostprocessorSpec(name="energy", description="negative free energy T·logsumexp(logits/T) "
                                                     "(Liu et al., NeurIPS 2020)",
                          config=EnergyConfig, build=deferred(f"{LOGIT_SCORES}:Energy"), requires=frozenset({LOGITS})),
        PostprocessorSpec(name="odin", description="ODIN: max softmax at temperature 1000 of the input moved by "
                                                   "ε = 0.0014 against the gradient (Liang et al., ICLR 2018)",
                          config=OdinConfig, build=deferred("osrbench_postprocessors.odin:Odin"), requires=frozenset({LOGITS, INPUT_GRADIENTS})),
        PostprocessorSpec(name="mahalanobis", description="−min Mahalanobis distance to the class means, tied "
                                                          "covariance of penultimate features; no input "
                                                          "preprocessing (Lee et al., NeurIPS 2018)",
                          config=MahalanobisConfig, build=deferred(f"{FEATURE_SCORES}:Mahalanobis"), requires=frozenset({FEATURES})),
        PostprocessorSpec(name="relative-mahalanobis", description="−min over classes of the Mahalanobis distance "
                                                                   "minus the distance under one Gaussian of all "
                                                                   "training features (Ren et al., 2021)",
                          config=RelativeMahalanobisConfig, build=deferred(f"{FEATURE_SCORES}:RelativeMahalanobis"),
                          requires=frozenset({FEATURES})),
        PostprocessorSpec(name="knn", description="−distance to the k-th (50) nearest L2-normalised training "
                                                  "feature (Sun et al., ICML 2022)",
                          config=KnnConfig, build=deferred(f"{FEATURE_SCORES}:Knn"), requires=frozenset({FEATURES})),
        PostprocessorSpec(name="vim", description="ViM: energy minus α × the feature residual outside the "
                                                  "principal subspace (Wang et al., CVPR 2022)",
                          config=VimConfig, build=deferred(f"{FEATURE_SCORES}:Vim"), requires=frozenset({FEATURES, LINEAR_HEAD})),
        PostprocessorSpec(name="react", description="ReAct: energy of the logits of features clipped at their "
                                                    "90th training percentile (Sun et al., NeurIPS 2021)",
                          config=ReactConfig, build=deferred(f"{FEATURE_SCORES}:React"), requires=frozenset({FEATURES, LINEAR_HEAD})),
    ]
