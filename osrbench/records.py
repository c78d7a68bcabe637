"""Run records: one JSON file per (method variant, augmentation, protocol, split, seed).

A record is the single source of truth for a result. It is written atomically (temporary file,
then rename), so a finished run's result is never half-written or lost.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import torch

import osrbench

SCHEMA = 1


def run_label(name: str, augmentation: str | None, overrides_hash: str | None) -> str:
    """The folder name of a run family, e.g. ``msp``, ``msp+mixup``, ``msp@1a2b3c4d``."""
    label = name + (f"+{augmentation}" if augmentation else "")
    return label + (f"@{overrides_hash}" if overrides_hash else "")


def record_path(results_dir: Path, protocol: str, label: str, split: int, seed: int) -> Path:
    return Path(results_dir) / protocol / label / f"split{split}-seed{seed}.json"


def write_record(record: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_record(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def iter_records(results_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(Path(results_dir).rglob("split*-seed*.json")):
        yield path, read_record(path)


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The git commit of the osrbench source tree (with ``-dirty`` if it has local changes)."""
    here = Path(osrbench.__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, Any]:
    return {
        "osrbench": osrbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "git_revision": git_revision(),
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
