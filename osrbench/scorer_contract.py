"""The scorer contract: what ``ScorerSpec.score`` may return, checked before anything is recorded.

A scorer returns an object of metrics: names to numbers, notes (text that is not a number), null,
and lists or objects of those (curves, tables), with ``plots`` a list of file names. numpy and
torch scalars and arrays are taken as the plain numbers and lists they hold; a NaN or infinite
number becomes null (undefined). Anything else (a bare number, a number as text, an object) is a
``ScorerContractViolation`` naming the scorer and the metric, so a record holds only what its
reader accepts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from osrbench.types import OsrbenchError
from osrbench.safe_files import MAX_JSON_DEPTH

MAX_DEPTH = MAX_JSON_DEPTH - 8  # the record adds metrics.pp.scorer above a scorer's result


class ScorerContractViolation(OsrbenchError):
    """A scorer returned something a record cannot hold."""


def _plain(value: Any, name: str, level: int) -> Any:
    if level > MAX_DEPTH:
        raise ValueError(f"{name} nests more than {MAX_DEPTH} levels deep")
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        value = value.tolist() if not isinstance(value, torch.Tensor) else value.detach().cpu().tolist()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError(f"{name} is the text {value!r}; return the number itself")
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{name}[{i}]", level + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"{name} has a key that is not text")
        return {k: _plain(v, f"{name}.{k}", level + 1) for k, v in value.items()}
    raise ValueError(f"{name} is a {type(value).__name__}, not a number, text, list or object")


def checked_result(scorer: str, result: Any) -> dict[str, Any]:
    """``result`` as plain JSON data if it keeps the contract; else ScorerContractViolation naming ``scorer``."""
    try:
        if not isinstance(result, dict):
            raise ValueError(f"it returned a {type(result).__name__}, not an object of metrics {{name: value}}")
        plain = _plain(result, "metric", 0)
        plots = plain.get("plots", [])
        if not (isinstance(plots, list) and all(isinstance(p, str) for p in plots)):
            raise ValueError("metric 'plots' must be a list of file names")
    except ValueError as exc:
        raise ScorerContractViolation(f"scorer {scorer!r} breaks the scorer contract: {exc}") from None
    return plain
