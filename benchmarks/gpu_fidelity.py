"""GradMix and NAS-OSR fidelity ablation (issue 9) on cifar10 split 0, at equal epochs, in one GPU run.

    python benchmarks/gpu_fidelity.py --data-root DIR --out DIR [--tiny] [--epochs 15] [--nasosr-seconds 45]

1. Throughput at 64 px (TinyImageNet split 0 when ``DIR`` holds it, else random 64-px images, said so):
   the training step of plain SupCon + SimCLR and of GradMix, ``--steps-64`` steps each after a warm-up.
2. At ``--epochs`` epochs each, through the harness (one record per variant under ``OUT/results``):
   ``supcon-simclr`` (plain), ``gradmix --augment gradcam`` (Grad-CAM maps), ``gradmix`` (LayerCAM, the
   paper), ``gradmix --augment gradmix_codevariant`` (the authors' code), and with ``--random-centre``
   also ``gradmix --set gradmix.centre=random``. Each trained model is scored by every postprocessor
   that the GradMix model can serve (top-k cosine variants, prototypes, and the generic feature-based
   ones), so the scoring question is asked of one training per variant.
3. ``ce`` (cross-entropy classifier) at the same epochs with ``msp`` and ``mls``, the reference.
4. NAS-OSR with the paper's architecture (``nas-osr-fixed-arch``, no search), retrained for the epochs
   that fit ``--nasosr-seconds``, once with the authors' decoder (tanh output, L_re from the encoder
   feature map) and once with the fixed one (linear output, L_re from the latent); scored by every
   NAS-OSR postprocessor and the ``nas-osr-rule`` scorer.

Prints one table (variant, epochs, postprocessor, AUROC, closed-set accuracy, training and scoring
GPU seconds) and writes it to ``OUT/fidelity_summary.json``. ``--tiny`` runs every step on the
digits protocol with tiny networks and 1 epoch (CPU is fine): the check that the script works.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from gpu_common import measured_protocol, script_arguments, script_device, tiny_run_options
from gpu_gradmix import seconds_per_step
from gpu_nasosr import PAPER_ARCH, measure_retrain
from rich.console import Console
from rich.table import Table

from osrbench import DataOptions, OsrbenchError, RunContext, Split
from osrbench.config import build_config
from osrbench.plugins import Plugins, load_plugins
from osrbench.progress import Progress
from osrbench.runner import RunRequest, run, seed_everything
from osrbench_gradmix import FAST_OVERRIDES as GRADMIX_FAST
from osrbench_gradmix import GradMixConfig
from osrbench_gradmix.augment import GradMixAugConfig, GradMixAugmentation
from osrbench_nasosr import FAST_OVERRIDES as NASOSR_FAST
from osrbench_nasosr import NasOsrConfig

# (variant, method, augmentation, extra overrides)
GRADMIX_VARIANTS = [
    ("supcon-simclr", "supcon-simclr", None, {}),
    ("gradmix+gradcam", "gradmix", "gradcam", {}),
    ("gradmix (LayerCAM)", "gradmix", None, {}),
    ("gradmix+codevariant", "gradmix", "gradmix_codevariant", {}),
]
RANDOM_CENTRE = ("gradmix random centre", "gradmix", None, {"gradmix.centre": "random"})
NASOSR_DECODERS = {"nas-osr tanh+feature (authors')": {"decoder_output": "tanh", "recon_source": "feature"},
                   "nas-osr linear+latent (fixed)": {"decoder_output": "linear", "recon_source": "latent"}}


POSTPROCESSORS_INSTALLED = "postprocessors" in RunRequest.__dataclass_fields__  # the plugin kind of issue 15


def applicable_postprocessors(plugins: Plugins, method: str) -> list[str] | None:
    """Every postprocessor the method's model can serve that needs something of it (the model-specific and
    feature-based ones), the method's own defaults first; None (the model's own score) before issue 15."""
    if not POSTPROCESSORS_INSTALLED:
        return None
    spec = plugins.methods.get(method)
    names = [e.spec.name for e in plugins.postprocessors if e.spec.requires and e.spec.requires <= spec.provides]
    return list(dict.fromkeys([*spec.postprocessors, *names])) or None


def per_postprocessor(record: dict) -> dict[str, dict]:
    """{postprocessor: {scorer: metrics}}; a schema-1 record's metrics are the model's own score's."""
    metrics = record["metrics"]
    return metrics if record.get("schema", 1) >= 2 else {record["name"]: metrics}


