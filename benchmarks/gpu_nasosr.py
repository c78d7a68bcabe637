"""NAS-OSR on the GPU: search throughput, a budgeted search + retrain on cifar10 split 0, the results.

    python benchmarks/gpu_nasosr.py --data-root DIR --out DIR [--tiny] [--budget 420]

1. Builds the full-size super-network (F = 16, batch 64) and times the phase-A step (weights only)
   and the phase-B iteration (architecture step + weight step), the snapshot scoring pass and the
   retraining step of the paper's architecture; prints the throughputs in images/s.
2. From those timings picks the epochs that fit the budget (whole script ≈ ``--budget`` seconds):
   ~30% for the search (equal warm-up and search epochs, a snapshot scored every epoch), ~70% for
   retraining, and runs the method's ``fit`` (search, derivation, retraining, test-rule fit) with
   those epochs; scores it with the scorers ``osr`` and ``nas-osr-rule``, once with the authors'
   Gaussian corner (default) and once with the rule refitted with ``gaussian_corner=correlation``.
3. Prints the epochs used, the derived architecture, parameter count, FLOPs (FlopCounterMode, one
   32×32 image: encoder alone and the whole test-time pass with the K counterfactual decodes),
   AUROC and macro-F1, and writes them to ``OUT/nasosr_gpu_summary.json``.

``--tiny`` runs the same code on the digits protocol with the spec's fast-version sizes (CPU is
fine) to check the script end to end.
"""

from __future__ import annotations

import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from osrbench import RunContext
from osrbench.batches import Minibatches
from osrbench.config import build_config
from osrbench.plugins import load_plugins
from osrbench.progress import Progress
from osrbench.runner import seed_everything
from osrbench.training import save_atomic
from osrbench_nasosr import FAST_OVERRIDES, NasOsrConfig
from osrbench_nasosr.method import NasOsrModel, fit, limit_per_class
from osrbench_nasosr.derivation import NAMED, Architecture
from osrbench_nasosr.retrain import build_final_vae, retrain_step

from gpu_common import measured_protocol, script_arguments, seconds_per_call, script_device, split_zero
from osrbench_nasosr.scorer import RuleScorerConfig, score_rule
from osrbench_nasosr.search import build_architect, build_search_vae, pas_split, pseudo_unknown_count, score_snapshot
from osrbench_nasosr.rejection_rule import fit_test_rule

PAPER_ARCH = NAMED["paper"]
RESERVE_SECONDS = 45.0  # final test-rule fits, scorers, FLOP count
SEARCH_SHARE = 0.3  # of the time left after the measurements; the rest goes to retraining


def measure_search(split, config: NasOsrConfig, ctx: RunContext, calls: int) -> dict:
    data = pas_split(split.train_images, split.train_labels, split.num_classes,
                     pseudo_unknown_count(split.num_classes, config), config.val_fraction,
                     torch.Generator().manual_seed(0))
    vae = build_search_vae(split, data.num_search_classes, config, ctx)
    architect = build_architect(vae, config, ctx, split.hflip, lambda: 0)
    batches = Minibatches(data.weight_images, data.weight_labels, config.batch_size)
    stream = batches.endless()
    weight_step = seconds_per_call(lambda: architect.weight_step(next(stream)), calls, ctx.device)
    both = seconds_per_call(lambda: (architect.arch_step(next(stream)), architect.weight_step(next(stream))),
                            calls, ctx.device)
    began = time.perf_counter()
    score_snapshot(vae, data, config, ctx)
    scoring = time.perf_counter() - began
    began = time.perf_counter()  # the search checkpoints at each phase end (several GB at full size)
    probe = ctx.work_dir / "probe.ckpt"
    save_atomic({"vae": vae.state_dict(), "architect": architect.state_dict()}, probe)
    saving = time.perf_counter() - began
    probe.unlink()
    out = {"supernet_parameters": sum(p.numel() for p in vae.parameters()), "iterations_per_epoch": len(batches),
           "weight_step_s": weight_step, "search_iteration_s": both, "snapshot_scoring_s": scoring,
           "checkpoint_s": saving,
           "phase_a_images_per_s": config.batch_size / weight_step,
           "phase_b_images_per_s": 2 * config.batch_size / both}
    return out


