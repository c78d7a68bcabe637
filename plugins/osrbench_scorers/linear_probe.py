"""``linear-probe``: a linear classifier on the frozen embedding of a trained model.

The model's ``embed`` is applied once (eval mode, no augmentation) to the known training and test
images; the features are standardised with the training mean and deviation, and a multinomial
logistic regression (softmax cross-entropy + L2 on the weights) is fitted full-batch with L-BFGS on
the run's device. This is the linear evaluation of SimCLR's appendix (L-BFGS on frozen features);
GradMix §12 instead trains 100 SGD epochs with crop-and-flip augmentation, which this scorer does
not do. Reported: top-1 and top-5 accuracy on the known test set (top-5 only with more than 5
classes), and the training accuracy as a check of the fit.
"""

from __future__ import annotations


import torch
from torch import Tensor
from torch.nn import functional as F

from osrbench import OpenSetModel, OsrbenchError, RunContext, Split
from osrbench.batches import map_batches
from osrbench_scorers.configs import LinearProbeConfig


def embed_all(model: OpenSetModel, images: Tensor, ctx: RunContext, batch_size: int) -> Tensor:
    """Flattened float32 embeddings of ``images`` (uint8) in eval mode."""
    was_training = model.training
    model.eval()
    try:
        features = map_batches(model.embed, images, ctx, batch_size)
    finally:
        model.train(was_training)
    return features.float().flatten(1)


def fit_linear(features: Tensor, labels: Tensor, num_classes: int, steps: int, weight_decay: float) -> tuple[Tensor, Tensor]:
    """Weights (num_classes, D) and bias of softmax regression, by full-batch L-BFGS from zero."""
    weight = torch.zeros(num_classes, features.shape[1], device=features.device, requires_grad=True)
    bias = torch.zeros(num_classes, device=features.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=steps, history_size=20,
                                  tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(features @ weight.T + bias, labels) + 0.5 * weight_decay * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return weight.detach(), bias.detach()


def topk_accuracy(logits: Tensor, labels: Tensor, k: int) -> float:
    top = logits.topk(k, dim=1).indices
    return float((top == labels[:, None]).any(dim=1).float().mean())


def score_linear_probe(model: OpenSetModel, split: Split, config: LinearProbeConfig, ctx: RunContext) -> dict:
    if not getattr(model, "has_embedding", False):
        raise OsrbenchError(f"scorer 'linear-probe' needs an embedding, but {type(model).__name__} has none "
                            "(has_embedding is False); drop linear-probe from --scorer for this method")
    train = embed_all(model, split.train_images, ctx, config.batch_size)
    test = embed_all(model, split.test_images, ctx, config.batch_size)
    mean, std = train.mean(dim=0), train.std(dim=0).clamp_min(1e-6)
    train, test = (train - mean) / std, (test - mean) / std
    y_train, y_test = split.train_labels.to(train.device), split.test_labels.to(train.device)
    weight, bias = fit_linear(train, y_train, split.num_classes, config.steps, config.weight_decay)
    test_logits = test @ weight.T + bias
    out = {
        "top1": topk_accuracy(test_logits, y_test, 1),
        "train_top1": topk_accuracy(train @ weight.T + bias, y_train, 1),
        "feature_dim": int(train.shape[1]),
    }
    if split.num_classes > 5:
        out["top5"] = topk_accuracy(test_logits, y_test, 5)
    return out
