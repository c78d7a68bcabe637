"""The top-k cosine-similarity rule against a brute-force computation."""

import pytest
import torch
from osrbench_gradmix.model import GradMixModel, exemplar_bank, topk_class_scores
from osrbench_gradmix.network import ContrastiveNet
from torch.nn import functional as F

from osrbench import OsrbenchError, ScoredModel
from osrbench.plugins import load_plugins


def brute_force(z, exemplars, labels, num_classes, k):
    scores = torch.empty(len(z), num_classes)
    for i in range(len(z)):
        for c in range(num_classes):
            sims = sorted((float(z[i] @ e) for e, y in zip(exemplars, labels) if y == c), reverse=True)
            scores[i, c] = sum(sims[:k])
    return scores


def test_topk_scores_match_brute_force_with_unequal_classes():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([2, 0, 1, 0, 2, 2, 1, 0, 2, 1, 0, 2, 2])  # 4, 3, 6 exemplars
    exemplars = F.normalize(torch.randn(len(labels), 5, generator=g), dim=1)
    z = F.normalize(torch.randn(7, 5, generator=g), dim=1)
    bank, valid = exemplar_bank(exemplars, labels, 3, 3)
    assert bank.shape == (3, 6, 5) and valid.sum(1).tolist() == [4, 3, 6]
    expected = brute_force(z, exemplars, labels.tolist(), 3, 3)
    assert torch.allclose(topk_class_scores(z, bank, valid, 3), expected, atol=1e-5)


def test_too_few_exemplars_for_k_is_rejected():
    with pytest.raises(OsrbenchError, match="--set topk"):
        exemplar_bank(torch.randn(5, 4), torch.tensor([0, 0, 0, 1, 1]), 2, 3)


@pytest.mark.parametrize("score", ["topk-cosine", "topk-cosine-normalised"])
def test_model_labels_and_postprocessor_scores_match_brute_force(score):
    torch.manual_seed(0)
    net = ContrastiveNet(1, (0.5,), (0.25,), width=4, head_dim=8).eval()
    train = torch.rand(12, 1, 8, 8)
    labels = torch.tensor([0, 1, 2] * 4)
    with torch.no_grad():
        exemplars = net(train)
        model = GradMixModel(net, exemplars, labels, 3, k=2, temperature=0.05,
                             base_temperature=0.07, hflip=False).eval()
        test = torch.rand(5, 1, 8, 8)
        expected = brute_force(net(test), exemplars, labels.tolist(), 3, 2)
        spec = load_plugins().postprocessors.get(score)
        prediction = ScoredModel(model, spec.build(spec.config())).predict(test)
        assert torch.allclose(model.embed(test), net.features(test))
    best, label = expected.max(1)
    if score == "topk-cosine-normalised":
        best = best / expected.sum(1)
    assert prediction.labels.tolist() == label.tolist()
    assert torch.allclose(prediction.scores, best, atol=1e-5)


def test_activation_figure_data_gives_maps_and_boxes():
    torch.manual_seed(0)
    net = ContrastiveNet(3, (0.5,) * 3, (0.25,) * 3, width=4, head_dim=8).eval()
    model = GradMixModel(net, F.normalize(torch.randn(6, 8), dim=1), torch.tensor([0, 1] * 3), 2, k=1,
                         temperature=0.05, base_temperature=0.07, hflip=True).eval()
    data = model.activation_figure_data(torch.rand(3, 3, 32, 32))
    assert data["maps"].shape == (3, 32, 32)
    boxes = data["boxes"]
    assert torch.all(boxes[:, 2] - boxes[:, 0] == 9) and torch.all((boxes >= 0) & (boxes <= 32))
