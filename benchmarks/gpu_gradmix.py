"""GradMix on the GPU: training throughput with and without the GradMix term, then a budgeted run on cifar10 split 0.

    python benchmarks/gpu_gradmix.py --data-root DIR --out DIR [--tiny] [--budget 360]

1. Times the training step of ``gradmix`` (ResNet18, batch 256 images = 512 views, bf16, channels-last)
   without an augmentation (SupCon + SimCLR) and with ``--augment gradmix`` (+ per-iteration LayerCAM
   maps and the mixed-view forward pass), after a warm-up; prints images/s.
2. From the measured step time picks the ``gradmix`` epochs that fit the budget (whole script ≈
   ``--budget`` seconds, 50 s of it kept for the baseline), trains ``gradmix`` + ``gradmix`` through the
   harness and prints the epochs, AUROC and the top-k closed-set accuracy.
3. Trains the ``mls`` baseline on the same split (``--baseline-epochs``, default 60) for comparison,
   prints a summary and writes ``OUT/gradmix_gpu_summary.json``.

``--steps-only`` times only the ``gradmix`` step with the residual blocks eager and compiled, and stops.
``--tiny`` runs the same code on the digits protocol with the spec's fast-version sizes (CPU is fine).
"""

from __future__ import annotations

import dataclasses
import json
import time

import torch

from osrbench import DataOptions, RunContext
from osrbench.batches import Minibatches, to_float
from osrbench.config import build_config
from osrbench.progress import Progress
from osrbench.runner import RunRequest, run, seed_everything
from osrbench_gradmix import FAST_OVERRIDES, GradMixConfig
from osrbench_gradmix.augment import GradMixAugConfig, GradMixAugmentation
from osrbench_gradmix.train import build_objective, training_net, training_optimizer

from gpu_common import measured_protocol, script_arguments, seconds_per_call, script_device, split_zero, tiny_run_options

RESERVE_SECONDS = 25.0  # data loading, exemplar embedding, scoring and record of the gradmix run
BASELINE_SECONDS = 50.0  # the mls baseline at 60 epochs, torch.compile included (about 30 s on an H100)
SCORING = ["osr"]


