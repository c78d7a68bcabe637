"""Datasets as uint8 arrays: a per-dataset cache under the data root, filled by dataset plugins.

``<root>/<name>.npz`` holds ``x_train`` (N, H, W, C) uint8 with C = 1 or 3, ``y_train`` integer
labels, ``x_test``, ``y_test`` and ``classes`` (the class names in label order). Such a file is
read for ANY name, registered or not: a prepared file is all a new dataset needs. A dataset that a
plugin registers (``osrbench_datasets``) is read from its originals on first use and cached in
that place. The arrays are validated on every load. Each dataset's fingerprint is a hash of its
arrays, so results on different copies of a dataset are never mixed up.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from osrbench import safe_files
from osrbench.names import check_name
from osrbench.specs import DataOptions, DatasetSpec, OsrbenchError

if TYPE_CHECKING:
    import torch

DEFAULT_ROOT = Path(os.environ.get("OSRBENCH_DATA", Path.home() / ".cache" / "osrbench" / "data"))
ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")
LAYOUT = ("uint8 x_train/x_test as N,H,W,C with C = 1 or 3, integer y_train/y_test with one label per image, "
          "and classes, the class names in label order")


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


def cache_path(root: Path, name: str) -> Path:
    return Path(root) / f"{name}.npz"


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    """Write the cache through a temporary file of this writer's own: the processes of ``run --parallel`` may
    build the same missing cache at once (each then renames an identical file over it)."""
    safe_files.atomic_write(path, lambda f: np.savez(f, **arrays))


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
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    fp = fingerprint_arrays(arrays)
    try:
        safe_files.atomic_write_text(side, json.dumps({"key": key, "fingerprint": fp}))
    except OSError:
        pass  # a read-only data root still works; the hash is just recomputed next time
    return fp


def validate_arrays(arrays: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """``arrays`` (the ``ARRAY_KEYS`` and ``classes``) if they follow the layout; else one line naming
    ``where`` (the file or reader) and the field at fault."""
    def fail(key: str, problem: str) -> OsrbenchError:
        return OsrbenchError(f"{where}: field {key!r} {problem}; expected {LAYOUT}")

    missing = [k for k in ARRAY_KEYS if k not in arrays]
    if missing:
        raise fail(missing[0], "is missing")
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.dtype != np.uint8:
            raise fail(f"x_{part}", f"has dtype {x.dtype}, not uint8")
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise fail(f"x_{part}", f"has shape {x.shape}, not N,H,W,C with C = 1 or 3")
        if len(x) == 0:
            raise fail(f"x_{part}", "holds no images")
        if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) and y.dtype != np.bool_):
            raise fail(f"y_{part}", f"must be a 1-D integer array, got {y.dtype} of shape {y.shape}")
        if len(y) != len(x):
            raise fail(f"y_{part}", f"holds {len(y)} labels for the {len(x)} images of 'x_{part}'")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise fail("x_test", f"has images of shape {arrays['x_test'].shape[1:]}, x_train of "
                             f"{arrays['x_train'].shape[1:]}")
    classes = arrays.get("classes")
    if classes is None:
        classes = np.arange(int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1).astype(str)
    classes = np.asarray(classes)
    if classes.ndim != 1 or len(classes) == 0:
        raise fail("classes", f"must be a non-empty 1-D list of names, got shape {classes.shape}")
    for key in ("y_train", "y_test"):
        low, high = int(arrays[key].min()), int(arrays[key].max())
        if low < 0 or high >= len(classes):
            raise fail(key, f"has label {low if low < 0 else high}, outside the {len(classes)} classes 0.."
                            f"{len(classes) - 1}")
    return {**{k: arrays[k] for k in ARRAY_KEYS}, "classes": classes}


def _read_originals(spec: DatasetSpec, root: Path, download: bool) -> dict[str, np.ndarray]:
    try:
        arrays = spec.read(root / spec.name, download)
    except (FileNotFoundError, RuntimeError, OSError) as exc:
        raise OsrbenchError(
            f"dataset {spec.name!r} not found: looked for {cache_path(root, spec.name)} and the originals under "
            f"{root / spec.name} ({type(exc).__name__}: {exc}). Run again with --download on a machine with "
            f"internet (source: {spec.source}), or put a prepared {spec.name}.npz ({LAYOUT}) at that path; "
            f"--data-root or $OSRBENCH_DATA choose the folder."
        ) from None
    x_train, y_train, x_test, y_test, classes = arrays
    raw = {"x_train": np.asarray(x_train), "y_train": np.asarray(y_train), "x_test": np.asarray(x_test),
           "y_test": np.asarray(y_test), "classes": np.asarray([str(c) for c in classes])}
    return validate_arrays(raw, f"the reader of dataset {spec.name!r} ({spec.source})")


def _read_prepared(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in (*ARRAY_KEYS, "classes") if k in f}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise OsrbenchError(f"cannot read {path}: {exc}; delete it to rebuild it from the originals, or "
                            f"write it again") from None
    return validate_arrays(arrays, f"prepared dataset {path}")


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The images as (N, C, H, W) uint8 tensors and the labels as int64 tensors."""
    import torch  # here, not at the top: the CLI reads DEFAULT_ROOT without importing torch

    images = {k: torch.from_numpy(np.ascontiguousarray(arrays[k].transpose(0, 3, 1, 2))) for k in ("x_train", "x_test")}
    labels = {k: torch.from_numpy(arrays[k].astype(np.int64)) for k in ("y_train", "y_test")}
    return images | labels