def throughput_64(data_root: Path, tiny: bool, device: torch.device, steps: int) -> dict:
    """Images/s of the plain and the GradMix training step on 64-px images."""
    plugins = load_plugins()
    try:
        split = plugins.protocols.get("tinyimagenet").load(0, DataOptions(data_root))
        source = "tinyimagenet split 0"
    except OsrbenchError as exc:
        split = synthetic_64(tiny)
        source = f"random 64-px images (tinyimagenet not loadable: {exc})"
    split = split.to(device) if device.type == "cuda" else split
    config = build_config(GradMixConfig, dict(GRADMIX_FAST) if tiny else {}, "gradmix")
    out = {"source": source, "batch_size": config.batch_size, "steps": steps}
    for label, augmentation in (("supcon-simclr", None),
                                ("gradmix", GradMixAugmentation("gradmix", GradMixAugConfig(), cam="layercam"))):
        ctx = RunContext(device=device, seed=0, work_dir=Path("."), progress=Progress(quiet=True),
                         augmentation=augmentation)
        seconds = seconds_per_step(split, config, ctx, warmup=2 if tiny else 10, steps=steps)
        out[label] = {"step_seconds": seconds, "images_per_s": config.batch_size / seconds}
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def synthetic_64(tiny: bool) -> Split:
    n = 64 if tiny else 2048
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8, generator=gen)
    labels = torch.arange(n) % 20
    return Split(protocol="synthetic-64", index=0, train_images=images, train_labels=labels, test_images=images[:8],
                 test_labels=labels[:8], unknown_images=images[:8], class_names=[str(c) for c in range(20)],
                 mean=(0.5,) * 3, std=(0.25,) * 3, fingerprint="random", split_family="none")


