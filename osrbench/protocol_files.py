"""Protocols as data: read and validate one protocol JSON file into a ``ProtocolSpec``.

A file names its dataset (and the dataset its unknowns come from), normalisation, whether
horizontal flips keep the class, the source of its split lists, and the splits themselves:
``{"known": [...], "unknown": [...]}`` with class indices of the datasets' own label order.
Known classes are relabelled 0..K-1 in the order listed. Every field is described in
``docs/plugins.md``. Class indices are checked against the datasets when a split is loaded,
before anything trains.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osrbench import safe_files
from osrbench.data import ArrayDataset, load_dataset
from osrbench.names import name_problem
from osrbench.specs import DataOptions, OsrbenchError, ProtocolSpec

if TYPE_CHECKING:
    import torch

    from osrbench.types import Split

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
    for key in ("name", "dataset", "unknown_dataset"):
        problem = name_problem(data[key])
        if problem:
            raise _fail(path, key, problem)
    if not isinstance(data.get("quirks", []), list) or not all(isinstance(q, str) for q in data.get("quirks", [])):
        raise _fail(path, "quirks", "must be a list of strings (optional)")
    if not data["splits"]:
        raise _fail(path, "splits", "is empty")
    for i, split in enumerate(data["splits"]):
        for part in ("known", "unknown"):
            values = split.get(part) if isinstance(split, dict) else None
            # An empty unknown list makes a closed-set protocol (every class known; OOD sets come from a scorer).
            # type(v) is int: JSON true/false are bools, which Python would count as the classes 1 and 0
            if (not isinstance(values, list) or (part == "known" and not values)
                    or not all(type(v) is int and v >= 0 for v in values)):
                what = "a non-empty list" if part == "known" else "a list (empty for a closed-set protocol)"
                raise _fail(path, f"splits[{i}].{part}", f"must be {what} of class indices (integers >= 0)")
        if len(split["known"]) < 2:
            raise _fail(path, f"splits[{i}].known", "must list at least 2 classes (a classifier needs two to tell "
                                                  "apart; use a closed-set scorer's OOD sets for one-class detection)")
        for part in ("known", "unknown"):
            if len(set(split[part])) != len(split[part]):
                raise _fail(path, f"splits[{i}].{part}", "lists a class twice")
        if data["dataset"] == data["unknown_dataset"] and set(split["known"]) & set(split["unknown"]):
            raise _fail(path, f"splits[{i}]", "has classes that are both known and unknown")
    if not data["mean"]:
        raise _fail(path, "mean", "is empty")
    if len(data["mean"]) != len(data["std"]):
        raise _fail(path, "std", "must have as many entries as mean")
    for key in ("mean", "std"):
        if (not all(type(v) in (int, float) and math.isfinite(v) for v in data[key])
                or (key == "std" and min(data[key], default=1) <= 0)):
            raise _fail(path, key, "must be a list of finite numbers" + (" > 0" if key == "std" else ""))
    return data


def _check_classes(data: dict, index: int, part: str, ds: ArrayDataset) -> None:
    out = [c for c in data["splits"][index][part] if c >= len(ds.classes)]
    if out:
        raise OsrbenchError(f"protocol {data['name']!r} split {index}: {part} class {out[0]} does not exist; dataset "
                            f"{ds.name!r} has the classes 0..{len(ds.classes) - 1}")


def _select(x: torch.Tensor, y: torch.Tensor, classes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples whose label is in ``classes``, relabelled by position in ``classes``."""
    import torch  # here, not at the top: reading protocol files (``osrbench list``) needs no torch

    if not classes:
        return x[:0], y[:0]
    lookup = torch.full((max(int(y.max()), *classes) + 1,), -1, dtype=torch.long)
    lookup[torch.tensor(classes)] = torch.arange(len(classes))
    new = lookup[y]
    keep = new >= 0
    return x[keep], new[keep]


