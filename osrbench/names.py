"""The one pattern for names that become folder names: plugin names, protocol and dataset names.

A name is a path component of a record (``<results>/<protocol>/<label>/...``) or a data file
(``<data-root>/<name>.npz``), so it may hold letters, digits and ``_ . + @ -`` only: never ``/``,
never ``..``, never empty. Leaderboard rows are written ``LABEL/POSTPROCESSOR``, which the missing
``/`` keeps unambiguous.
"""

from __future__ import annotations

import re

from osrbench.specs import OsrbenchError

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.+@-]+")
RULE = "letters, digits and _ . + @ - only, no '..'"


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid name, or None when it is."""
    if not isinstance(name, str):
        return f"must be a string, got {type(name).__name__}"
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        return f"{name!r} is not a valid name ({RULE})"
    return None


def check_name(name: object, what: str) -> str:
    """``name`` if valid; otherwise an ``OsrbenchError`` naming ``what`` (e.g. "plugin 'x': method")."""
    problem = name_problem(name)
    if problem:
        raise OsrbenchError(f"{what}: {problem}")
    return name  # type: ignore[return-value]
