"""``--set key=value`` overrides applied to plugin config dataclasses, with type checking.

Keys without a dot go to the method; ``NAME.key`` goes to the augmentation, postprocessor or scorer
called NAME.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from typing import Any

from osrbench.specs import OsrbenchError


def option(default: Any, help: str) -> Any:
    """A config dataclass field with its ``--help`` text (shown by ``osrbench list -v``)."""
    return dataclasses.field(default=default, metadata={"help": help})


def parse_overrides(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OsrbenchError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def split_overrides(overrides: dict[str, str], plugin_names: set[str]) -> dict[str, dict[str, str]]:
    """Group overrides by owner: '' for the method, otherwise the plugin named before the dot."""
    grouped: dict[str, dict[str, str]] = {"": {}}
    for key, value in overrides.items():
        owner, dot, field_name = key.partition(".")
        if not dot:
            grouped[""][key] = value
            continue
        if owner not in plugin_names:
            raise OsrbenchError(
                f"--set {key}: {owner!r} is not an augmentation, postprocessor or scorer of this run "
                f"(this run has: {', '.join(sorted(plugin_names)) or 'none'})"
            )
        grouped.setdefault(owner, {})[field_name] = value
    return grouped


def _convert(text: str, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        return _convert(text, args[0], key)
    if origin in (tuple, list):
        (inner, *_) = typing.get_args(typ) or (str,)
        values = [_convert(part.strip(), inner, key) for part in text.split(",") if part.strip()]
        return tuple(values) if origin is tuple else values
    if typ is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise OsrbenchError(f"--set {key}={text}: expected true or false")
    if typ in (int, float):
        try:
            value = typ(text)
        except ValueError:
            raise OsrbenchError(f"--set {key}={text}: expected a{'n' if typ is int else ''} {typ.__name__}") from None
        if not math.isfinite(value):
            raise OsrbenchError(f"--set {key}={text}: expected a finite number")
        return value
    return text


def build_config(cls: type, overrides: dict[str, str], owner: str) -> Any:
    """An instance of the dataclass ``cls`` with ``overrides`` applied (strings, type-converted)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, text in overrides.items():
        if key not in fields:
            raise OsrbenchError(
                f"--set: {owner} has no option {key!r}; valid keys: {', '.join(sorted(fields)) or 'none'}"
            )
        values[key] = _convert(text, hints[key], key)
    config = cls(**values)
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def config_dict(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def config_hash(*parts: Any) -> str:
    """A short stable hash of JSON-able config parts (used to tell non-default runs apart)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def describe_fields(cls: type) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) for each field; help comes from ``metadata={'help': ...}``."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "required"  # type: ignore[misc]
        )
        typ = hints[f.name]
        rows.append((f.name, getattr(typ, "__name__", str(typ)), repr(default), f.metadata.get("help", "")))
    return rows


def config_from_dict(cls: type, values: dict[str, Any], owner: str) -> Any:
    """An instance of the dataclass ``cls`` from stored JSON values (lists become tuples where the field is one)."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise OsrbenchError(f"{owner}: stored option {unknown[0]!r} is not an option of {cls.__name__} any more")
    hints = typing.get_type_hints(cls)
    converted = {k: tuple(v) if typing.get_origin(hints[k]) is tuple and isinstance(v, list) else v
                 for k, v in values.items()}
    try:
        return cls(**converted)
    except TypeError as exc:
        raise OsrbenchError(f"{owner}: stored options do not fit {cls.__name__} ({exc})") from None
