"""Where a training's time goes: torch.profiler over a window of training steps of one method, as one table.

    python benchmarks/gpu_profile.py --data-root DIR --out DIR [--method ce] [--augment NAME] [--set KEY=VALUE ...]
                                     [--skip 30] [--steps 100] [--trace]

Trains ``--method`` on split 0 of cifar10 through the harness (``osrbench.runner.Run``: the same code as
``osrbench run``) and profiles optimizer steps ``skip+1 .. skip+steps`` only (after compilation and cuDNN
autotuning; every optimizer step advances the profiler's schedule, whatever the method). Profiling whole
epochs is not an option: a few epochs of GradMix are millions of events, and summarising them in Python
took longer than a 10-minute GPU call. Prints the window's wall seconds, the GPU's busy share (the
kernels' summed time over the wall time), kernel time by kind (convolutions, matrix products,
element-wise and normalisation, reductions, optimizer, copies), the host-device syncs (``aten::item`` and
``aten::_local_scalar_dense``, ``cudaStreamSynchronize``, device-to-host copies) per step and the ten
operators of most GPU and most CPU time. ``--trace`` also writes ``OUT/trace-METHOD.json`` (Perfetto).
``--tiny`` runs the same code on the digits protocol on the CPU, one epoch.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
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


def summarise(prof, wall: float, cuda: bool, steps: int) -> str:
    averages = prof.key_averages()
    lines = [f"wall seconds of the {steps} profiled steps: {wall:.2f} ({1e3 * wall / steps:.1f} ms per step)"]
    if cuda:
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA
                   and not e.name.startswith("ProfilerStep")]  # the step's own span is no kernel
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
    copies = sum(e.count for e in averages if "DtoH" in e.key)
    lines.append("host-device syncs per step: " + ", ".join(f"{name} {counts.get(name, 0) / steps:.1f}" for name in SYNCS)
                 + f", device-to-host copies {copies / steps:.1f}")
    top_gpu = sorted((e for e in averages if device_time(e) > 0 and not e.key.startswith("ProfilerStep")),
                     key=device_time, reverse=True)[:10]
    if top_gpu:
        lines.append("most GPU time (self):")
        lines += [f"  {device_time(e) / 1e6:8.2f} s  x{e.count:<7} {e.key[:90]}" for e in top_gpu]
    top_cpu = sorted(averages, key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    lines.append("most CPU time (self):")
    lines += [f"  {e.self_cpu_time_total / 1e6:8.2f} s  x{e.count:<7} {e.key[:90]}" for e in top_cpu]
    return "\n".join(lines)


class StepWindow:
    """Advances the profiler's schedule at every optimizer step (a global post-hook, so any method's loop
    counts) and times the active window, with the device synchronised at its two ends."""

    def __init__(self, prof, skip: int, steps: int, cuda: bool):
        self.prof, self.first, self.last, self.cuda = prof, skip, skip + steps, cuda
        self.step, self.began, self.ended = 0, None, None

    def __call__(self, *_args) -> None:
        self.step += 1
        if self.step in (self.first, self.last) and self.cuda:
            torch.cuda.synchronize()
        if self.step == self.first:
            self.began = time.perf_counter()
        elif self.step == self.last:
            self.ended = time.perf_counter()
        self.prof.step()


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--method", default="ce", help="the method to profile (default ce)")
    parser.add_argument("--augment", default=None, help="its augmentation (e.g. gradmix)")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="method options (default epochs=5; enough epochs for skip + steps optimizer steps)")
    parser.add_argument("--skip", type=int, default=30, help="optimizer steps before the window (default 30)")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps profiled (default 100)")
    parser.add_argument("--trace", action="store_true", help="also write the Chrome trace of the window")
    args = parser.parse_args()
    device = script_device(args.tiny)
    overrides = dict(item.split("=", 1) for item in args.overrides)
    overrides.setdefault("epochs", "1" if args.tiny else "5")
    skip, steps = (1, 3) if args.tiny else (args.skip, args.steps)
    request = RunRequest(method=args.method, protocol=measured_protocol(args.tiny), augment=args.augment,
                         splits=[0], data=DataOptions(args.data_root), device=device.type,
                         results_dir=args.out / "records", overrides=overrides, force=True, quiet=True,
                         **{**tiny_run_options(args.tiny), "health_check": False})
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    # wait skip - 1 steps, then one warm-up step, then record steps skip+1 .. skip+steps
    schedule = torch.profiler.schedule(wait=max(skip - 1, 0), warmup=1 if skip else 0, active=steps, repeat=1)
    with profile(activities=activities, schedule=schedule) as prof:
        window = StepWindow(prof, skip, steps, device.type == "cuda")
        hook = register_optimizer_step_post_hook(window)
        try:
            Run(request).execute(Progress(quiet=True))
        finally:
            hook.remove()
    if window.ended is None:
        raise SystemExit(f"the run took only {window.step} optimizer steps, fewer than --skip {skip} + --steps "
                         f"{steps}: raise --set epochs=...")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.trace:
        prof.export_chrome_trace(str(args.out / f"trace-{args.method}.json"))
    title = f"{args.method}{' + ' + args.augment if args.augment else ''} on {request.protocol} split 0, " \
            f"{' '.join(f'{k}={v}' for k, v in overrides.items())}, optimizer steps {skip + 1}-{skip + steps}, " \
            f"{torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu'}"
    print(title)
    print(summarise(prof, window.ended - window.began, device.type == "cuda", steps))


if __name__ == "__main__":
    main()
