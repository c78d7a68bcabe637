"""A record's identity: everything that produced its training, so a finished record is reused only when
all of it matches the run that asks for it.

The identity is the method, its version and its config, the augmentation and its config, the protocol's name,
version and split family, a hash of the split's class lists, the data fingerprint, the ``--limit``,
the seed and, for a CPU run (whose numbers depend on it), the CPU thread count. Postprocessor and
scorer options are not part of it: what differs there is scored again from the kept weights
(``Evaluation.todo``). A field an older record lacks (``split_hash``, ``cost.cpu_threads``, a config
option added since, when the run uses its default) is unknown and not held against it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from osrbench.specs import FIRST_METHOD_VERSION
from osrbench.types import Split

THREADS = re.compile(r"\b(\d+) threads\b")


def split_hash(split: Split) -> str:
    """A short hash of the split's class lists (known and unknown, in order)."""
    lists = {"known": split.extras.get("known_classes", split.class_names),
             "unknown": split.extras.get("unknown_classes", split.unknown_class_names)}
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()[:16]


def cpu_threads(record: dict[str, Any]) -> int | None:
    """The CPU thread count of a CPU record (``cost.cpu_threads``, or read from ``cost.device`` in older
    records); None for other devices or where it is unknown."""
    cost = record.get("cost") or {}
    if cost.get("device_type", "cpu") != "cpu":
        return None
    if isinstance(cost.get("cpu_threads"), int):
        return cost["cpu_threads"]
    found = THREADS.search(str(cost.get("device", "")))
    return int(found.group(1)) if found else None


def record_identity(record: dict[str, Any]) -> dict[str, Any]:
    """The identity a record carries (None where the record does not say)."""
    config = record.get("config") or {}
    return {
        "method": record.get("method"), "method version": record.get("method_version", FIRST_METHOD_VERSION),
        "method config": config.get("method"),
        "augmentation": record.get("augmentation"), "augmentation config": config.get("augmentation"),
        "protocol": record.get("protocol"), "protocol version": record.get("protocol_version"),
        "split family": record.get("split_family"), "split classes": record.get("split_hash"),
        "data fingerprint": record.get("data_fingerprint"), "limit": record.get("limit"),
        "seed": record.get("seed"), "CPU threads": cpu_threads(record),
    }


def _config_changes(part: str, stored: Any, wanted: Any, defaults: dict[str, Any]) -> list[str]:
    if not isinstance(stored, dict) or not isinstance(wanted, dict):
        return [] if stored == wanted else [f"{part} {stored} -> {wanted}"]
    changes = []
    for key in sorted(set(stored) | set(wanted)):
        if key not in stored and wanted.get(key) == defaults.get(key):
            continue  # an option added since the record was made, used at its default
        if stored.get(key, "unset") != wanted.get(key, "unset"):
            changes.append(f"{part} {key} {stored.get(key, 'unset')!r} -> {wanted.get(key, 'unset')!r}")
    return changes


UNKNOWN_IN_OLD_RECORDS = ("split classes", "CPU threads")


def differences(stored: dict[str, Any], wanted: dict[str, Any],
                defaults: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """What differs between a record's identity and a run's, one phrase each (``seed 0 -> 1``); empty when
    the record may be reused. ``defaults``: the default config per config part (``method config``, ...).
    A wanted value of None is not compared (the run does not know it, e.g. a sweep's thread count)."""
    defaults = defaults or {}
    changes = []
    for key, value in wanted.items():
        if value is None and key in UNKNOWN_IN_OLD_RECORDS:
            continue
        old = stored.get(key)
        if key in UNKNOWN_IN_OLD_RECORDS and old is None:
            continue
        if key.endswith("config"):
            changes += _config_changes(key, old, value, defaults.get(key, {}))
        elif old != value:
            changes.append(f"{key} {old!r} -> {value!r}")
    return changes
