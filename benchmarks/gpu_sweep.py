"""Wall time of the five cifar10 splits of `mls`: sequential `osrbench run` vs `osrbench sweep` on all GPUs.

Each mode is timed as the command a user types, in a fresh results dir under --out, after one warm-up
run (1 epoch of split 0) that fills the torch.compile and dataset caches every mode then shares:

* run:   `osrbench run --method mls --protocol cifar10` on the first GPU, one split after another;
* local: `osrbench sweep ... --executor local --workers N` (workers pinned to the GPUs round-robin with
  CUDA_VISIBLE_DEVICES);
* ray:   `osrbench sweep ... --executor ray --workers N` (a Ray started by the command; each task asks for
  GPUs / N of a GPU, so N > GPUs packs several jobs on one GPU; needs Ray).

`--workers` takes a comma list (default: the number of GPUs): five splits on two GPUs take three rounds
with one job per GPU (at best 5/3 = 1.67x), so `--workers 2,5` also measures all five jobs at once.
Timings are kept in OUT/timings.json, so the modes can be measured in separate calls (--modes run, then
--modes local,ray); every call prints the table of all measured so far, with the speed-up over `run`.
--tiny checks the script on the CPU (digits splits 0 and 1, 1 epoch, 2 CPU workers).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from gpu_common import measured_protocol, script_arguments

MODES = ("run", "local", "ray")


def osrbench(*args: object, env: dict[str, str] | None = None) -> float:
    """Run one osrbench command; its wall seconds (a failing command stops the script with its output)."""
    command = [sys.executable, "-m", "osrbench.cli", *map(str, args)]
    began = time.perf_counter()
    proc = subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds


def mean_auroc(results: Path) -> float:
    """Mean osr AUROC of the mls scores (schema 2: metrics per postprocessor; schema 1: per scorer)."""
    metrics = [json.loads(p.read_text())["metrics"] for p in results.rglob("split*-seed*.json")]
    return statistics.mean(m.get("mls", m)["osr"]["auroc"] for m in metrics)


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--modes", default=",".join(MODES), help="comma list of run, local, ray (default all)")
    parser.add_argument("--workers", default=None, metavar="N[,M]",
                        help="sweep jobs at a time, each value measured (default: the number of GPUs; 2 with --tiny)")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="options for every run (e.g. epochs=30)")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= set(MODES):
        raise SystemExit(f"--modes: choose from {', '.join(MODES)}")
    gpus = torch.cuda.device_count()
    if not gpus and not args.tiny:
        raise SystemExit("no CUDA device: run with --tiny for a CPU check")
    protocol = measured_protocol(args.tiny)
    overrides = args.overrides + (["epochs=1"] if args.tiny else [])
    tiny = ["--limit", "30", "--no-health-check"] if args.tiny else []  # a check that every mode runs, not a result
    splits = "0,1" if args.tiny else "all"
    common = ["--method", "mls", "--protocol", protocol, "--split", splits, "--data-root", args.data_root, "--quiet",
              *tiny, *(["--set", *overrides] if overrides else [])]
    workers = [int(n) for n in args.workers.split(",")] if args.workers else [2 if args.tiny else gpus]
    first_gpu = {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]} if gpus else {}
    args.out.mkdir(parents=True, exist_ok=True)
    timings_file = args.out / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}

    if not (args.out / "warmup").exists():
        osrbench("run", *common, "--split", "0", "--set", "epochs=1", "--no-health-check", "--results-dir", args.out / "warmup",
                 env=first_gpu)
    for mode, n in [("run", 1)] * ("run" in modes) + [(m, n) for m in modes if m != "run" for n in workers]:
        key = mode if mode == "run" else f"{mode}-w{n}"
        results = args.out / key
        if results.exists():
            raise SystemExit(f"{results} exists: remove it (or --out elsewhere) to measure {key} again")
        if mode == "run":
            seconds = osrbench("run", *common, "--results-dir", results, env=first_gpu)
        else:
            packing = ["--executor-set", f"gpus_per_job={min(1.0, gpus / n)}"] if mode == "ray" and gpus else []
            seconds = osrbench("sweep", *common, "--executor", mode, "--workers", n, *packing,
                               "--results-dir", results)
        timings[key] = {"mode": mode, "seconds": round(seconds, 1), "workers": n,
                        "mean_auroc": round(mean_auroc(results), 4),
                        "device": torch.cuda.get_device_name(0) if gpus else "cpu", "gpus": gpus}
        timings_file.write_text(json.dumps(timings, indent=1) + "\n")

    base = timings.get("run", {}).get("seconds")
    print(f"{'mode':<6} {'workers':>7} {'wall s':>8} {'speed-up':>8} {'mean AUROC':>10}  device")
    for t in sorted(timings.values(), key=lambda t: (MODES.index(t["mode"]), t["workers"])):
        speedup = f"{base / t['seconds']:.2f}x" if base else "-"
        print(f"{t['mode']:<6} {t['workers']:>7} {t['seconds']:>8.1f} {speedup:>8} {t['mean_auroc']:>10.4f}  "
              f"{t['gpus']} x {t['device']}")


if __name__ == "__main__":
    main()
