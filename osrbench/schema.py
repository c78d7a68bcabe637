"""Record schema versions: schema-1 records (one metrics table per scorer) are read as schema 2.

Schema 2 keeps metrics per postprocessor, then per scorer: ``record["metrics"][pp][scorer][key]``,
with each postprocessor's config under ``config.postprocessors`` and the scoring seconds under
``cost.score_seconds[pp][scorer]``. A schema-1 record was scored by its method's own ``predict``,
so its metrics become the postprocessor named after the method; the former baseline methods
``msp`` and ``mls`` were one cross-entropy training each and become method ``ce`` with that
postprocessor (label ``msp+mixup@…`` -> ``ce+mixup@…``).
"""

from __future__ import annotations

from typing import Any

CURRENT = 2
# Schema-1 methods that are now a postprocessor of another method.
RENAMED_METHODS = {"msp": "ce", "mls": "ce"}


def _renamed(text: str | None, old: str, new: str) -> str | None:
    """``text`` with the leading method name ``old`` replaced by ``new`` (for names and labels)."""
    if text is None or not (text == old or text.startswith((f"{old}+", f"{old}@"))):
        return text
    return new + text[len(old):]


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` in the current schema (a new dict; records of the current schema are returned as they are)."""
    if record.get("schema") != 1:
        return record
    method = record.get("method")
    postprocessor = method
    new_method = RENAMED_METHODS.get(method, method)
    config = dict(record.get("config") or {})
    config["postprocessors"] = {postprocessor: {}}
    cost = dict(record.get("cost") or {})
    cost["score_seconds"] = {postprocessor: cost.get("score_seconds", {})}
    return {
        **record, "schema": CURRENT, "method": new_method,
        "name": _renamed(record.get("name"), method, new_method),
        "label": _renamed(record.get("label"), method, new_method),
        "metrics": {postprocessor: record.get("metrics", {})},
        "config": config, "cost": cost, "limit": None,
    }
