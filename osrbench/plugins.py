"""Plugin discovery: load every ``osrbench`` entry point and build one registry per plugin kind.

Every source of names fails alone: a plugin that does not import, a hook that raises, a spec with
an invalid name, a malformed protocol file, a missing search-path folder is recorded in
``Plugins.failures`` (shown by ``osrbench list`` and by the error for a name that is missing) and
the others load. Two sources registering the same name is not fatal either: the name becomes
unusable and asking for it is an error that names both sources.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Generic, Iterator, TypeVar

import pluggy

from osrbench import hookspecs
from osrbench.specs import OsrbenchError, ProtocolSpec
from osrbench.names import name_problem
from osrbench.protocol_files import load_protocol_file, protocol_files_in

T = TypeVar("T")

KINDS = {
    "protocols": "osrbench_protocols",
    "methods": "osrbench_methods",
    "augmentations": "osrbench_augmentations",
    "scorers": "osrbench_scorers",
    "datasets": "osrbench_datasets",
    "executors": "osrbench_executors",
    "postprocessors": "osrbench_postprocessors",
}
SINGULAR = {"protocols": "protocol", "methods": "method", "augmentations": "augmentation", "scorers": "scorer",
            "datasets": "dataset", "executors": "executor", "postprocessors": "postprocessor"}
SEARCH_PATH = "OSRBENCH_PROTOCOLS"
INSTALLATION = "installation"
NOT_INSTALLED = ("no osrbench plugins are installed (the entry points of group 'osrbench' are missing, e.g. in a "
                 "source tree that was never installed): run `pip install -e .` in the osrbench folder")


def failure_line(source: str, error: str) -> str:
    """One entry of ``Plugins.failures`` as a sentence."""
    return error if source == INSTALLATION else f"{source} failed to load: {error}"


@dataclass
class Entry(Generic[T]):
    spec: T
    plugin: str  # entry-point name ($OSRBENCH_PROTOCOLS for the search path)
    distribution: str  # the installed distribution that provides it
    file: Path | None = None  # the protocol file it was read from, if any

    @property
    def origin(self) -> str:
        """Where the name comes from, for listings and clash messages."""
        where = f"plugin {self.plugin!r} (distribution {self.distribution})"
        if self.file is None:
            return where
        return f"file {self.file}" + ("" if self.plugin == f"${SEARCH_PATH}" else f" of {where}")


@dataclass
class Registry(Generic[T]):
    kind: str
    entries: dict[str, Entry[T]] = field(default_factory=dict)
    clashes: dict[str, list[Entry[T]]] = field(default_factory=dict)  # names given by several sources
    failures: dict[str, str] = field(default_factory=dict)  # shared with Plugins: what failed to load

    def add(self, entry: Entry[T]) -> None:
        name = entry.spec.name  # type: ignore[attr-defined]
        problem = name_problem(name)
        if problem:
            raise OsrbenchError(f"{entry.origin} registers the {SINGULAR[self.kind]} {problem}")
        if name in self.clashes:
            self.clashes[name].append(entry)
        elif name in self.entries:
            self.clashes[name] = [self.entries.pop(name), entry]
        else:
            self.entries[name] = entry

    def get(self, name: str) -> T:
        if name in self.entries:
            return self.entries[name].spec
        if name in self.clashes:
            sources = " and ".join(e.origin for e in self.clashes[name])
            raise OsrbenchError(f"the {SINGULAR[self.kind]} {name!r} is registered twice, by {sources}; "
                                f"uninstall, remove or rename one of them")
        known = sorted(self.entries)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        failed = "".join(f" {failure_line(source, error)}." for source, error in self.failures.items())
        raise OsrbenchError(
            f"unknown {SINGULAR[self.kind]} {name!r}.{hint} Known {self.kind}: {', '.join(known) or 'none'} "
            f"(see `osrbench list {self.kind}`).{failed}"
        )

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self.entries.values(), key=lambda e: e.spec.name))  # type: ignore[attr-defined]

    def __contains__(self, name: str) -> bool:
        return name in self.entries


@dataclass
class Plugins:
    """The registries, the hook caller for observer hooks, and what failed to load (source -> error)."""

    protocols: Registry
    methods: Registry
    augmentations: Registry
    scorers: Registry
    datasets: Registry
    executors: Registry
    postprocessors: Registry
    hook: Any
    failures: dict[str, str]

    def registry(self, kind: str) -> Registry:
        return getattr(self, kind)

    def clashes(self) -> list[str]:
        """One line per name that several sources register."""
        return [f"{SINGULAR[kind]} {name!r} is registered by " + " and ".join(e.origin for e in entries)
                for kind in KINDS for name, entries in self.registry(kind).clashes.items()]

    def protocol(self, name_or_path: str) -> ProtocolSpec:
        """A registered protocol by name, or the protocol file at a path (anything ending in .json)."""
        if not name_or_path.endswith(".json"):
            return self.protocols.get(name_or_path)
        path = Path(name_or_path)
        if not path.is_file():
            raise OsrbenchError(f"--protocol {name_or_path}: no such protocol file")
        spec = load_protocol_file(path)
        same = self.protocols.entries.get(spec.name)
        if same is not None and (same.file is None or same.file.resolve() != path.resolve()):
            raise OsrbenchError(f"protocol file {path} is named {spec.name!r} like the protocol of {same.origin}; "
                                f"give it another \"name\" so that their records stay apart")
        return spec


def _distribution_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown"


def _fail(failures: dict[str, str], source: str, error: str) -> None:
    failures[source] = f"{failures[source]}; {error}" if source in failures else error


def _search_path_files(search_path: str, failures: dict[str, str]) -> Iterator[tuple[str, str, Path]]:
    """(plugin, distribution, file) for each protocol file in the search path's folders."""
    for folder in filter(None, search_path.split(":")):
        if not Path(folder).is_dir():
            _fail(failures, f"${SEARCH_PATH} folder {folder}", "no such folder")
            continue
        for path in protocol_files_in(Path(folder)):
            yield f"${SEARCH_PATH}", "search path", path


