"""Where a training's time goes: torch.profiler over a few epochs of one method, as one table.

    python benchmarks/gpu_profile.py --data-root DIR --out DIR [--method ce] [--augment NAME] [--set KEY=VALUE ...]

Trains ``--method`` on split 0 of cifar10 through the harness (``osrbench.runner.Run``: the same code as
``osrbench run``) with the profiler on, then prints the wall seconds, the GPU's busy share (the kernels'
summed time over the wall time), kernel time by kind (convolutions, matrix products, element-wise and
normalisation, reductions, optimizer, copies), the host-device syncs (``aten::item`` and
``aten::_local_scalar_dense``, ``cudaStreamSynchronize``, device-to-host copies) and the ten operators of most
GPU and most CPU time. The trace is written to ``OUT/trace-METHOD.json`` (open in Perfetto).
``--tiny`` runs the same code on the digits protocol on the CPU, one epoch.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from osrbench import DataOptions
from osrbench.progress import Progress
from osrbench.runner import Run, RunRequest

from gpu_common import measured_protocol, script_arguments, script_device, tiny_run_options

KINDS = [  # (kind, pattern of the kernel or operator name), first match wins
    ("convolution", r"conv|cudnn|implicit|xmma|winograd|dgrad|wgrad|fprop"),
    ("matrix product", r"gemm|matmul|cutlass|addmm|\bmm\b|bmm"),
    ("optimizer", r"multi_tensor|foreach|fused_sgd|adam|sgd"),
    ("copy", r"memcpy|memset|copy_|to_copy|contiguous|cat"),
    ("reduction", r"reduce|sum|mean|norm_kernel|softmax|max|topk|sort"),
    ("element-wise and normalisation", r"elementwise|vectorized|batch_norm|bn_|relu|add|mul|pointwise|triton"),
]
SYNCS = ("aten::item", "aten::_local_scalar_dense", "cudaStreamSynchronize", "cudaDeviceSynchronize")


def kind_of(name: str) -> str:
    lowered = name.lower()
    return next((kind for kind, pattern in KINDS if re.search(pattern, lowered)), "other")


def device_time(event) -> float:
    """Self device (GPU) microseconds of a profiler average, across torch versions."""
    return getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0.0)


def summarise(prof, wall: float, cuda: bool) -> str:
    averages = prof.key_averages()
    lines = [f"wall seconds (profiled training and scoring): {wall:.1f}"]
    if cuda:
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        busy = sum(e.time_range.elapsed_us() for e in kernels) / 1e6
        lines.append(f"GPU busy: {busy:.1f} s of kernels = {100 * busy / wall:.0f}% of the wall time "
                     f"({len(kernels)} kernels, {len(kernels) / max(wall, 1e-9):.0f} per second)")
        by_kind: dict[str, float] = defaultdict(float)
        for e in kernels:
            by_kind[kind_of(e.name)] += e.time_range.elapsed_us() / 1e6
        lines.append("kernel time by kind:")
        lines += [f"  {kind:<32} {seconds:8.2f} s  {100 * seconds / max(busy, 1e-9):5.1f}%"
                  for kind, seconds in sorted(by_kind.items(), key=lambda kv: -kv[1])]
    counts = {e.key: e.count for e in averages}
    lines.append("host-device syncs: " + ", ".join(f"{name} x{counts.get(name, 0)}" for name in SYNCS)
                 + f", device-to-host copies x{sum(e.count for e in averages if 'DtoH' in e.key)}")
    top_gpu = sorted((e for e in averages if device_time(e) > 0), key=device_time, reverse=True)[:10]
    if top_gpu:
        lines.append("most GPU time (self):")
        lines += [f"  {device_time(e) / 1e6:8.2f} s  x{e.count:<7} {e.key[:90]}" for e in top_gpu]
    top_cpu = sorted(averages, key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    lines.append("most CPU time (self):")
    lines += [f"  {e.self_cpu_time_total / 1e6:8.2f} s  x{e.count:<7} {e.key[:90]}" for e in top_cpu]
    return "\n".join(lines)


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--method", default="ce", help="the method to profile (default ce)")
    parser.add_argument("--augment", default=None, help="its augmentation (e.g. gradmix)")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="method options (default epochs=5)")
    args = parser.parse_args()
    device = script_device(args.tiny)
    overrides = dict(item.split("=", 1) for item in args.overrides)
    overrides.setdefault("epochs", "1" if args.tiny else "5")
    request = RunRequest(method=args.method, protocol=measured_protocol(args.tiny), augment=args.augment,
                         splits=[0], data=DataOptions(args.data_root), device=device.type,
                         results_dir=args.out / "records", overrides=overrides, force=True, quiet=True,
                         **{**tiny_run_options(args.tiny), "health_check": False})
    run = Run(request)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    began = time.perf_counter()
    with profile(activities=activities) as prof:
        run.execute(Progress(quiet=True))
    wall = time.perf_counter() - began
    args.out.mkdir(parents=True, exist_ok=True)
    prof.export_chrome_trace(str(args.out / f"trace-{args.method}.json"))
    title = f"{args.method}{' + ' + args.augment if args.augment else ''} on {request.protocol} split 0, " \
            f"{' '.join(f'{k}={v}' for k, v in overrides.items())}, {torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu'}"
    print(title)
    print(summarise(prof, wall, device.type == "cuda"))


if __name__ == "__main__":
    main()
