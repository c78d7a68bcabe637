"""The guide's worked examples (docs/examples/) as importable modules, shared by the tests."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def example_module(name: str) -> ModuleType:
    """``docs/examples/<name>.py`` imported as a module (once per process)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def example_protocol(**changes) -> dict:
    """The example protocol file's content, with ``changes`` applied."""
    return {**json.loads((EXAMPLES / "blobs.json").read_text()), **changes}


def write_blobs(root: Path, name: str = "blobs", **arrays) -> Path:
    """A prepared ``<root>/<name>.npz`` of the example dataset, with ``arrays`` replacing its own."""
    import numpy as np

    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.npz"
    np.savez(path, **{**example_module("make_dataset").make_blobs(), **arrays})
    return path


def write_protocol(folder: Path, file_name: str = "blobs.json", **changes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    path.write_text(json.dumps(example_protocol(**changes)))
    return path