def _plugin_files(pm: pluggy.PluginManager, sources: dict[str, str],
                  failures: dict[str, str]) -> Iterator[tuple[str, str, Path]]:
    """(plugin, distribution, file) for each protocol file that a plugin provides."""
    for impl in pm.hook.osrbench_protocol_files.get_hookimpls():
        try:
            paths = [Path(p) for p in impl.function() or []]
        except Exception as exc:
            _fail(failures, f"plugin {impl.plugin_name!r}", f"{type(exc).__name__} in osrbench_protocol_files: {exc}")
            continue
        for path in (f for p in paths for f in protocol_files_in(p)):
            yield impl.plugin_name, sources.get(impl.plugin_name, "unknown"), path


def build_plugins(eps: list[EntryPoint] | None = None, extra: dict[str, Any] | None = None,
                  search_path: str | None = None) -> Plugins:
    """Load plugins from entry points (default: the ``osrbench`` group), ``extra`` objects and the
    protocol files of ``search_path`` (folders separated by ``:``; default ``$OSRBENCH_PROTOCOLS``)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    failures: dict[str, str] = {}
    sources: dict[str, str] = {}
    eps = list(entry_points(group=hookspecs.PROJECT)) if eps is None else eps
    if not eps:
        failures[INSTALLATION] = NOT_INSTALLED
    for ep in sorted(eps, key=lambda e: e.name):
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not break the others
            _fail(failures, f"plugin {ep.name!r}", f"{type(exc).__name__}: {exc}")
            continue
        sources[ep.name] = _distribution_name(ep)
    for name, obj in (extra or {}).items():
        pm.register(obj, name=name)
        sources[name] = "in-process"

    registries = {kind: Registry(kind, failures=failures) for kind in KINDS}

    def add(kind: str, entry: Entry) -> None:
        try:
            registries[kind].add(entry)
        except OsrbenchError as exc:
            _fail(failures, f"plugin {entry.plugin!r}", str(exc))

    for kind, hook_name in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            try:
                specs = list(impl.function() or [])
            except Exception as exc:
                _fail(failures, f"plugin {impl.plugin_name!r}", f"{type(exc).__name__} in {hook_name}: {exc}")
                continue
            for spec in specs:
                add(kind, Entry(spec, impl.plugin_name, sources.get(impl.plugin_name, "unknown")))
    search_path = os.environ.get(SEARCH_PATH, "") if search_path is None else search_path
    files = [*_plugin_files(pm, sources, failures), *_search_path_files(search_path, failures)]
    for plugin, distribution, path in files:  # each file fails alone
        try:
            spec = load_protocol_file(path)
        except OsrbenchError as exc:
            _fail(failures, f"protocol file {path}", str(exc))
            continue
        add("protocols", Entry(spec, plugin, distribution, file=path))
    return Plugins(hook=pm.hook, failures=failures, **registries)


@lru_cache(maxsize=1)
def load_plugins() -> Plugins:
    """The installed plugins, loaded once per process."""
    return build_plugins()


def installed_datasets() -> Registry:
    """The installed plugins' datasets: the registry a ``DataOptions`` without one uses."""
    return load_plugins().datasets
