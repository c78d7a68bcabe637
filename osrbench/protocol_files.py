"""Protocols as data: read and validate one protocol JSON file into a ``ProtocolSpec``.

A file names its dataset (and the dataset its unknowns come from), normalisation, whether
horizontal flips keep the class, the source of its split lists, and the splits themselves:
``{"known": [...], "unknown": [...]}`` with class indices of the datasets' own label order.
Known classes are relabelled 0..K-1 in the order listed.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import torch

from osrbench.api import DataOptions, OsrbenchError, ProtocolSpec, Split
from osrbench.data import load_arrays

REQUIRED = {
    "name": str, "description": str, "version": str, "source": str, "split_family": str,
    "dataset": str, "unknown_dataset": str, "mean": list, "std": list, "hflip": bool, "splits": list,
}


def _fail(path: Path, field: str, problem: str) -> OsrbenchError:
    return OsrbenchError(f"malformed protocol file {path}: field {field!r} {problem}")


def _validate(path: Path, data: Any) -> dict:
    if not isinstance(data, dict):
        raise _fail(path, "<root>", "must be a JSON object")
    for key, typ in REQUIRED.items():
        if key not in data:
            raise _fail(path, key, "is missing")
        if not isinstance(data[key], typ):
            raise _fail(path, key, f"must be a {typ.__name__}, got {type(data[key]).__name__}")
    if not data["splits"]:
        raise _fail(path, "splits", "is empty")
    for i, split in enumerate(data["splits"]):
        for part in ("known", "unknown"):
            values = split.get(part) if isinstance(split, dict) else None
            # An empty unknown list makes a closed-set protocol (every class known; OOD sets come from a scorer).
            if (not isinstance(values, list) or (part == "known" and not values)
                    or not all(isinstance(v, int) for v in values)):
                what = "a non-empty list" if part == "known" else "a list (empty for a closed-set protocol)"
                raise _fail(path, f"splits[{i}].{part}", f"must be {what} of class indices")
        if len(set(split["known"])) != len(split["known"]):
            raise _fail(path, f"splits[{i}].known", "lists a class twice")
        if data["dataset"] == data["unknown_dataset"] and set(split["known"]) & set(split["unknown"]):
            raise _fail(path, f"splits[{i}]", "has classes that are both known and unknown")
    if len(data["mean"]) != len(data["std"]):
        raise _fail(path, "std", "must have as many entries as mean")
    return data


def _select(x: torch.Tensor, y: torch.Tensor, classes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples whose label is in ``classes``, relabelled by position in ``classes``."""
    if not classes:
        return x[:0], y[:0]
    lookup = torch.full((int(y.max()) + 1,), -1, dtype=torch.long)
    lookup[torch.tensor(classes)] = torch.arange(len(classes))
    new = lookup[y]
    keep = new >= 0
    return x[keep], new[keep]


def _load_split(data: dict, index: int, options: DataOptions) -> Split:
    if not 0 <= index < len(data["splits"]):
        raise OsrbenchError(f"protocol {data['name']!r} has splits 0..{len(data['splits']) - 1}, not {index}")
    split = data["splits"][index]
    known_ds = load_arrays(data["dataset"], Path(options.root), options.download)
    unknown_ds = known_ds if data["unknown_dataset"] == data["dataset"] else load_arrays(
        data["unknown_dataset"], Path(options.root), options.download)
    x_tr, y_tr = _select(known_ds.x_train, known_ds.y_train, split["known"])
    x_te, y_te = _select(known_ds.x_test, known_ds.y_test, split["known"])
    x_un, y_un = _select(unknown_ds.x_test, unknown_ds.y_test, split["unknown"])
    fingerprint = known_ds.fingerprint if unknown_ds is known_ds else f"{known_ds.fingerprint}+{unknown_ds.fingerprint}"
    return Split(
        protocol=data["name"], index=index,
        train_images=x_tr, train_labels=y_tr, test_images=x_te, test_labels=y_te,
        unknown_images=x_un, unknown_labels=y_un,
        class_names=[known_ds.classes[c] for c in split["known"]],
        unknown_class_names=[unknown_ds.classes[c] for c in split["unknown"]],
        mean=tuple(data["mean"]), std=tuple(data["std"]),
        fingerprint=fingerprint, split_family=data["split_family"], hflip=data["hflip"],
        extras={"protocol_version": data["version"], "dataset": data["dataset"], "known_classes": list(split["known"])},
    )


def load_protocol_file(path: Path | str) -> ProtocolSpec:
    path = Path(path)
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise OsrbenchError(f"malformed protocol file {path}: not valid JSON ({exc})") from None
    data = _validate(path, data)
    return ProtocolSpec(
        name=data["name"], description=data["description"], n_splits=len(data["splits"]),
        split_family=data["split_family"], source=data["source"], version=data["version"],
        load=partial(_load_split, data),
    )
