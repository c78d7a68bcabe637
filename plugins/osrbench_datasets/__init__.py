"""The built-in datasets: MNIST, SVHN, CIFAR-10/100 (torchvision), TinyImageNet, and ``digits``.

Each reader turns the originals under ``<data-root>/<name>`` into ``DatasetArrays`` (images N, H,
W, C uint8); the harness validates them and caches them as ``<data-root>/<name>.npz``. ``digits``
is scikit-learn's bundled copy and needs no download and no cache file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

import osrbench
from osrbench.specs import DatasetArrays, DatasetSpec

TINY_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"


def _read_cifar(cls_name: str) -> Callable[[Path, bool], DatasetArrays]:
    def read(raw: Path, download: bool) -> DatasetArrays:
        from torchvision import datasets

        cls = getattr(datasets, cls_name)
        train, test = cls(raw, train=True, download=download), cls(raw, train=False, download=download)
        return DatasetArrays(train.data, np.asarray(train.targets), test.data, np.asarray(test.targets),
                             list(train.classes))

    return read


def _read_mnist(raw: Path, download: bool) -> DatasetArrays:
    from torchvision import datasets

    train = datasets.MNIST(raw, train=True, download=download)
    test = datasets.MNIST(raw, train=False, download=download)
    return DatasetArrays(train.data.numpy()[..., None], train.targets.numpy(), test.data.numpy()[..., None],
                         test.targets.numpy(), [str(i) for i in range(10)])


def _read_svhn(raw: Path, download: bool) -> DatasetArrays:
    from torchvision import datasets

    train = datasets.SVHN(raw, split="train", download=download)
    test = datasets.SVHN(raw, split="test", download=download)
    nhwc = lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1))  # noqa: E731
    return DatasetArrays(nhwc(train.data), train.labels, nhwc(test.data), test.labels, [str(i) for i in range(10)])


def _read_tinyimagenet(raw: Path, download: bool) -> DatasetArrays:
    """ImageFolder over tiny-imagenet-200/train; the official val set (re-foldered by class) is the test set."""
    from PIL import Image
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.utils import download_and_extract_archive

    base = raw / "tiny-imagenet-200"
    if not (base / "train").is_dir():
        if not download:
            raise FileNotFoundError(base / "train")
        download_and_extract_archive(TINY_URL, str(raw))
    train = ImageFolder(str(base / "train"))
    index = train.class_to_idx
    val_labels = {}
    for line in (base / "val" / "val_annotations.txt").read_text().splitlines():
        parts = line.split("\t")
        val_labels[parts[0]] = index[parts[1]]

    def load(paths: list[str]) -> np.ndarray:
        return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])

    val_files = sorted(val_labels)
    x_test = load([str(base / "val" / "images" / f) for f in val_files])
    y_test = np.array([val_labels[f] for f in val_files])
    x_train = load([p for p, _ in train.samples])
    y_train = np.array([t for _, t in train.samples])
    return DatasetArrays(x_train, y_train, x_test, y_test, list(train.classes))


def _read_digits(raw: Path, download: bool) -> DatasetArrays:
    """scikit-learn's bundled 8x8 digits (values 0..16 scaled to 0..255), a fixed 70/30 split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    cut = int(0.7 * len(labels))
    tr, te = order[:cut], order[cut:]
    return DatasetArrays(images[tr], labels[tr], images[te], labels[te], [str(i) for i in range(10)])


@osrbench.hookimpl
def osrbench_datasets():
    return [
        DatasetSpec("cifar10", "CIFAR-10, 10 classes, 32x32 colour", "torchvision.datasets.CIFAR10",
                    _read_cifar("CIFAR10")),
        DatasetSpec("cifar100", "CIFAR-100, 100 classes, 32x32 colour", "torchvision.datasets.CIFAR100",
                    _read_cifar("CIFAR100")),
        DatasetSpec("mnist", "MNIST handwritten digits, 28x28 grey", "torchvision.datasets.MNIST", _read_mnist),
        DatasetSpec("svhn", "SVHN house numbers, 32x32 colour", "torchvision.datasets.SVHN", _read_svhn),
        DatasetSpec("tinyimagenet", "TinyImageNet, 200 classes, 64x64 colour; the official val set as test set",
                    f"tiny-imagenet-200 ({TINY_URL})", _read_tinyimagenet),
        DatasetSpec("digits", "scikit-learn's bundled 8x8 digits, a fixed 70/30 split",
                    "sklearn.datasets.load_digits (bundled, no download)", _read_digits, cache=False),
    ]