def measure_retrain(split, config: NasOsrConfig, ctx: RunContext, calls: int) -> dict:
    vae = build_final_vae(PAPER_ARCH, split, config, ctx)
    step = retrain_step(vae, config, ctx, split.hflip)
    opt = torch.optim.SGD(vae.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    stream = Minibatches(split.train_images, split.train_labels, config.batch_size).endless()

    def one() -> None:
        images, labels = next(stream)
        with ctx.autocast():
            loss = step((0, images, labels))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    seconds = seconds_per_call(one, calls, ctx.device)
    iterations = len(split.train_images) // config.batch_size
    return {"retrain_step_s": seconds, "iterations_per_epoch": iterations,
            "retrain_images_per_s": config.batch_size / seconds}


@torch.no_grad()
def count_flops(arch: Architecture, split, config: NasOsrConfig, ctx: RunContext) -> dict:
    vae = build_final_vae(arch, split, config, ctx).eval()
    image = torch.rand(1, *split.image_shape, device=ctx.device)
    with FlopCounterMode(display=False) as encoder:
        vae.encode(vae.prepare(image))
    with FlopCounterMode(display=False) as full:
        x = vae.prepare(image)
        mu, _, maps = vae.encode(x)
        vae.class_logits(mu[:, vae.z_dim:])
        vae.counterfactuals(mu[:, :vae.z_dim], vae.prior_means(), maps)
    return {"parameters": sum(p.numel() for p in vae.parameters()),
            "encoder_parameters": sum(p.numel() for p in vae.encoder.parameters()),
            "encoder_gflops": encoder.get_total_flops() / 1e9, "test_pass_gflops": full.get_total_flops() / 1e9}


def plan_epochs(search: dict, retrain: dict, remaining: float, tiny: bool) -> dict[str, str]:
    """Equal warm-up and search epochs in ~30% of the remaining time, retraining epochs in ~70%."""
    pair = search["iterations_per_epoch"] * (search["weight_step_s"] + search["search_iteration_s"])
    pair += 2 * search["snapshot_scoring_s"]
    per_phase = max(1, int((SEARCH_SHARE * remaining - 2 * search["checkpoint_s"]) // pair))
    retrain_epoch = retrain["iterations_per_epoch"] * retrain["retrain_step_s"]
    retrain_epochs = max(1, int((1 - SEARCH_SHARE) * remaining // retrain_epoch))
    if tiny:
        per_phase, retrain_epochs = min(per_phase, 1), min(retrain_epochs, 2)
    return {"warmup_epochs": str(per_phase), "search_epochs": str(per_phase), "search_eval_every": "1",
            "retrain_epochs": str(retrain_epochs)}


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the whole script (default 420)")
    args = parser.parse_args()
    began = time.perf_counter()
    device = script_device(args.tiny)
    protocol = measured_protocol(args.tiny)
    base = dict(FAST_OVERRIDES) if args.tiny else {}
    config = build_config(NasOsrConfig, base, "nas-osr")
    split = limit_per_class(split_zero(args.tiny, args.data_root, device), config.train_per_class)
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(device=device, seed=0, work_dir=args.out, progress=Progress(quiet=True))
    seed_everything(0)
    calls = 2 if args.tiny else 10

    search = measure_search(split, config, ctx, calls)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    retrain = measure_retrain(split, config, ctx, calls)
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}; protocol {protocol} split 0, "
          f"{len(split.train_images)} training images, batch {config.batch_size}")
    print(f"super-network: {search['supernet_parameters'] / 1e6:.1f} M parameters")
    print(f"search throughput: phase A (weight step) {search['phase_a_images_per_s']:.0f} images/s, "
          f"phase B (architecture + weight step) {search['phase_b_images_per_s']:.0f} images/s "
          f"({search['search_iteration_s'] * 1e3:.1f} ms/iteration), snapshot scoring {search['snapshot_scoring_s']:.1f} s")
    print(f"retraining throughput (paper architecture): {retrain['retrain_images_per_s']:.0f} images/s")

    remaining = args.budget - (time.perf_counter() - began) - RESERVE_SECONDS
    plan = plan_epochs(search, retrain, remaining, args.tiny)
    print(f"epochs used: warm-up {plan['warmup_epochs']}, search {plan['search_epochs']}, "
          f"retraining {plan['retrain_epochs']} (paper: 30 + 30 and 300)")
    config = build_config(NasOsrConfig, {**base, **plan}, "nas-osr")
    run_ctx = RunContext(device=device, seed=0, work_dir=args.out / "run", progress=Progress(quiet=True))
    run_ctx.work_dir.mkdir(exist_ok=True)
    for stale in run_ctx.work_dir.glob("*.ckpt"):
        stale.unlink()
    seed_everything(0)
    fit_began = time.perf_counter()
    model = fit(split, config, run_ctx)
    fit_seconds = time.perf_counter() - fit_began
    info = run_ctx.extra_record
    arch = Architecture.load(info["architecture_file"])
    flops = count_flops(arch, split, config, ctx)
    metrics = {"code": score(model, split, run_ctx)}
    # the same trained network with the scale-free Gaussian corner (config gaussian_corner=correlation)
    other = fit_test_rule(model.vae, split.train_images, split.train_labels, run_ctx, reconstruction="counterfactual",
                          threshold_rule=config.rec_threshold_rule, level=config.gaussian_level,
                          draws=config.mc_draws, corner="correlation")
    metrics["correlation"] = score(NasOsrModel(model.vae, other.rule, config.score), split, run_ctx)

    print(f"derived architecture: {list(arch.ops)} on scales {list(arch.scales)} "
          f"(snapshot of epoch {info['selected_epoch']}; paper: {list(PAPER_ARCH.ops)})")
    for h in info["search_history"]:
        print(f"  search epoch {h['epoch']:>3} ({h['phase']}): loss {h['loss']:.3f}, "
              f"pseudo-unknown macro-F1 {h['macro_f1_code']:.4f} (sklearn {h['macro_f1']:.4f})")
    print(f"parameters: {flops['parameters'] / 1e6:.2f} M (encoder {flops['encoder_parameters'] / 1e6:.2f} M); "
          f"FLOPs per 32x32 image: encoder {flops['encoder_gflops']:.2f} G, test pass with "
          f"{split.num_classes} counterfactuals {flops['test_pass_gflops']:.2f} G (FLOPs = 2 x MACs)")
    print(f"search {info['search_seconds']:.0f} s, retraining {info['retrain_seconds']:.0f} s, "
          f"search + retrain + rule fit {fit_seconds:.0f} s; training accuracy {info['train_accuracy']:.4f}")
    for corner, m in metrics.items():
        osr, rule = m["osr"], m["nas-osr-rule"]
        print(f"[gaussian_corner={corner}] AUROC {osr['auroc']:.4f} (reconstruction alone "
              f"{rule['auroc_reconstruction']:.4f}, Gaussian alone {rule['auroc_gaussian']:.4f}); closed-set "
              f"accuracy {osr['accuracy']:.4f}; macro-F1 of the test rule {100 * rule['macro_f1_code']:.2f} "
              f"(authors' form; sklearn {100 * rule['macro_f1']:.2f}; known rejected {rule['known_rejected']:.3f}, "
              f"unknown rejected {rule['unknown_rejected']:.3f}); macro-F1 at 95% known-test TPR "
              f"{100 * osr['macro_f1']:.2f}")
    print("paper (CIFAR10, own splits, 60 search + 300 retraining epochs): AUROC 0.843, macro-F1 75.29")
    summary = {"search_timing": search, "retrain_timing": retrain, "plan": plan, "architecture": arch.to_dict(),
               "flops": flops, "metrics": metrics, "method_info": info, "wall_seconds": time.perf_counter() - began}
    (args.out / "nasosr_gpu_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"script wall time {time.perf_counter() - began:.0f} s; summary in {args.out / 'nasosr_gpu_summary.json'}")


def score(model: NasOsrModel, split, ctx: RunContext) -> dict:
    """The harness's ``osr`` scorer and this plugin's ``nas-osr-rule`` scorer."""
    osr = load_plugins().scorers.get("osr")
    return {"osr": osr.score(model, split, osr.config(), ctx),
            "nas-osr-rule": score_rule(model, split, RuleScorerConfig(), ctx)}


if __name__ == "__main__":
    main()
