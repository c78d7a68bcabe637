"""``--limit N``: a smoke-test slice of a split, at most N images per class in each part.

The first N images of each class are kept, in the dataset's order (no randomness), so a limited
run sees the same images whatever its seed.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from osrbench.types import Split


def first_per_class(labels: Tensor, n: int) -> Tensor:
    """Indices of the first ``n`` samples of each label, in their original order."""
    order = torch.argsort(labels, stable=True)
    ranked = labels[order]
    rank = torch.arange(len(labels), device=labels.device) - torch.searchsorted(ranked, ranked)
    return order[rank < n].sort().values


def limit_split(split: Split, n: int) -> Split:
    """``split`` with at most ``n`` training, known test and unknown test images per class.

    Without labels for the unknowns, at most ``n`` per listed unknown class are kept, in order.
    """
    train = first_per_class(split.train_labels, n)
    test = first_per_class(split.test_labels, n)
    if split.unknown_labels is not None:
        unknown = first_per_class(split.unknown_labels, n)
        unknown_labels = split.unknown_labels[unknown]
    else:
        unknown = torch.arange(min(len(split.unknown_images), n * max(1, len(split.unknown_class_names))))
        unknown_labels = None
    return dataclasses.replace(
        split, train_images=split.train_images[train], train_labels=split.train_labels[train],
        test_images=split.test_images[test], test_labels=split.test_labels[test],
        unknown_images=split.unknown_images[unknown], unknown_labels=unknown_labels)
