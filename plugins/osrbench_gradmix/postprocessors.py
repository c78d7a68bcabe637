"""GradMix's own scores as postprocessors (paper Algorithm 1): the top-k cosine-similarity rule.

Per class, the sum of the k largest cosine similarities of the test embedding to that class's
training embeddings (the model's exemplar bank); the known-ness score is the largest class score
(``topk-cosine``, the paper) or the largest after dividing by the sum over classes
(``topk-cosine-normalised``, the authors' code). The model's labels are the argmax in both.
The model offers the per-class scores as the capability ``EXEMPLAR_SCORES`` (``class_scores``).
"""

from __future__ import annotations

from dataclasses import dataclass

from osrbench import PostprocessorSpec, deferred

EXEMPLAR_SCORES = "exemplar_scores"  # model.class_scores(x) -> (B, K) top-k cosine sums


@dataclass
class TopkOptions:
    """The k of the rule is the method's ``topk`` option (the exemplar bank is built for it)."""


POSTPROCESSORS = [
    PostprocessorSpec(name="topk-cosine", description="GradMix: max over classes of the sum of the top-k cosine "
                                                      "similarities to the class's training embeddings (paper)",
                      config=TopkOptions, build=deferred("osrbench_gradmix.model:topk_cosine"),
                      requires=frozenset({EXEMPLAR_SCORES})),
    PostprocessorSpec(name="topk-cosine-normalised",
                      description="GradMix: the top-k cosine score divided by its sum over classes (authors' code)",
                      config=TopkOptions, build=deferred("osrbench_gradmix.model:topk_cosine_normalised"),
                      requires=frozenset({EXEMPLAR_SCORES})),
]
