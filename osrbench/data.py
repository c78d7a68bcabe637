"""Datasets as uint8 arrays: a per-dataset cache under the data root, filled by torchvision.

``<root>/<name>.npz`` holds ``x_train`` (N, H, W, C) uint8, ``y_train`` int64, ``x_test``,
``y_test`` and ``classes``. The first use of a dataset fills it from torchvision (``--download``
fetches the originals where there is internet); later runs, and any prepared file dropped in that
place, are read directly. Each dataset's fingerprint is a hash of those arrays, so results on
different copies of a dataset are never mixed up.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from osrbench.api import OsrbenchError

DEFAULT_ROOT = Path(os.environ.get("OSRBENCH_DATA", Path.home() / ".cache" / "osrbench" / "data"))
ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass
class ArrayDataset:
    """A whole dataset in memory: uint8 images (N, C, H, W) and int64 labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    fingerprint: str


# --------------------------------------------------------------------------- torchvision readers
# Each returns (x_train NHWC uint8, y_train, x_test, y_test, classes) from the originals.


def _read_cifar(cls_name: str) -> Callable[[Path, bool], tuple]:
    def read(raw: Path, download: bool) -> tuple:
        from torchvision import datasets

        cls = getattr(datasets, cls_name)
        train, test = cls(raw, train=True, download=download), cls(raw, train=False, download=download)
        return train.data, np.asarray(train.targets), test.data, np.asarray(test.targets), list(train.classes)

    return read


def _read_mnist(raw: Path, download: bool) -> tuple:
    from torchvision import datasets

    train = datasets.MNIST(raw, train=True, download=download)
    test = datasets.MNIST(raw, train=False, download=download)
    return (train.data.numpy()[..., None], train.targets.numpy(), test.data.numpy()[..., None],
            test.targets.numpy(), [str(i) for i in range(10)])


def _read_svhn(raw: Path, download: bool) -> tuple:
    from torchvision import datasets

    train = datasets.SVHN(raw, split="train", download=download)
    test = datasets.SVHN(raw, split="test", download=download)
    nhwc = lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1))  # noqa: E731
    return nhwc(train.data), train.labels, nhwc(test.data), test.labels, [str(i) for i in range(10)]


TINY_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"


def _read_tinyimagenet(raw: Path, download: bool) -> tuple:
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
    return x_train, y_train, x_test, y_test, list(train.classes)


def _read_digits(raw: Path, download: bool) -> tuple:
    """scikit-learn's bundled 8x8 digits (values 0..16 scaled to 0..255), a fixed 70/30 split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    cut = int(0.7 * len(labels))
    tr, te = order[:cut], order[cut:]
    return images[tr], labels[tr], images[te], labels[te], [str(i) for i in range(10)]


READERS: dict[str, tuple[Callable[[Path, bool], tuple], str]] = {
    "cifar10": (_read_cifar("CIFAR10"), "torchvision.datasets.CIFAR10"),
    "cifar100": (_read_cifar("CIFAR100"), "torchvision.datasets.CIFAR100"),
    "mnist": (_read_mnist, "torchvision.datasets.MNIST"),
    "svhn": (_read_svhn, "torchvision.datasets.SVHN"),
    "tinyimagenet": (_read_tinyimagenet, f"tiny-imagenet-200 ({TINY_URL})"),
    "digits": (_read_digits, "sklearn.datasets.load_digits (bundled, no download)"),
}
BUNDLED = {"digits"}  # needs no cache file


# --------------------------------------------------------------------------- cache


def cache_path(root: Path, name: str) -> Path:
    return Path(root) / f"{name}.npz"


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def fingerprint_arrays(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in ARRAY_KEYS:
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _cached_fingerprint(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """The arrays' fingerprint, remembered beside the cache file (keyed by its size and mtime)."""
    side = path.with_name(path.name + ".fingerprint.json")
    stat = path.stat()
    key = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if side.exists():
        try:
            saved = json.loads(side.read_text())
            if saved.get("key") == key:
                return saved["fingerprint"]
        except (ValueError, KeyError):
            pass
    fp = fingerprint_arrays(arrays)
    try:
        side.write_text(json.dumps({"key": key, "fingerprint": fp}))
    except OSError:
        pass  # a read-only data root still works; the hash is just recomputed next time
    return fp


def _to_nchw(x: np.ndarray) -> torch.Tensor:
    if x.dtype != np.uint8:
        raise OsrbenchError(f"cached images must be uint8, found {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _missing_message(name: str, root: Path, source: str, detail: str) -> str:
    return (
        f"dataset {name!r} not found: looked for {cache_path(root, name)} and the originals under "
        f"{Path(root) / name} ({detail}). Run again with --download on a machine with internet "
        f"(source: {source}), or put a prepared {name}.npz (uint8 x_train/x_test as N,H,W,C with "
        f"y_train/y_test and classes) at that path; --data-root or $OSRBENCH_DATA choose the folder."
    )


@lru_cache(maxsize=4)
def load_arrays(name: str, root: Path, download: bool = False) -> ArrayDataset:
    """The dataset ``name`` as in-memory uint8 tensors, filling the cache on first use."""
    if name not in READERS:
        raise OsrbenchError(f"no reader for dataset {name!r}; known: {', '.join(sorted(READERS))}")
    reader, source = READERS[name]
    path = cache_path(root, name)
    if name in BUNDLED:
        arrays = dict(zip((*ARRAY_KEYS, "classes"), reader(Path(root), False)))
        fp = fingerprint_arrays(arrays)
    else:
        if not path.exists():
            try:
                x_tr, y_tr, x_te, y_te, classes = reader(Path(root) / name, download)
            except (FileNotFoundError, RuntimeError, OSError) as exc:
                raise OsrbenchError(_missing_message(name, root, source, f"{type(exc).__name__}: {exc}")) from None
            _atomic_savez(path, x_train=np.asarray(x_tr, np.uint8), y_train=np.asarray(y_tr, np.int64),
                          x_test=np.asarray(x_te, np.uint8), y_test=np.asarray(y_te, np.int64),
                          classes=np.asarray(classes))
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in (*ARRAY_KEYS, "classes") if k in f}
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise OsrbenchError(f"cannot read {path}: {exc}; delete it to rebuild it from the originals") from None
        missing = [k for k in ARRAY_KEYS if k not in arrays]
        if missing:
            raise OsrbenchError(f"{path} lacks the arrays {', '.join(missing)}; expected {', '.join(ARRAY_KEYS)}")
        fp = _cached_fingerprint(path, arrays)
    classes = [str(c) for c in arrays.get("classes", np.arange(int(arrays["y_train"].max()) + 1))]
    return ArrayDataset(
        name=name,
        x_train=_to_nchw(arrays["x_train"]),
        y_train=torch.from_numpy(np.asarray(arrays["y_train"], np.int64)),
        x_test=_to_nchw(arrays["x_test"]),
        y_test=torch.from_numpy(np.asarray(arrays["y_test"], np.int64)),
        classes=classes,
        fingerprint=fp,
    )