def rows_of(variant: str, record: dict, epochs: int) -> list[dict]:
    cost = record["cost"]
    seconds = cost.get("score_seconds", {})
    rows = []
    for pp, metrics in per_postprocessor(record).items():
        osr = metrics.get("osr", {})
        pp_seconds = seconds.get(pp, {}) if record.get("schema", 1) >= 2 else seconds
        rows.append({"variant": variant, "label": record["label"], "epochs": epochs, "postprocessor": pp,
                     "auroc": osr.get("auroc"), "accuracy": osr.get("accuracy"), "oscr": osr.get("oscr"),
                     "train_seconds": cost["train_seconds"],
                     "score_seconds": sum(pp_seconds.values()) if isinstance(pp_seconds, dict) else pp_seconds,
                     **({"rule": metrics["nas-osr-rule"]} if "nas-osr-rule" in metrics else {})})
    return rows


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--epochs", type=int, default=15, help="epochs of every GradMix variant and of ce (default 15)")
    parser.add_argument("--nasosr-seconds", type=float, default=45.0,
                        help="retraining seconds of each NAS-OSR variant (default 45)")
    parser.add_argument("--steps-64", type=int, default=150, help="timed steps per variant at 64 px (default 150)")
    parser.add_argument("--random-centre", action="store_true", help="also train GradMix with random patch centres "
                                                                     "(about one more GradMix variant of time)")
    args = parser.parse_args()
    began = time.perf_counter()
    device = script_device(args.tiny)
    protocol = measured_protocol(args.tiny)
    plugins = load_plugins()
    data = DataOptions(args.data_root)
    results = args.out / "results"
    args.out.mkdir(parents=True, exist_ok=True)
    epochs = 1 if args.tiny else args.epochs
    console = Console(width=150)
    summary: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                     "protocol": protocol, "split": 0, "epochs": epochs, "rows": []}

    seed_everything(0)
    summary["throughput_64px"] = tp = throughput_64(args.data_root, args.tiny, device, 3 if args.tiny else args.steps_64)
    console.print(f"64 px ({tp['source']}), batch {tp['batch_size']}: supcon-simclr "
                  f"{tp['supcon-simclr']['images_per_s']:.0f} images/s, gradmix {tp['gradmix']['images_per_s']:.0f} "
                  "images/s")

    def train(variant: str, method: str, augment: str | None, overrides: dict, postprocessors: list[str] | None,
              scorers: list[str], shown_epochs: int) -> None:
        t0 = time.perf_counter()
        scoring = {"postprocessors": postprocessors} if postprocessors else {}
        (record,) = run(RunRequest(method=method, protocol=protocol, augment=augment, splits=[0], data=data,
                                   device=device.type, results_dir=results, force=True, quiet=True,
                                   scorers=scorers, overrides={**overrides, "osr.plots": "false"}, **scoring,
                                   **tiny_run_options(args.tiny)))
        rows = rows_of(variant, record, shown_epochs)
        summary["rows"].extend(rows)
        best = max(rows, key=lambda r: r["auroc"] or 0)
        console.print(f"{variant}: {time.perf_counter() - t0:.0f} s; best {best['postprocessor']} "
                      f"AUROC {best['auroc']:.4f}")
        if device.type == "cuda":
            torch.cuda.empty_cache()

    gradmix_base = {**(GRADMIX_FAST if args.tiny else {}), "epochs": str(epochs)}
    gradmix_pps = applicable_postprocessors(plugins, "gradmix")
    for variant, method, augment, extra in GRADMIX_VARIANTS + ([RANDOM_CENTRE] if args.random_centre else []):
        train(variant, method, augment, {**gradmix_base, **extra}, gradmix_pps, ["osr"], epochs)
    reference = ("ce", ["msp", "mls"]) if POSTPROCESSORS_INSTALLED else ("mls", None)
    train(f"{reference[0]} (reference)", reference[0], None, {"epochs": str(epochs)}, reference[1], ["osr"], epochs)

    nas_base = dict(NASOSR_FAST) if args.tiny else {}
    arch_file = PAPER_ARCH.save(args.out / "paper-architecture.json")
    config = build_config(NasOsrConfig, nas_base, "nas-osr")
    split = load_plugins().protocols.get(protocol).load(0, data)
    split = split.to(device) if device.type == "cuda" else split
    ctx = RunContext(device=device, seed=0, work_dir=args.out, progress=Progress(quiet=True))
    timing = measure_retrain(split, config, ctx, 2 if args.tiny else 10)
    epoch_seconds = timing["iterations_per_epoch"] * timing["retrain_step_s"]
    nas_epochs = 1 if args.tiny else max(1, int(args.nasosr_seconds // epoch_seconds))
    summary["nasosr_retrain"] = {**timing, "epochs": nas_epochs}
    del split
    for variant, decoder in NASOSR_DECODERS.items():
        train(variant, "nas-osr", None, {**nas_base, **decoder, "arch": str(arch_file),
                                         "retrain_epochs": str(nas_epochs)},
              applicable_postprocessors(plugins, "nas-osr"), ["osr", "nas-osr-rule"], nas_epochs)

    table = Table(title=f"{protocol} split 0 on {summary['device']}", title_justify="left")
    for column in ("variant", "epochs", "postprocessor", "AUROC", "accuracy", "train s", "score s"):
        table.add_column(column, justify="left" if column in ("variant", "postprocessor") else "right")
    for r in summary["rows"]:
        table.add_row(r["variant"], str(r["epochs"]), r["postprocessor"], f"{r['auroc']:.4f}",
                      f"{r['accuracy']:.4f}", f"{r['train_seconds']:.0f}", f"{r['score_seconds']:.1f}")
    console.print(table)
    rules = {r["variant"]: r.pop("rule") for r in summary["rows"] if "rule" in r}  # one per NAS-OSR variant
    for variant, rule in rules.items():
        console.print(f"{variant}: test rule macro-F1 {rule['macro_f1_code']:.4f} (known rejected "
                      f"{rule['known_rejected']:.3f}, unknown rejected {rule['unknown_rejected']:.3f}); AUROC of "
                      f"r(x) alone {rule['auroc_reconstruction']:.4f}, of min D2/d* alone {rule['auroc_gaussian']:.4f}")
    summary["nasosr_rule"] = rules
    summary["wall_seconds"] = time.perf_counter() - began
    (args.out / "fidelity_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    console.print(f"script wall time {summary['wall_seconds']:.0f} s; summary in {args.out / 'fidelity_summary.json'}")


if __name__ == "__main__":
    main()