def _load_split(data: dict, index: int, options: DataOptions) -> Split:
    from osrbench.types import Split

    if not 0 <= index < len(data["splits"]):
        raise OsrbenchError(f"protocol {data['name']!r} has splits 0..{len(data['splits']) - 1}, not {index}")
    split = data["splits"][index]
    known_ds = load_dataset(data["dataset"], options)
    unknown_ds = known_ds if data["unknown_dataset"] == data["dataset"] else load_dataset(
        data["unknown_dataset"], options)
    _check_classes(data, index, "known", known_ds)
    _check_classes(data, index, "unknown", unknown_ds)
    if unknown_ds.x_test.shape[1:] != known_ds.x_train.shape[1:]:
        raise OsrbenchError(f"protocol {data['name']!r}: the unknown dataset {unknown_ds.name!r} has images of shape "
                            f"{tuple(unknown_ds.x_test.shape[1:])} (C, H, W), the known dataset "
                            f"{known_ds.name!r} {tuple(known_ds.x_train.shape[1:])}; they must agree")
    if len(data["mean"]) != known_ds.x_train.shape[1]:
        raise OsrbenchError(f"protocol {data['name']!r}: mean and std have {len(data['mean'])} entries, the images of "
                            f"{known_ds.name!r} {known_ds.x_train.shape[1]} channels")
    x_tr, y_tr = _select(known_ds.x_train, known_ds.y_train, split["known"])
    x_te, y_te = _select(known_ds.x_test, known_ds.y_test, split["known"])
    x_un, y_un = _select(unknown_ds.x_test, unknown_ds.y_test, split["unknown"])
    for part, labels, ds, classes in (("training", y_tr, known_ds, split["known"]), ("test", y_te, known_ds, split["known"]),
                                      ("test", y_un, unknown_ds, split["unknown"])):
        empty = [c for i, c in enumerate(classes) if not bool((labels == i).any())]
        if empty:
            raise OsrbenchError(f"protocol {data['name']!r} split {index}: class {empty[0]} "
                                f"({ds.classes[empty[0]]!r}) has no {part} images in dataset {ds.name!r}; "
                                "drop it from the split or add its images to the dataset")
    fingerprint = known_ds.fingerprint if unknown_ds is known_ds else f"{known_ds.fingerprint}+{unknown_ds.fingerprint}"
    return Split(
        protocol=data["name"], index=index,
        train_images=x_tr, train_labels=y_tr, test_images=x_te, test_labels=y_te,
        unknown_images=x_un, unknown_labels=y_un,
        class_names=[known_ds.classes[c] for c in split["known"]],
        unknown_class_names=[unknown_ds.classes[c] for c in split["unknown"]],
        mean=tuple(data["mean"]), std=tuple(data["std"]),
        fingerprint=fingerprint, split_family=data["split_family"], hflip=data["hflip"],
        extras={"protocol_version": data["version"], "dataset": data["dataset"], "known_classes": list(split["known"]),
                "unknown_classes": list(split["unknown"])},
    )


def protocol_files_in(path: Path) -> list[Path]:
    """``path`` itself if it is a file, else the ``*.json`` files of the folder, sorted."""
    return sorted(Path(path).glob("*.json")) if Path(path).is_dir() else [Path(path)]


def load_protocol_file(path: Path | str) -> ProtocolSpec:
    path = Path(path)
    try:
        data = safe_files.loads(safe_files.read_text(path, limit=2**22, follow_links=True))
    except OSError as exc:
        raise OsrbenchError(f"cannot read protocol file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise OsrbenchError(f"malformed protocol file {path}: not valid JSON ({exc})") from None
    data = _validate(path, data)
    return ProtocolSpec(
        name=data["name"], description=data["description"], n_splits=len(data["splits"]),
        split_family=data["split_family"], source=data["source"], version=data["version"],
        load=partial(_load_split, data), definition=data,
    )


def protocol_copy(spec: ProtocolSpec) -> dict[str, Any] | None:
    """What a record keeps of a protocol read from a file: its content and that content's hash."""
    if spec.definition is None:
        return None
    return {"sha256": definition_hash(spec.definition), "content": spec.definition}


def definition_hash(definition: Any) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


def restore_protocol_file(copy: Any, folder: Path, where: str) -> Path:
    """Write a record's protocol copy (``protocol_copy``) as a protocol file in ``folder``, after checking
    that its content matches its hash; the file is then read like any other protocol file."""
    if not (isinstance(copy, dict) and isinstance(copy.get("content"), dict)
            and copy.get("sha256") == definition_hash(copy["content"])):
        raise OsrbenchError(f"{where}: the protocol copy in the record is damaged (its content does not match "
                            "its sha256); point $OSRBENCH_PROTOCOLS at the protocol file instead")
    path = Path(folder) / f"protocol-{copy['sha256'][:12]}.json"
    safe_files.atomic_write_text(path, json.dumps(copy["content"], indent=1))
    return path
