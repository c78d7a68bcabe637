"""The trained GradMix model and its open-set rule (paper Algorithm 1).

Each test image is scored per class by the sum of its k largest cosine similarities to that class's
training embeddings (the exemplars); label = argmax over classes, known-ness = the max (or, as in the
authors' code, the max after dividing by the row total: the postprocessors of ``postprocessors.py``).
The exemplars sit in one zero-padded
(K, n_max, d) tensor, so a batch is scored with one batched matrix product and one ``topk``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from osrbench import OpenSetModel, OsrbenchError, Postprocessor, Prediction
from osrbench_gradmix.network import ContrastiveNet
from osrbench_gradmix.objective import fresh_saliency
from osrbench_gradmix.patching import argmax_centres, boxes_around


def exemplar_bank(embeddings: Tensor, labels: Tensor, num_classes: int, k: int) -> tuple[Tensor, Tensor]:
    """(K, n_max, d) class-grouped embeddings and the (K, n_max) mask of real (non-padding) rows."""
    counts = torch.bincount(labels, minlength=num_classes)
    if int(counts.min()) < k:
        short = int(counts.argmin())
        raise OsrbenchError(f"top-k scoring: known class {short} has {int(counts[short])} training images, fewer "
                            f"than k = {k}; lower it with --set topk=...")
    order = torch.argsort(labels, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(labels), device=labels.device) - starts[labels[order]]
    bank = embeddings.new_zeros(num_classes, int(counts.max()), embeddings.shape[1])
    bank[labels[order], slot] = embeddings[order]
    valid = torch.zeros(bank.shape[:2], dtype=torch.bool, device=bank.device)
    valid[labels[order], slot] = True
    return bank, valid


def topk_class_scores(z: Tensor, bank: Tensor, valid: Tensor, k: int) -> Tensor:
    """(B, K): per class, the sum of the k largest cosine similarities of each row of z to its exemplars."""
    sims = torch.einsum("bd,knd->bkn", z.float(), bank.float())
    sims = sims.masked_fill(~valid[None], float("-inf"))
    return sims.topk(k, dim=2).values.sum(dim=2)


class GradMixModel(OpenSetModel):
    has_embedding = True

    def __init__(self, net: ContrastiveNet, exemplars: Tensor, exemplar_labels: Tensor, num_classes: int,
                 k: int, temperature: float, base_temperature: float, hflip: bool):
        super().__init__()
        self.net, self.k = net, k
        self.temperature, self.base_temperature, self.hflip = temperature, base_temperature, hflip
        bank, valid = exemplar_bank(exemplars.float(), exemplar_labels, num_classes, k)
        self.register_buffer("bank", bank)
        self.register_buffer("valid", valid)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)

    def class_scores(self, images: Tensor) -> Tensor:
        z = self.net(images)
        with torch.autocast(device_type=z.device.type, enabled=False):  # similarities in float32
            return topk_class_scores(z, self.bank, self.valid, self.k)

    def predict(self, images: Tensor) -> Prediction:
        """Label = the class with the largest top-k score; own score = that score (the paper's rule)."""
        best, label = self.class_scores(images).max(dim=1)
        return Prediction(label, best)

    def embed(self, images: Tensor) -> Tensor:
        """The 512-d pooled encoder features (the linear probe's input in the paper)."""
        return self.net.features(images).float()

    def features(self, images: Tensor) -> Tensor:
        """The backbone features (as ``embed``), for feature-space postprocessors such as knn and mahalanobis."""
        return self.embed(images)

    def activation_figure_data(self, images: Tensor) -> dict[str, Tensor]:
        """LayerCAM at conv5_2 for the SimCLR loss of (image, mirror image or itself), and a γ = 0.3 patch box."""
        partners = images.flip(3) if self.hflip else images.clone()
        maps = fresh_saliency(self.net, images, partners, "layercam", ("layer4.1",),
                              self.temperature, self.base_temperature)
        height, width = images.shape[-2:]
        sides = torch.tensor([[int(0.3 * height), int(0.3 * width)]], device=images.device).clamp_min(1)
        boxes = boxes_around(argmax_centres(maps), sides.expand(len(images), 2), (height, width), "shift")
        return {"images": images, "maps": maps, "boxes": boxes}


class TopkCosine(Postprocessor):
    def __init__(self, normalised: bool):
        self.normalised = normalised

    def score(self, model: OpenSetModel, images: Tensor) -> Tensor:
        scores = model.class_scores(images)
        best = scores.amax(dim=1)
        return best / scores.sum(dim=1) if self.normalised else best


def topk_cosine(config) -> TopkCosine:
    return TopkCosine(normalised=False)


def topk_cosine_normalised(config) -> TopkCosine:
    return TopkCosine(normalised=True)