def seconds_per_step(split, config: GradMixConfig, ctx: RunContext, warmup: int, steps: int) -> float:
    net = training_net(split, config, ctx)
    objective = build_objective(net, split, config, ctx)
    optimizer = training_optimizer(net, config, ctx)
    batches = Minibatches(split.train_images, split.train_labels, config.batch_size)
    source = batches.endless()

    def one() -> None:
        images, labels = next(source)
        with ctx.autocast():
            loss = objective(to_float(images, ctx), labels.to(ctx.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return seconds_per_call(one, steps, ctx.device, warmup)


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--budget", type=float, default=360.0, help="seconds for the whole script (default 360)")
    parser.add_argument("--baseline-epochs", type=int, default=60, help="epochs of the mls baseline (default 60)")
    parser.add_argument("--steps-only", action="store_true",
                        help="only time the gradmix step with and without torch.compile of the blocks, then stop")
    args = parser.parse_args()
    began = time.perf_counter()
    device = script_device(args.tiny)
    protocol = measured_protocol(args.tiny)
    base = dict(FAST_OVERRIDES) if args.tiny else {}
    config = build_config(GradMixConfig, base, "gradmix")
    data = DataOptions(args.data_root)
    split = split_zero(args.tiny, args.data_root, device)
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results"
    warmup, steps = (2, 3) if args.tiny else (10, 30)
    seed_everything(0)

    gradmix = GradMixAugmentation("gradmix", GradMixAugConfig(), cam="layercam")
    variants = ([("gradmix, eager", gradmix, False), ("gradmix", gradmix, True)] if args.steps_only
                else [("supcon+simclr", None, config.compile), ("gradmix", gradmix, config.compile)])
    timing = {}
    for label, augmentation, compiled in variants:
        ctx = RunContext(device=device, seed=0, work_dir=args.out, progress=Progress(quiet=True),
                         augmentation=augmentation)
        timing[label] = seconds_per_step(split, dataclasses.replace(config, compile=compiled), ctx, warmup, steps)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    iterations = len(split.train_images) // min(config.batch_size, len(split.train_images))
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"device: {name}; protocol {protocol} split 0, {len(split.train_images)} training images, "
          f"batch {config.batch_size} images ({2 * config.batch_size} views), {iterations} iterations/epoch")
    for label, seconds in timing.items():
        print(f"throughput {label:>14}: {config.batch_size / seconds:8.0f} images/s ({seconds * 1e3:.1f} ms/step, "
              f"{iterations * seconds:.1f} s/epoch)")
    if args.steps_only:
        print(f"torch.compile of the blocks: {timing['gradmix, eager'] / timing['gradmix']:.2f}x faster steps")
        return
    print(f"GradMix step cost: {timing['gradmix'] / timing['supcon+simclr']:.2f}x plain SupCon + SimCLR")

    remaining = args.budget - (time.perf_counter() - began) - RESERVE_SECONDS - BASELINE_SECONDS
    epochs = max(1, int(remaining // (iterations * timing["gradmix"] * 1.05)))
    if args.tiny:
        epochs = min(epochs, 2)
    print(f"gradmix epochs used: {epochs} (paper / authors' scripts: 600), "
          f"planned {epochs * iterations * timing['gradmix']:.0f} s of training")
    (record,) = run(RunRequest(method="gradmix", protocol=protocol, augment="gradmix", splits=[0], data=data,
                               device=device.type, results_dir=results, scorers=SCORING, force=True, quiet=True,
                               overrides={**base, "epochs": str(epochs), "osr.plots": "false"},
                               **tiny_run_options(args.tiny)))
    osr, cost = next(iter(record["metrics"].values()))["osr"], record["cost"]  # its default postprocessor
    print(f"gradmix+gradmix: {epochs} epochs in {cost['train_seconds']:.0f} s (final loss "
          f"{record['method_info']['final_loss']:.3f}): AUROC {osr['auroc']:.4f}, top-k accuracy {osr['accuracy']:.4f}")

    baseline_overrides = {"epochs": str(2 if args.tiny else args.baseline_epochs), "osr.plots": "false"}
    (baseline,) = run(RunRequest(method="mls", protocol=protocol, splits=[0], data=data, device=device.type,
                                 results_dir=results, overrides=baseline_overrides, scorers=SCORING, force=True,
                                 quiet=True, **tiny_run_options(args.tiny)))
    print(f"mls baseline: {baseline_overrides['epochs']} epochs in {baseline['cost']['train_seconds']:.0f} s: "
          f"AUROC {baseline['metrics']['mls']['osr']['auroc']:.4f}, accuracy {baseline['metrics']['mls']['osr']['accuracy']:.4f}")

    summary = {
        "device": name, "protocol": protocol, "split": 0,
        "throughput_images_per_s": {k: config.batch_size / v for k, v in timing.items()},
        "step_seconds": timing, "iterations_per_epoch": iterations,
        "gradmix": {"epochs": epochs, "train_seconds": cost["train_seconds"], "auroc": osr["auroc"],
                    "accuracy": osr["accuracy"], "oscr": osr.get("oscr"), "record_label": record["label"]},
        "mls": {"epochs": int(baseline_overrides["epochs"]), "train_seconds": baseline["cost"]["train_seconds"],
                "auroc": baseline["metrics"]["mls"]["osr"]["auroc"], "accuracy": baseline["metrics"]["mls"]["osr"]["accuracy"]},
        "wall_seconds": time.perf_counter() - began,
    }
    (args.out / "gradmix_gpu_summary.json").write_text(json.dumps(summary, indent=2))
    print("summary")
    print(f"  throughput (images/s): supcon+simclr {summary['throughput_images_per_s']['supcon+simclr']:.0f}, "
          f"with gradmix {summary['throughput_images_per_s']['gradmix']:.0f}")
    print(f"  {protocol} split 0 AUROC: gradmix+gradmix {osr['auroc']:.4f} "
          f"({epochs} epochs, {cost['train_seconds']:.0f} s) "
          f"vs mls {baseline['metrics']['mls']['osr']['auroc']:.4f} ({baseline_overrides['epochs']} epochs, "
          f"{baseline['cost']['train_seconds']:.0f} s)")
    print(f"  accuracy: gradmix (top-k) {osr['accuracy']:.4f} vs mls {baseline['metrics']['mls']['osr']['accuracy']:.4f}")
    print(f"  script wall time {summary['wall_seconds']:.0f} s; summary in {args.out / 'gradmix_gpu_summary.json'}")


if __name__ == "__main__":
    main()
