"""Why Mahalanobis fell below chance on the CIFAR network: its AUROC under each numeric path, on kept weights.

    python benchmarks/gpu_mahalanobis.py RECORD.json [RECORD.json ...] --data-root DIR

For each finished run (a ``ce`` record with kept weights, ``model.pt``) prints the covariance's
condition number and the Mahalanobis AUROC (known test vs unknown test) for every combination of
* features in bf16 (the run's autocast) or float32,
* the distance as fᵀPf − 2fᵀPμ + μᵀPμ in float32 with P = pinv(Σ) (the formula before the fix) or in
  float64 after whitening (the postprocessor now),
* the model's test-time views averaged, or the plain image only.
Then, on the float32 features with the test views, the AUROC of variants of the score that tell a
numeric fault from a property of the features: per-class covariances, L2-normalised features, the
relative Mahalanobis distance (Ren et al. 2021: minus the distance under one Gaussian of all training
features), the feature norm alone; with the mean feature norm and distance of the training, known-test
and unknown-test images.
``--tiny`` trains a digits run on the CPU first (one epoch) and analyses it.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.covariance import EmpiricalCovariance

from osrbench import DataOptions, RunContext
from osrbench.batches import map_batches
from osrbench.metrics import auroc
from osrbench.plugins import load_plugins
from osrbench.progress import Progress
from osrbench.records import read_record
from osrbench.runner import Run, RunRequest, resolve_device
from osrbench.weights import load_weights
from osrbench_postprocessors.feature_scores import squared_distances, whitening_of


def features(model, images: torch.Tensor, ctx: RunContext, bf16: bool) -> torch.Tensor:
    def embed(x: torch.Tensor) -> torch.Tensor:
        guard = contextlib.nullcontext() if bf16 else torch.autocast(device_type=x.device.type, enabled=False)
        with guard:
            return model.features(x).float()

    return map_batches(embed, images, ctx, 1024).double()


def distances_float32(f, means, precision):
    f, means, precision = f.float(), means.float(), precision.float()
    fp, mp = f @ precision, means @ precision
    return ((fp * f).sum(1, keepdim=True) - 2 * fp @ means.T + (mp * means).sum(1)[None]).amin(1)


def gaussian(train: torch.Tensor, labels: torch.Tensor, classes: int, tied: bool = True):
    """Class means and the whitening of the class-centred training features (tied), or one per class: the
    postprocessor's own ``whitening_of``."""
    means = torch.stack([train[labels == c].mean(0) for c in range(classes)])
    groups = [train - means[labels]] if tied else [train[labels == c] - means[c] for c in range(classes)]
    return means, [whitening_of(centred) for centred in groups]


def class_distances(f: torch.Tensor, means: torch.Tensor, whitenings: list[torch.Tensor]) -> torch.Tensor:
    """(N, K) squared Mahalanobis distances to each class (the postprocessor's ``squared_distances``)."""
    columns = [squared_distances(f @ w, means[c:c + 1] @ w)[:, 0]
               for c, w in enumerate(whitenings if len(whitenings) > 1 else whitenings * len(means))]
    return torch.stack(columns, dim=1)


def variants(train: torch.Tensor, labels: torch.Tensor, known: torch.Tensor, unknown: torch.Tensor, classes: int) -> None:
    tied = gaussian(train, labels, classes)
    per_class = gaussian(train, labels, classes, tied=False)
    unit = [x / x.norm(dim=1, keepdim=True) for x in (train, known, unknown)]
    tied_unit = gaussian(unit[0], labels, classes)
    background = gaussian(train, torch.zeros_like(labels), 1)
    rows = {
        "tied covariance (the postprocessor)": lambda i, x: -class_distances(x, *tied).amin(1),
        "per-class covariances": lambda i, x: -class_distances(x, *per_class).amin(1),
        "L2-normalised features, tied": lambda i, x: -class_distances(unit[i], *tied_unit).amin(1),
        "relative (minus one Gaussian of all)": lambda i, x: -(class_distances(x, *tied) - class_distances(x, *background)).amin(1),
        "feature norm": lambda i, x: x.norm(dim=1),
    }
    print("    score variants (float32 features, test views):")
    for name, score in rows.items():
        print(f"      {name:<40} AUROC {auroc(score(1, known).float().cpu(), score(2, unknown).float().cpu()):.4f}")
    for name, x in (("training", train), ("known test", known), ("unknown test", unknown)):
        print(f"      {name:<13} mean |f| {float(x.norm(dim=1).mean()):9.3f}   mean min distance "
              f"{float(class_distances(x, *tied).amin(1).mean()):10.1f}")


