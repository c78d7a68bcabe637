"""The speed guard: one GPU call that prints, side by side, what a result costs for each built-in method.

    python benchmarks/gpu_speed.py --data-root DIR --out DIR [--only ce,gradmix,nasosr] [--tiny]

1. ``ce``: ``osrbench run --protocol cifar10 --split all`` as a user types it (default recipe, scored by
   ``mls``; on CUDA its splits train side by side, ``--parallel auto``) and the same with ``--parallel 1``
   (one after another): for each, the wall seconds of the whole command, the training seconds summed
   over the five splits and the mean ``mls`` AUROC; the two must agree on AUROC.
2. ``gradmix``: the training step (batch 256 images = 512 views plus the mixed views, bf16,
   channels-last, per-iteration LayerCAM) with the residual blocks eager and with ``--set compile=true``
   (which compiles on CUDA only): ms per step, images per second, seconds per epoch of split 0.
3. ``nasosr``: ``osrbench run --method nas-osr --split 0`` with a short schedule (``NASOSR_SCHEDULE``):
   the seconds of search + retraining, and the AUROC it reaches (a throughput figure, not a result).

Prints a markdown table headed by the GPU and the date and writes ``OUT/speed.json``. Each part can run
alone (``--only``), e.g. to fit a call's time limit. ``--tiny`` runs every part on the digits protocol
on the CPU with tiny sizes, to check the script.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from datetime import date
from pathlib import Path

import torch

from osrbench import RunContext
from osrbench.config import build_config
from osrbench.progress import Progress
from osrbench.runner import seed_everything
from osrbench_gradmix import FAST_OVERRIDES as GRADMIX_TINY
from osrbench_gradmix import GradMixConfig
from osrbench_gradmix.augment import GradMixAugConfig, GradMixAugmentation
from osrbench_nasosr import FAST_OVERRIDES as NASOSR_TINY

from gpu_common import measured_protocol, script_arguments, script_device, split_zero
from gpu_gradmix import seconds_per_step
from gpu_sweep import osrbench

PARTS = ("ce", "gradmix", "nasosr")
NASOSR_SCHEDULE = {"warmup_epochs": "2", "search_epochs": "2", "search_eval_every": "2", "retrain_epochs": "10"}


def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(results.rglob("split*-seed*.json"))]


# how the five splits run -> (results folder, the command's extra options)
CE_WAYS = {"side by side (default)": ("ce", []), "one after another (--parallel 1)": ("ce-sequential", ["--parallel", "1"])}


def measure_ce(args, protocol: str) -> dict:
    tiny = ["--split", "0", "--limit", "30", "--no-health-check", "--set", "epochs=2"] if args.tiny else []
    out = {}
    for way, (folder, options) in CE_WAYS.items():
        results = args.out / folder
        wall = osrbench("run", "--protocol", protocol, "--postprocessor", "mls", "--data-root", args.data_root,
                        "--results-dir", results, "--force", "--quiet", *options, *tiny)
        made = records(results)
        out[way] = {"wall_seconds": wall, "splits": len(made),
                    "train_seconds": sum(r["cost"]["train_seconds"] for r in made),
                    "mean_auroc": statistics.mean(r["metrics"]["mls"]["osr"]["auroc"] for r in made)}
    return out


def measure_gradmix(args, device: torch.device) -> dict:
    config = build_config(GradMixConfig, dict(GRADMIX_TINY) if args.tiny else {}, "gradmix")
    split = split_zero(args.tiny, args.data_root, device)
    warmup, steps = (2, 3) if args.tiny else (10, 30)
    iterations = len(split.train_images) // min(config.batch_size, len(split.train_images))
    out = {"batch_size": config.batch_size, "iterations_per_epoch": iterations}
    for label, compiled in (("eager", False), ("compiled", True)):
        seed_everything(0)
        ctx = RunContext(device=device, seed=0, work_dir=args.out, progress=Progress(quiet=True),
                         augmentation=GradMixAugmentation("gradmix", GradMixAugConfig(), cam="layercam"))
        seconds = seconds_per_step(split, dataclasses.replace(config, compile=compiled), ctx, warmup, steps)
        out[label] = {"ms_per_step": 1e3 * seconds, "images_per_second": config.batch_size / seconds,
                      "seconds_per_epoch": iterations * seconds}
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def measure_nasosr(args, protocol: str) -> dict:
    results = args.out / "nasosr"
    schedule = {**NASOSR_SCHEDULE, **(NASOSR_TINY if args.tiny else {})}
    tiny = ["--limit", "30", "--no-health-check"] if args.tiny else []
    wall = osrbench("run", "--method", "nas-osr", "--protocol", protocol, "--split", "0", "--data-root",
                    args.data_root, "--results-dir", results, "--force", "--quiet", *tiny,
                    "--set", *(f"{k}={v}" for k, v in schedule.items()))
    (record,) = records(results)
    osr = next(iter(record["metrics"].values()))["osr"]
    return {"schedule": schedule, "wall_seconds": wall, "train_seconds": record["cost"]["train_seconds"],
            "auroc": osr["auroc"]}


def table(summary: dict) -> str:
    lines = [f"{summary['device']}, {summary['date']}", "", "| what | figure |", "|---|---|"]
    if "ce" in summary:
        for way, ce in summary["ce"].items():
            lines.append(f"| ce, {summary['protocol']}, {ce['splits']} split(s), whole command, {way} | "
                         f"{ce['wall_seconds']:.0f} s wall, {ce['train_seconds']:.0f} s training, "
                         f"mean mls AUROC {ce['mean_auroc']:.4f} |")
    if "gradmix" in summary:
        for label in ("eager", "compiled"):
            g = summary["gradmix"][label]
            lines.append(f"| gradmix step, --set compile={'true' if label == 'compiled' else 'false'} | "
                         f"{g['ms_per_step']:.1f} ms/step, "
                         f"{g['images_per_second']:.0f} images/s, {g['seconds_per_epoch']:.2f} s/epoch |")
    if "nasosr" in summary:
        n = summary["nasosr"]
        epochs = ", ".join(f"{k}={v}" for k, v in n["schedule"].items() if k.endswith("epochs"))
        lines.append(f"| nas-osr search + retrain, split 0 ({epochs}) | {n['train_seconds']:.0f} s "
                     f"({n['wall_seconds']:.0f} s wall), AUROC {n['auroc']:.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)} (default all)")
    args = parser.parse_args()
    parts = [p for p in args.only.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"--only {unknown[0]}: choose among {', '.join(PARTS)}")
    device = script_device(args.tiny)
    protocol = measured_protocol(args.tiny)
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                     "date": date.today().isoformat(), "protocol": protocol}
    measures = {"ce": lambda: measure_ce(args, protocol), "gradmix": lambda: measure_gradmix(args, device),
                "nasosr": lambda: measure_nasosr(args, protocol)}
    for part in parts:
        began = time.perf_counter()
        summary[part] = measures[part]()
        print(f"{part}: done in {time.perf_counter() - began:.0f} s", flush=True)
    (args.out / "speed.json").write_text(json.dumps(summary, indent=2))
    print(table(summary))


if __name__ == "__main__":
    main()
