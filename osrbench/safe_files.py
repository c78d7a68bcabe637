"""Files in the results dir: written without following symbolic links, read with bounds.

Everything under the results dir may have been planted by someone else. osrbench writes there
only through temporary files it creates exclusively (``O_EXCL | O_NOFOLLOW``, a fresh name in the
target folder) and renames into place, refuses a run whose folders are symbolic links, and reads
a file only if it is a regular file of bounded size holding JSON of bounded depth: a FIFO, a huge
file or a record nested 100,000 levels deep is one clear error, never a hang or a crash.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

from osrbench.specs import OsrbenchError

MAX_TEXT_BYTES = 32 * 2**20  # records with long curves stay far below this
MAX_JSON_DEPTH = 64  # a record nests ~6 levels (metrics.pp.scorer.key.list.point)


class UnreadableFile(ValueError):
    """A file that is not a regular file, too large, or not bounded JSON."""


def refuse_links(root: Path, path: Path) -> None:
    """OsrbenchError if ``path`` or any folder between ``root`` and it is a symbolic link.

    ``root`` itself may be a link (the user chose it); below it osrbench never follows one.
    """
    root, path = Path(root), Path(path)
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise OsrbenchError(f"{path} lies outside the results dir {root}") from None
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise OsrbenchError(f"{current} is a symbolic link inside the results dir; osrbench never writes or "
                                "deletes through links there: remove the link (or point --results-dir at the "
                                "real folder)")


def refuse_links_within(folder: Path) -> None:
    """OsrbenchError if anything inside ``folder`` (walked without following links) is a symbolic link."""
    for parent, dirs, files in os.walk(folder, followlinks=False):
        for name in [*dirs, *files]:
            refuse_links(folder, Path(parent) / name)


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through an exclusively created temporary file in its folder, flushed to disk and
    renamed over ``path`` (a link at ``path`` is replaced, never followed). On any failure (a full disk)
    the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def read_text(path: Path, limit: int = MAX_TEXT_BYTES, follow_links: bool = False) -> str:
    """The UTF-8 text of the regular file ``path`` (at most ``limit`` bytes).

    OSError if it cannot be opened (missing, or a link when ``follow_links`` is false);
    UnreadableFile if it is not a regular file or is too large; UnicodeDecodeError if not text.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_links else os.O_NOFOLLOW)  # a FIFO must not block
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile("not a regular file")
        if info.st_size > limit:
            raise UnreadableFile(f"{info.st_size} bytes, more than the {limit} this file may have")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnreadableFile(f"more than the {limit} bytes this file may have")
    return data.decode("utf-8")


def depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (counted without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def loads(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Standard JSON (no NaN or Infinity) nested at most ``max_depth`` levels; ValueError otherwise
    (``json.JSONDecodeError`` for bad syntax, UnreadableFile for the rest)."""
    def no_constant(name: str) -> Any:
        raise UnreadableFile(f"holds {name}, which standard JSON does not allow")

    try:
        value = json.loads(text, parse_constant=no_constant)
    except RecursionError:
        raise UnreadableFile(f"nested more than {max_depth} levels deep") from None
    if depth(value) > max_depth:
        raise UnreadableFile(f"nested more than {max_depth} levels deep")
    return value


def dumps(value: Any) -> str:
    """Standard JSON text (ValueError for NaN or infinity) as records are stored."""
    return json.dumps(value, indent=1, sort_keys=True, allow_nan=False) + "\n"
