"""What the GPU measurement scripts share: their common options, the device, and split 0."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import torch

from osrbench import DataOptions, Split
from osrbench.plugins import load_plugins


def script_arguments(doc: str) -> argparse.ArgumentParser:
    """A parser with --data-root, --out and --tiny; each script adds its own options."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, required=True, help="folder holding cifar10.npz (and other caches)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (records, plots, summary JSON)")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run on the digits protocol with tiny sizes")
    return parser


def script_device(tiny: bool) -> torch.device:
    """CUDA for the measurements; without it only a --tiny check may run."""
    if not tiny and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --tiny for a CPU check")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = device.type == "cuda"
    return device


def seconds_per_call(fn: Callable[[], object], calls: int, device: torch.device, warmup: int = 1) -> float:
    """Mean wall seconds of ``fn`` after ``warmup`` calls (cuDNN autotuning, allocator), device-synchronised."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(calls):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - began) / calls


def tiny_run_options(tiny: bool) -> dict:
    """RunRequest options of a --tiny check: a few images per class, and no training-health guard (one
    epoch of a tiny network need not learn; the check is that every step of the script runs)."""
    return {"limit": 30, "health_check": False} if tiny else {}


def measured_protocol(tiny: bool) -> str:
    return "digits" if tiny else "cifar10"


def split_zero(tiny: bool, data_root: Path, device: torch.device) -> Split:
    """Split 0 of the measured protocol, held on the device."""
    split = load_plugins().protocols.get(measured_protocol(tiny)).load(0, DataOptions(data_root))
    return split.to(device) if device.type == "cuda" else split
