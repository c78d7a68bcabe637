"""Built-in postprocessors: post-hoc known-ness scores of a trained model (OpenOOD's split of a
method into a trainer and a postprocessor).

* ``msp``: maximum softmax probability (Hendrycks & Gimpel, ICLR 2017);
* ``mls``: maximum logit (Vaze et al., ICLR 2022);
* ``energy``: negative free energy T·logsumexp(logits/T) (Liu et al., NeurIPS 2020).

Each declares the model capabilities it needs (``osrbench.api.LOGITS`` ...); the harness refuses a
postprocessor that the method's model cannot serve before training.
"""

from __future__ import annotations

import osrbench
from osrbench import PostprocessorSpec
from osrbench.api import LOGITS
from osrbench_postprocessors.logit_scores import Energy, EnergyConfig, MaxLogit, MaxSoftmax, NoOptions


@osrbench.hookimpl
def osrbench_postprocessors():
    return [
        PostprocessorSpec(name="msp", description="maximum softmax probability (Hendrycks & Gimpel, ICLR 2017)",
                          config=NoOptions, build=lambda config: MaxSoftmax(), requires=frozenset({LOGITS})),
        PostprocessorSpec(name="mls", description="maximum logit (Vaze et al., ICLR 2022)",
                          config=NoOptions, build=lambda config: MaxLogit(), requires=frozenset({LOGITS})),
        PostprocessorSpec(name="energy", description="negative free energy T·logsumexp(logits/T) "
                                                     "(Liu et al., NeurIPS 2020)",
                          config=EnergyConfig, build=Energy, requires=frozenset({LOGITS})),
    ]
