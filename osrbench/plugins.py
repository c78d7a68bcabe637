"""Plugin discovery: load every ``osrbench`` entry point and build one registry per plugin kind.

A plugin that fails to import is recorded with its error and skipped, so one broken plugin never
takes down the others. Two plugins registering the same name is an error that names both.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, Iterator, TypeVar

import pluggy

from osrbench import hookspecs
from osrbench.api import OsrbenchError

T = TypeVar("T")

KINDS = {
    "protocols": "osrbench_protocols",
    "methods": "osrbench_methods",
    "augmentations": "osrbench_augmentations",
    "scorers": "osrbench_scorers",
    "executors": "osrbench_executors",
}
SINGULAR = {"protocols": "protocol", "methods": "method", "augmentations": "augmentation", "scorers": "scorer",
            "executors": "executor"}


@dataclass
class Entry(Generic[T]):
    spec: T
    plugin: str  # entry-point name
    distribution: str  # the installed distribution that provides it


@dataclass
class Registry(Generic[T]):
    kind: str
    entries: dict[str, Entry[T]] = field(default_factory=dict)

    def add(self, spec: T, plugin: str, distribution: str) -> None:
        name = spec.name  # type: ignore[attr-defined]
        if name in self.entries:
            first = self.entries[name]
            raise OsrbenchError(
                f"two plugins register the {SINGULAR[self.kind]} {name!r}: "
                f"{first.plugin!r} (distribution {first.distribution}) and {plugin!r} "
                f"(distribution {distribution}); uninstall or rename one of them"
            )
        self.entries[name] = Entry(spec, plugin, distribution)

    def get(self, name: str) -> T:
        if name in self.entries:
            return self.entries[name].spec
        known = sorted(self.entries)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise OsrbenchError(
            f"unknown {SINGULAR[self.kind]} {name!r}.{hint} Known {self.kind}: {', '.join(known) or 'none'} "
            f"(see `osrbench list {self.kind}`)"
        )

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self.entries.values(), key=lambda e: e.spec.name))  # type: ignore[attr-defined]

    def __contains__(self, name: str) -> bool:
        return name in self.entries


@dataclass
class Plugins:
    """The registries, the hook caller for observer hooks, and the plugins that failed to load."""

    protocols: Registry
    methods: Registry
    augmentations: Registry
    scorers: Registry
    executors: Registry
    hook: Any
    failures: dict[str, str]

    def registry(self, kind: str) -> Registry:
        return getattr(self, kind)


def _distribution_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown"


def build_plugins(eps: list[EntryPoint] | None = None, extra: dict[str, Any] | None = None) -> Plugins:
    """Load plugins from entry points (default: the ``osrbench`` group) and ``extra`` objects."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    failures: dict[str, str] = {}
    sources: dict[str, str] = {}
    eps = list(entry_points(group=hookspecs.PROJECT)) if eps is None else eps
    for ep in sorted(eps, key=lambda e: e.name):
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not break the others
            failures[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        sources[ep.name] = _distribution_name(ep)
    for name, obj in (extra or {}).items():
        pm.register(obj, name=name)
        sources[name] = "in-process"

    registries = {kind: Registry(kind) for kind in KINDS}
    for kind, hook_name in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            try:
                specs = impl.function()
            except Exception as exc:
                failures[impl.plugin_name] = f"{type(exc).__name__} in {hook_name}: {exc}"
                continue
            for spec in specs or []:
                registries[kind].add(spec, impl.plugin_name, sources.get(impl.plugin_name, "unknown"))
    return Plugins(hook=pm.hook, failures=failures, **registries)


@lru_cache(maxsize=1)
def load_plugins() -> Plugins:
    """The installed plugins, loaded once per process."""
    return build_plugins()
