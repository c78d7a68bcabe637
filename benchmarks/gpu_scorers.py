"""Wall time and figures of each scorer on a trained baseline (GPU measurement for the scorers plugin).

Trains ``mls`` on CIFAR-10 split 0 through the harness (``--epochs``, default 15) and scores it with
``osr``, ``ood``, ``linear-probe`` and ``corruption`` (all 15 corruptions x 5 severities on the 6,000
known test images; skipped with a message when ``imagecorruptions-imaug`` is not installed, see
``--wheels``). The harness times each scorer (``cost.score_seconds`` of the record). OOD sets: every
one of cifar100 / svhn / tinyimagenet cached under the data root, plus two that always exist:
``digits`` (scikit-learn's 8x8 grey digits, resized to 32x32 colour: far OOD) and ``cifar10:2+3+5+8``,
the split's own unknown classes, whose AUROC must equal the osr AUROC (a consistency check).

    python benchmarks/gpu_scorers.py --data-root DIR --out DIR            # CUDA, ~4-6 minutes
    python benchmarks/gpu_scorers.py --data-root /tmp/d --out /tmp/o --tiny  # CPU smoke run on digits

Prints one block per scorer, the full report, and copies the plots to ``OUT/plots``; writes
``OUT/summary.json``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from osrbench import DataOptions
from osrbench.data import cache_path
from osrbench.plugins import load_plugins
from osrbench.report import report
from osrbench.runner import RunRequest, run

from gpu_common import measured_protocol, script_arguments, script_device, tiny_run_options

HEADLINES = {
    "osr": ["auroc", "oscr", "macro_f1", "accuracy"],
    "linear-probe": ["top1", "top5", "train_top1", "feature_dim"],
    "corruption": ["clean_accuracy", "mean_drop", "mean_corrupted_accuracy", "generation_seconds", "implementation"],
}


def importable() -> bool:
    try:
        import imagecorruptions  # noqa: F401  (imports OpenCV, scikit-image and numba too)
    except ImportError as exc:
        print(f"corruption: cannot import imagecorruptions ({exc})")
        return False
    return True


def corruption_package(wheels: Path | None) -> bool:
    """Whether imagecorruptions imports, after installing it from a local wheel folder if one is given."""
    if importlib.util.find_spec("imagecorruptions") is None and wheels is not None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels),
                        "imagecorruptions-imaug"], check=False)
        importlib.invalidate_caches()
    return importable()


def ood_sets(protocol: str, root: Path, tiny: bool) -> list[str]:
    split = load_plugins().protocols.get(protocol).load(0, DataOptions(root))
    dataset = split.extras["dataset"]
    unknown = sorted(set(range(len(split.class_names) + len(split.unknown_class_names))) - set(split.extras["known_classes"]))
    sets = [f"{dataset}:{'+'.join(map(str, unknown))}"]
    if not tiny:
        sets += [name for name in ("cifar100", "svhn", "tinyimagenet") if cache_path(root, name).exists()]
        sets.append("digits")
    return sets


def main() -> int:
    parser = script_arguments(__doc__)
    parser.add_argument("--epochs", type=int, default=15, help="training epochs of the baseline (default 15)")
    parser.add_argument("--wheels", type=Path, default=None,
                        help="a folder of wheels to install imagecorruptions-imaug from if it is missing")
    parser.add_argument("--corruption-cache", type=Path, default=None,
                        help="cache folder for the corrupted sets (default: a fresh temporary folder)")
    args = parser.parse_args()
    device = script_device(args.tiny)
    args.out.mkdir(parents=True, exist_ok=True)
    protocol = measured_protocol(args.tiny)
    epochs = 2 if args.tiny else args.epochs
    overrides = {"epochs": str(epochs), "ood.sets": ",".join(ood_sets(protocol, args.data_root, args.tiny))}
    scorers = ["osr", "ood", "linear-probe"]
    has_corruptions = corruption_package(args.wheels)
    cache = args.corruption_cache or Path(tempfile.mkdtemp(prefix="osrbench-corruptions-"))
    if has_corruptions:
        scorers.append("corruption")
        overrides["corruption.cache_dir"] = str(cache)
        if args.tiny:
            overrides.update({"corruption.corruptions": "gaussian_noise,glass_blur", "corruption.severities": "1,5"})
    else:
        print("corruption: SKIPPED, imagecorruptions-imaug is not installed (pass --wheels DIR with its wheels)")

    request = RunRequest(method="mls", protocol=protocol, scorers=scorers, splits=[0], data=DataOptions(args.data_root),
                         device=device.type, results_dir=args.out / "results", overrides=overrides,
                         force=True, quiet=False, **tiny_run_options(args.tiny))
    began = time.perf_counter()
    (record,) = run(request)
    total = time.perf_counter() - began
    cost = record["cost"]
    print(f"\n== mls on {protocol} split 0, {epochs} epochs on {cost['device']}: train {cost['train_seconds']:.1f} s, "
          f"whole run {total:.1f} s")
    summary = {"device": cost["device"], "torch": torch.__version__, "train_seconds": cost["train_seconds"],
               "run_seconds": round(total, 2), "scorers": {}}
    for name in scorers:
        metrics = record["metrics"]["mls"][name]
        keys = HEADLINES.get(name) or [k for k in metrics if k.endswith((".auroc", ".tnr_at_95tpr", ".dtacc"))]
        figures = {k: metrics[k] for k in keys if k in metrics}
        seconds = cost["score_seconds"]["mls"][name]  # schema 2: per postprocessor, then per scorer
        summary["scorers"][name] = {"seconds": seconds, **figures}
        print(f"-- {name}: {seconds:.2f} s")
        for key, value in figures.items():
            print(f"   {key}: {value:.4f}" if isinstance(value, float) else f"   {key}: {value}")
    if "corruption" in scorers:
        per = record["metrics"]["mls"]["corruption"]["mean_drop_per_corruption"]
        print("   mean drop per corruption: " + ", ".join(f"{c} {100 * d:.1f}" for c, d in per.items()))
        summary["scorers"]["corruption"]["mean_drop_per_corruption"] = per
    ood = record["metrics"]["mls"]["ood"]
    split_set = overrides["ood.sets"].split(",")[0]
    check = abs(ood[f"{split_set}.auroc"] - record["metrics"]["mls"]["osr"]["auroc"])
    print(f"   consistency: |ood {split_set} AUROC - osr AUROC| = {check:.2e}")
    shown = report(args.out / "results" / protocol / record["label"] / "split0-seed0.json")
    (args.out / "plots").mkdir(exist_ok=True)
    for path in shown["plots"]:
        shutil.copy(path, args.out / "plots" / path.name)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    if args.corruption_cache is None:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
