"""Rich progress bars that a ``--quiet`` run turns off."""

from __future__ import annotations

import io
import sys
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

T = TypeVar("T")
LOG_WIDTH = 10_000  # a stream that is not a terminal (a log, a pipe) gets no width limit: nothing wraps


class Unpadded(io.TextIOBase):
    """The standard stream (looked up on each write, as tests replace it) without the spaces that rich
    pads lines with: a log or a pipe gets no trailing whitespace."""

    def __init__(self, stderr: bool = False):
        self.stderr = stderr
        self.pending = ""

    @property
    def stream(self):
        return sys.stderr if self.stderr else sys.stdout

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        if lines:
            self.stream.write("".join(line.rstrip(" ") + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.stream.write(self.pending)
            self.pending = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return False


def console_for(stderr: bool = False) -> Console:
    """A console on stdout (or stderr): the terminal's width, or, when it is not a terminal, unlimited width
    (nothing wraps) and no trailing padding."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(file=Unpadded(stderr), width=LOG_WIDTH)


def titled(title: str, table, caption: str = "") -> Group:
    """``table`` under its title line (and above its caption): unlike a rich table's own title and caption,
    these are not wrapped to the table's width. ``title`` and ``caption`` are rich markup."""
    return Group(title, table, *([caption] if caption else []))


class Progress:
    """``track`` wraps an iterable in a bar; ``task`` gives a bar to advance and annotate by hand."""

    def __init__(self, quiet: bool = False, console: Console | None = None):
        self.quiet = quiet
        self.console = console or console_for(stderr=True)
        self._bars: RichProgress | None = None
        self._depth = 0

    @contextmanager
    def _live(self) -> Iterator[RichProgress]:
        if self._bars is None:
            self._bars = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=self.console, transient=True,
                # bars only on a terminal: in a log they would leave blank lines and never move
                disable=self.quiet or not self.console.is_terminal,
            )
            self._bars.start()
        self._depth += 1
        try:
            yield self._bars
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._bars.stop()
                self._bars = None

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator["TaskHandle"]:
        with self._live() as bars:
            task_id = bars.add_task(description, total=total, info="")
            try:
                yield TaskHandle(bars, task_id)
            finally:
                bars.remove_task(task_id)

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)  # type: ignore[arg-type]
        with self.task(description, total) as handle:
            for item in items:
                yield item
                handle.advance()

    def log(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message)

    def warn(self, message: str) -> None:
        """A warning, shown even when quiet; ``message`` is plain text (not rich markup)."""
        self.console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)


class TaskHandle:
    def __init__(self, bars: RichProgress, task_id):
        self._bars, self._id = bars, task_id

    def restart(self, total: int | None) -> None:
        """Start the bar again for ``total`` steps; a bar of one step is hidden (it would only flicker)."""
        self._bars.reset(self._id, total=total, visible=total is None or total > 1)

    def advance(self, n: int = 1, info: str | None = None) -> None:
        if info is None:
            self._bars.advance(self._id, n)
        else:
            self._bars.update(self._id, advance=n, info=info)
