"""The corrupted test sets of the ``corruption`` scorer: generated once and cached, or read prepared.

Generation uses the maintained ``imagecorruptions-imaug`` package (import name ``imagecorruptions``;
Hendrycks & Dietterich's code with ImageNet-C's severity constants, which were tuned for 224 px
images, so the numbers are not comparable with the published CIFAR-10-C arrays; see
methods/corruptions.md). The library corrupts one HxWxC image at a time, so the work is spread over
worker processes and each (corruption, severity) set is cached as a uint8 (N, C, H, W) ``.npy`` under
``<cache root>/<hash of the clean images>/<implementation>/``: a later run on the same images reads it.
The library needs images of at least 32 px: smaller ones are enlarged by an integer factor (pixel
repetition) and averaged back down afterwards. It returns colour images; grey inputs get the channel
mean back. Each chunk of images has its own seed, so the sets do not depend on the number of workers.

A prepared CIFAR-10-C style folder (``<corruption>.npy`` holding severities 1..5 stacked, 32x32x3,
in the test-set order of the protocol's dataset, and ``labels.npy``) is read instead when given.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from osrbench import OsrbenchError, Split
from osrbench_scorers.configs import COMMON

PACKAGE = "imagecorruptions-imaug"
MIN_SIZE = 32  # the library refuses smaller images
CHUNK = 100  # images per task; fixed, so that the per-chunk seeds do not depend on the number of workers
SEED = 0  # the corrupted sets are fixed test data, the same for every run, method and run seed


def implementation() -> str:
    """``"imagecorruptions-imaug 1.1.5"``, or a clear error naming the package to install."""
    try:
        import imagecorruptions  # noqa: F401

        return f"{PACKAGE} {version(PACKAGE)}"
    except (ImportError, PackageNotFoundError):
        raise OsrbenchError(
            f"scorer 'corruption' needs the {PACKAGE} package to generate corrupted test sets: "
            f"pip install {PACKAGE} (or pip install 'osrbench[corruptions]'), or give a prepared "
            "CIFAR-10-C style folder with --set corruption.prepared=DIR") from None


def upscale_factor(height: int, width: int) -> int:
    return math.ceil(MIN_SIZE / min(height, width)) if min(height, width) < MIN_SIZE else 1


def _init_worker() -> None:
    """One core per worker process."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import cv2

    cv2.setNumThreads(1)