def analyse(path: Path, data_root: Path, device: torch.device) -> None:
    record = read_record(path)
    plugins = load_plugins()
    method = plugins.methods.get(record["method"])
    split = plugins.protocol(record["protocol"]).load(record["split"], DataOptions(data_root, datasets=plugins.datasets))
    split = split.to(device) if device.type == "cuda" else split
    ctx = RunContext(device=device, seed=0, work_dir=path.with_suffix(""), progress=Progress(quiet=True))
    model = load_weights(ctx.work_dir, method, split, ctx).eval()
    print(f"{path} ({record['protocol']} split {record['split']}, {record['cost']['device']})")
    views = {"test views": (getattr(model, "flip_tta", None), getattr(model, "tta_shift", None))}
    for view_name, plain in (("test views", False), ("plain image", True)):
        if plain and views["test views"] == (None, None):
            continue
        if plain:
            model.flip_tta, model.tta_shift = False, 0
        for bf16 in ((True, False) if device.type == "cuda" else (False,)):
            train = features(model, split.train_images, ctx, bf16)
            labels = split.train_labels.to(train.device)
            means = torch.stack([train[labels == c].mean(0) for c in range(split.num_classes)])
            covariance = EmpiricalCovariance(assume_centered=True).fit((train - means[labels]).cpu().numpy()).covariance_
            eigenvalues = np.linalg.eigvalsh(covariance)
            precision = torch.linalg.pinv(torch.from_numpy(covariance).to(train.device), hermitian=True)
            tied = [whitening_of(train - means[labels])]
            known = features(model, split.test_images, ctx, bf16)
            unknown = features(model, split.unknown_images, ctx, bf16)
            positive = eigenvalues[eigenvalues > 0]
            print(f"  {view_name}, {'bf16' if bf16 else 'float32'} features ({train.shape[1]}-d, condition number "
                  f"{float(positive.max() / positive.min()):.1e}, {int((eigenvalues <= 0).sum())} null directions):")
            for name, fn in (("float32 expanded (before)", lambda f: distances_float32(f, means, precision)),
                             ("float64 whitened (now)", lambda f: class_distances(f, means, tied).amin(1))):
                print(f"    {name:<26} AUROC {auroc(-fn(known).float().cpu(), -fn(unknown).float().cpu()):.4f}")
            if not plain and not bf16:
                variants(train, labels, known, unknown, split.num_classes)
        if plain:
            model.flip_tta, model.tta_shift = views["test views"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", nargs="*", type=Path, help="records of finished runs with kept weights")
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tiny", action="store_true", help="train one digits split on the CPU and analyse it")
    args = parser.parse_args()
    device = resolve_device(args.device)
    records = list(args.records)
    if args.tiny:
        results = Path(tempfile.mkdtemp(prefix="osrbench-maha-"))
        run = Run(RunRequest(splits=[0], data=DataOptions(args.data_root), device="cpu", results_dir=results,
                             overrides={"epochs": "1", "batch_size": "32", "lr": "0.02"}, quiet=True))
        run.execute()
        records.append(run.path(0))
    if not records:
        raise SystemExit("name at least one record (or --tiny)")
    for path in records:
        analyse(path, args.data_root, device)


if __name__ == "__main__":
    main()
