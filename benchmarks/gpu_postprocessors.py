"""Where a run's scoring goes: each postprocessor's fit, its scores of the test sets and the ``osr`` scorer, timed,
with the peak memory of each step.

    python benchmarks/gpu_postprocessors.py --data-root DIR --out DIR [--epochs 3] [--limit N] [--device cuda|cpu]
                                            [--postprocessor msp,mls,...]

Trains ``ce`` on split 0 of cifar10 through the harness (``--epochs``, default 3, without the training-health check: what
scoring costs does not depend on the weights; ``--limit`` caps the images per class) and reloads its kept weights. Then, as a run does
(``osrbench.evaluation.Evaluation.evaluate``), the model's own predictions of both test sets once, and for each
postprocessor in turn: ``fit`` on the training data, its scores of the known and unknown test sets, and the ``osr``
scorer on them without and with its figures. Prints one row per postprocessor: seconds of each step and the peak
memory above what was held before it (CUDA: ``torch.cuda.max_memory_allocated``; CPU, with ``--cpu-memory``: the
process's resident set sampled every millisecond, with glibc's malloc told to return blocks of 64 KiB and more at
once, which slows every large allocation: time and measure memory in separate runs); writes ``OUT/summary.json``
(with each postprocessor's osr metrics). ``--tiny`` runs the same code on the digits protocol on the CPU.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import sys
import threading
import time

import torch

from osrbench import DataOptions, RunContext, TrainData
from osrbench.batches import PREDICT_BATCH
from osrbench.evaluation import CheckedModel, Evaluation, score
from osrbench.plugins import load_plugins
from osrbench.predictions import predict_test_sets
from osrbench.progress import Progress
from osrbench.runner import Run, RunRequest, load_split
from osrbench.weights import load_weights

from gpu_common import measured_protocol, script_arguments, tiny_run_options

ALL = "msp,mls,energy,odin,mahalanobis,relative-mahalanobis,knn,vim,react"
MIB = 2**20


class PeakMemory:
    """Peak memory above the level at entry, in MiB: CUDA's allocator, or the process's resident set (CPU, if
    ``cpu``; else NaN)."""

    cpu = False

    def __init__(self, device: torch.device):
        self.device, self.mib = device, float("nan")

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
        elif self.cpu:
            self._start = self._peak = resident_bytes()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self._peak = max(self._peak, resident_bytes())

    def __exit__(self, *exc_info) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mib = (torch.cuda.max_memory_allocated() - self._start) / MIB
        elif self.cpu:
            self._stop.set()
            self._thread.join()
            self.mib = (max(self._peak, resident_bytes()) - self._start) / MIB


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def return_freed_memory_at_once() -> None:
    """glibc: serve blocks of 64 KiB and more by mmap and give them back on free (no dynamic threshold), so that
    the resident set follows what the tensors hold."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD


def timed(device: torch.device, fn) -> tuple[float, float, object]:
    """(seconds, peak MiB, result) of ``fn()``, device-synchronised."""
    with PeakMemory(device) as memory:
        began = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - began
    return seconds, memory.mib, result


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (scoring costs the same at any)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per class")
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto")
    parser.add_argument("--postprocessor", default=ALL, help="comma-separated postprocessors, scored in this order")
    parser.add_argument("--cpu-memory", action="store_true", help="on the CPU, measure the peak resident set too "
                                                                  "(slows allocation: the times are not comparable)")
    args = parser.parse_args()
    if args.cpu_memory:
        return_freed_memory_at_once()
        PeakMemory.cpu = True
    names = args.postprocessor.split(",")
    options = tiny_run_options(args.tiny)
    device_name = "cpu" if args.tiny else args.device
    request = RunRequest(method="ce", protocol=measured_protocol(args.tiny), postprocessors=["msp"], scorers=["osr"],
                         splits=[0], data=DataOptions(args.data_root), device=device_name,
                         results_dir=args.out / "runs", overrides={"epochs": str(args.epochs), "osr.plots": "false"},
                         quiet=True, limit=args.limit or options.get("limit"), health_check=False)
    run = Run(request)
    began = time.perf_counter()
    run.execute()
    train_seconds = time.perf_counter() - began
    device = run.device
    plugins = load_plugins()
    evaluation = Evaluation(plugins, run.method, names, ["osr"], {})
    split = load_split(run.protocol, 0, run.data, request.limit, device)
    ctx = RunContext(device=device, seed=0, work_dir=args.out / "scoring", progress=Progress(quiet=True), data=run.data)
    model = load_weights(run.path(0).with_suffix(""), run.method, split, ctx).eval()
    train = TrainData(split.train_images, split.train_labels, split.num_classes)
    osr = plugins.scorers.get("osr")
    osr_config = evaluation.scorer_configs["osr"]
    no_plots = dataclasses.replace(osr_config, plots=False)
    print(f"{device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}); "
          f"{len(split.train_images)} train, {len(split.test_images)} known and {len(split.unknown_images)} unknown "
          f"test images of {tuple(split.image_shape)}; training {train_seconds:.1f} s")
    own = predict_test_sets(model, split, ctx)
    seconds, mib, _ = timed(device, lambda: (own.known, own.unknown))
    rows = {"(own predictions)": {"score_s": seconds, "score_mib": mib}}
    print(f"{'postprocessor':22} {'fit s':>7} {'fit MiB':>8} {'score s':>8} {'score MiB':>9} {'osr s':>6} "
          f"{'plots s':>7} {'total s':>7}")
    for name in names:
        postprocessor = evaluation.build(name)
        fit_s, fit_mib, _ = timed(device, lambda: postprocessor.fit(model, train, ctx))
        checked = CheckedModel(model, postprocessor, own, name).eval()
        score_s, score_mib, _ = timed(device, lambda: [checked.predicted(images, ctx, PREDICT_BATCH)
                                                       for images in (split.test_images, split.unknown_images)])
        osr_s, _, result = timed(device, lambda: score(osr, no_plots, checked, name, split, ctx))
        plots_s, _, _ = timed(device, lambda: score(osr, osr_config, checked, name, split, ctx))
        rows[name] = {"fit_s": fit_s, "fit_mib": fit_mib, "score_s": score_s, "score_mib": score_mib,
                      "osr_s": osr_s, "plots_s": plots_s - osr_s, "total_s": fit_s + score_s + plots_s,
                      "metrics": {k: v for k, v in result.items() if isinstance(v, float)}}
        r = rows[name]
        print(f"{name:22} {fit_s:7.2f} {fit_mib:8.0f} {score_s:8.2f} {score_mib:9.0f} {osr_s:6.2f} {r['plots_s']:7.2f} "
              f"{r['total_s']:7.2f}", flush=True)
    total = sum(r.get("total_s", 0.0) for r in rows.values())
    print(f"all postprocessors: {total:.1f} s (own predictions {rows['(own predictions)']['score_s']:.1f} s, "
          f"{rows['(own predictions)']['score_mib']:.0f} MiB)")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = {name: {k: None if v != v else v for k, v in row.items()} for name, row in rows.items()}  # NaN: unmeasured
    (args.out / "summary.json").write_text(json.dumps({"device": str(device), "train_seconds": train_seconds,
                                                       "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