def corrupt_chunk(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Corrupt uint8 (N, H, W, C) images one by one with the library (runs in a worker process)."""
    from imagecorruptions import corrupt

    n, height, width, channels = images.shape
    f = upscale_factor(height, width)
    out = np.empty_like(images)
    saved = np.random.get_state()
    np.random.seed(seed)  # the library draws its noise from numpy's global generator
    try:
        for i, image in enumerate(images):
            x = image.repeat(f, axis=0).repeat(f, axis=1) if f > 1 else image
            y = corrupt(x[..., 0] if channels == 1 else x, corruption_name=name, severity=severity).astype(np.float32)
            if channels == 1:
                y = y.mean(axis=2, keepdims=True)
            if f > 1:
                y = y.reshape(height, f, width, f, channels).mean(axis=(1, 3))
            out[i] = np.clip(np.round(y), 0, 255).astype(np.uint8)
    finally:
        np.random.set_state(saved)
    return out


def images_digest(images: torch.Tensor) -> str:
    a = np.ascontiguousarray(images.cpu().numpy())
    return hashlib.sha256(f"{a.shape}".encode() + a.tobytes()).hexdigest()[:16]


def _slug(text: str) -> str:
    return text.replace(" ", "-")


def set_path(folder: Path, name: str, severity: int) -> Path:
    return folder / f"{name}-{severity}.npy"


def find_cache(root: Path, images: torch.Tensor, wanted: list[tuple[str, int]]) -> tuple[Path, str]:
    """The cache folder to use and its implementation: the installed one, else an existing complete cache."""
    base = root / images_digest(images)
    try:
        impl = implementation()
        return base / _slug(impl), impl
    except OsrbenchError:
        for folder in sorted(base.glob("*/")):
            if all(set_path(folder, c, s).exists() for c, s in wanted):
                return folder, json.loads((folder / "info.json").read_text())["implementation"]
        raise


def _chunk_seed(name: str, severity: int, start: int) -> int:
    return int(np.random.SeedSequence([SEED, COMMON.index(name), severity, start]).generate_state(1)[0])


def _save_atomic(array: np.ndarray, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def generate_missing(images: torch.Tensor, wanted: list[tuple[str, int]], folder: Path, impl: str, workers: int,
                     progress) -> float:
    """Write every wanted set missing from ``folder``; returns the seconds spent (0 when all were cached)."""
    missing = [(c, s) for c, s in wanted if not set_path(folder, c, s).exists()]
    if not missing:
        return 0.0
    began = time.perf_counter()
    nhwc = np.ascontiguousarray(images.cpu().permute(0, 2, 3, 1).numpy())
    n, h, w = nhwc.shape[:3]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "info.json").write_text(json.dumps({
        "implementation": impl, "images": n, "shape": list(images.shape[1:]), "upscale_factor": upscale_factor(h, w),
        "seed": SEED, "chunk": CHUNK}, indent=1))
    tasks_per_set = math.ceil(n / CHUNK)
    workers = min(workers or len(os.sched_getaffinity(0)), tasks_per_set * len(missing))
    tasks = [(c, s, start) for c, s in missing for start in range(0, n, CHUNK)]
    buffers: dict[tuple[str, int], np.ndarray] = {}
    left = {key: math.ceil(n / CHUNK) for key in missing}

    def store(c: str, s: int, start: int, chunk: np.ndarray) -> None:
        buf = buffers.setdefault((c, s), np.empty_like(nhwc))
        buf[start:start + len(chunk)] = chunk
        left[(c, s)] -= 1
        if left[(c, s)] == 0:
            _save_atomic(np.ascontiguousarray(buffers.pop((c, s)).transpose(0, 3, 1, 2)), set_path(folder, c, s))

    with progress.task(f"corrupting {n} images ({len(missing)} sets, {workers} workers)", len(tasks)) as bar:
        if workers == 1:
            for c, s, start in tasks:
                store(c, s, start, corrupt_chunk(nhwc[start:start + CHUNK], c, s, _chunk_seed(c, s, start)))
                bar.advance()
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
                futures = {pool.submit(corrupt_chunk, nhwc[start:start + CHUNK], c, s, _chunk_seed(c, s, start)):
                           (c, s, start) for c, s, start in tasks}
                for future in as_completed(futures):
                    store(*futures[future], future.result())
                    bar.advance()
    return time.perf_counter() - began


def prepared_folder(option: str, split: Split, root: Path | None) -> Path | None:
    """The prepared folder to read: the option's path, or with ``auto`` ``<root>/CIFAR-10-C`` for CIFAR-10 splits."""
    if option in ("", "none"):
        return None
    if option != "auto":
        folder = Path(option)
        if not folder.is_dir():
            raise OsrbenchError(f"--set corruption.prepared={option}: no such folder")
        return folder
    if root is None or split.extras.get("dataset") != "cifar10":
        return None
    folder = Path(root) / "CIFAR-10-C"
    return folder if folder.is_dir() else None


class PreparedSets:
    """The known test samples of ``split`` from a CIFAR-10-C style folder; ``sets[(corruption, severity)]``."""

    def __init__(self, folder: Path, split: Split, wanted: list[tuple[str, int]]):
        known = split.extras.get("known_classes")
        if known is None:
            raise OsrbenchError(f"protocol {split.protocol!r} does not say which dataset classes are known; "
                                "cannot select its test samples from the prepared corruption arrays")
        for c in dict.fromkeys(c for c, _ in wanted):
            if not (folder / f"{c}.npy").exists():
                raise OsrbenchError(f"prepared folder {folder} has no {c}.npy; choose corruptions it has with "
                                    "--set corruption.corruptions=... or use --set corruption.prepared=none")
        labels = np.load(folder / "labels.npy")
        self.n = len(labels) // 5  # severities 1..5 stacked
        first = labels[:self.n]
        self.keep = np.isin(first, known)
        relabel = np.full(int(first.max()) + 1, -1)
        relabel[known] = np.arange(len(known))
        if (self.keep.sum() != len(split.test_images)
                or not np.array_equal(relabel[first[self.keep]], split.test_labels.cpu().numpy())):
            raise OsrbenchError(f"the prepared corruption arrays in {folder} do not match the known test set of "
                                f"{split.protocol} split {split.index} (labels differ); use --set corruption.prepared=none")
        self.folder = folder

    def __getitem__(self, key: tuple[str, int]) -> torch.Tensor:
        c, s = key
        block = np.load(self.folder / f"{c}.npy", mmap_mode="r")[(s - 1) * self.n:s * self.n]
        return torch.from_numpy(np.ascontiguousarray(block[self.keep].transpose(0, 3, 1, 2)))