_installed_datasets: Callable[[], Any] | None = None


def use_installed_datasets(registry: Callable[[], Any]) -> None:
    """Set where ``DataOptions.datasets = None`` looks for registered datasets: ``registry()`` returns
    the installed plugins' registry. The package's top wires it in (this module is below the plugins)."""
    global _installed_datasets
    _installed_datasets = registry


def _registered(name: str, options: DataOptions) -> DatasetSpec | None:
    """The spec registered as ``name`` in the registry ``options.datasets`` (None: the installed plugins')."""
    registry = options.datasets
    if registry is None and _installed_datasets is not None:
        registry = _installed_datasets()
    if registry is None:
        return None
    return registry.get(name) if name in registry or name in registry.clashes else None


def load_dataset(name: str, options: DataOptions) -> ArrayDataset:
    """The dataset ``name`` as in-memory uint8 tensors: a registered dataset (filling its cache file
    on first use) or any prepared ``<root>/<name>.npz``."""
    check_name(name, "dataset name")
    path = cache_path(Path(options.root), name)
    stamp = (path.stat().st_mtime_ns, path.stat().st_size) if path.is_file() else None  # a replaced file is re-read
    return _load(name, _registered(name, options), Path(options.root), options.download, stamp)


@lru_cache(maxsize=8)
def _load(name: str, spec: DatasetSpec | None, root: Path, download: bool, stamp: tuple | None) -> ArrayDataset:
    path = cache_path(root, name)
    if spec is not None and not spec.cache:
        arrays = _read_originals(spec, root, download)
        fingerprint = fingerprint_arrays(arrays)
    else:
        if not path.exists():
            if spec is None:
                raise OsrbenchError(
                    f"dataset {name!r} is not registered by any plugin (see `osrbench list datasets`) and there "
                    f"is no prepared {path}; write one ({LAYOUT}) or pass the folder that holds it with "
                    f"--data-root (or $OSRBENCH_DATA)")
            _atomic_savez(path, **_read_originals(spec, root, download))
        arrays = _read_prepared(path)
        fingerprint = _cached_fingerprint(path, arrays)
    return ArrayDataset(
        name=name,
        **_tensors(arrays),
        classes=[str(c) for c in arrays["classes"]],
        fingerprint=fingerprint,
    )
