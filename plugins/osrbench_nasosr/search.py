"""Super-network search with Pseudo Auxiliary Searching (PAS).

* The last round(K/3) known classes become pseudo-unknowns: they are left out of the search
  training completely (authors' code). The other ("KKC") classes keep labels 0..K_s−1.
* A ``val_fraction`` of the KKC training images is held out; the rest is split at random into two
  disjoint halves, D_w for the weights and D_a for α/β. The snapshot score is the open-set
  macro-F1 on the held-out KKC images (known) against the pseudo-unknown classes' training images
  (unknown). The authors use test-split images here; held-out training data keeps the test split
  untouched, as the spec recommends when validation data exists.
* Phase A (``warmup_epochs``): weight steps on D_w only. The best phase-A snapshot by F1 is
  reloaded before phase B (code). Phase B (``search_epochs``): per iteration an architecture step
  on a D_a batch then a weight step on a D_w batch (first order, ``architect.py``).
* Snapshots are scored every ``search_eval_every`` epochs and at each phase's last epoch; the
  (α, β) of the phase-B snapshot with the **highest** F1 (paper; the code keeps the lowest) are
  derived into the architecture.
* The whole state is checkpointed to ``nasosr-search.ckpt`` in the run's work dir (at most every 5 minutes
  and at each phase end) and an interrupted search resumes from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from osrbench import OsrbenchError, RunContext, Split
from osrbench.batches import Minibatches, map_batches, to_float
from osrbench.gpu_augment import random_affine_crop
from osrbench.training import check_finite, load_checkpoint, rng_state, save_atomic, set_rng_state
from osrbench_nasosr.architect import Architect
from osrbench_nasosr.config import NasOsrConfig
from osrbench_nasosr.derivation import Architecture, derive
from osrbench_nasosr.losses import LossWeights, linear_warmup, nasosr_loss
from osrbench_nasosr.operations import init_weights
from osrbench_nasosr.supernet import SuperNet
from osrbench_nasosr.rejection_rule import decide, fit_test_rule, open_set_f1
from osrbench_nasosr.vae import ConditionalVAE

CHECKPOINT_SECONDS = 300.0  # a full-size super-network checkpoint is several GB


@dataclass
class PasData:
    weight_images: torch.Tensor
    weight_labels: torch.Tensor
    arch_images: torch.Tensor
    arch_labels: torch.Tensor
    val_images: torch.Tensor  # held-out KKC images, then pseudo-unknown images
    val_labels: torch.Tensor  # KKC label, or num_search_classes for pseudo-unknowns
    num_search_classes: int


def pseudo_unknown_count(num_classes: int, config: NasOsrConfig) -> int:
    n = round(num_classes / 3) if config.pseudo_unknowns < 0 else config.pseudo_unknowns
    if not 1 <= n <= num_classes - 2:
        raise OsrbenchError(f"--set pseudo_unknowns={n}: with {num_classes} known classes it must lie in "
                            f"1..{num_classes - 2} (the search needs 2 known classes and 1 pseudo-unknown)")
    return n


def pas_split(images: torch.Tensor, labels: torch.Tensor, num_classes: int, num_pseudo: int, val_fraction: float,
              generator: torch.Generator) -> PasData:
    k = num_classes - num_pseudo
    kkc = torch.nonzero(labels < k).flatten().cpu()
    kkc = kkc[torch.randperm(len(kkc), generator=generator)].to(labels.device)
    n_val = max(1, round(val_fraction * len(kkc)))
    half = (len(kkc) - n_val) // 2
    val, weights, arch = kkc[:n_val], kkc[n_val:n_val + half], kkc[n_val + half:n_val + 2 * half]
    pseudo = torch.nonzero(labels >= k).flatten()
    return PasData(
        weight_images=images[weights], weight_labels=labels[weights],
        arch_images=images[arch], arch_labels=labels[arch],
        val_images=torch.cat([images[val], images[pseudo]]),
        val_labels=torch.cat([labels[val], torch.full_like(labels[pseudo], k)]),
        num_search_classes=k,
    )


def build_search_vae(split: Split, num_classes: int, config: NasOsrConfig, ctx: RunContext) -> ConditionalVAE:
    vae = ConditionalVAE(SuperNet(split.image_shape[0], config.width), in_channels=split.image_shape[0],
                         num_classes=num_classes, width=config.width, z_dim=config.z_dim, u_dim=config.u_dim,
                         input_size=config.input_size, mean=split.mean, std=split.std, unet=True,
                         recon_source="latent", decoder_output=config.decoder_output)
    init_weights(vae)
    return vae.to(ctx.device, memory_format=ctx.memory_format)


def build_architect(vae: ConditionalVAE, config: NasOsrConfig, ctx: RunContext, hflip: bool,
                    iteration: Callable[[], int]) -> Architect:
    """The architect with the search loss: augment, forward under autocast, the four losses (KL warmed up)."""
    weights = LossWeights(ce=config.search_ce_weight, kl=config.search_kl_weight, kl_z=config.search_kl_z_weight,
                          re=config.re_weight, cr=config.search_cr_weight, temperature=config.search_temperature)

    def loss(batch) -> torch.Tensor:
        images, labels = batch
        x = random_affine_crop(to_float(images, ctx), scale=(config.crop_scale_min, 1.0), degrees=config.rotation,
                             hflip=hflip)
        with ctx.autocast():
            out = vae(x)
        return nasosr_loss(out, labels.to(ctx.device), vae.prior_means(), config.z_dim, weights,
                           linear_warmup(iteration(), config.kl_warmup_iterations)).total

    return Architect(vae, loss, weight_lr=config.weight_lr, weight_decay=config.weight_decay_search,
                     arch_lr=config.arch_lr, grad_clip=config.grad_clip,
                     accumulate_arch_grads=config.accumulate_arch_grads)


@torch.no_grad()
def score_snapshot(vae: ConditionalVAE, data: PasData, config: NasOsrConfig, ctx: RunContext) -> dict:
    """Open-set macro-F1 with the pseudo-unknowns as unknowns (0 if a class has < 2 correct samples, as in the code)."""
    fit = fit_test_rule(vae, data.weight_images, data.weight_labels, ctx, reconstruction="plain",
                        threshold_rule=config.rec_threshold_rule, level=config.search_gaussian_level,
                        draws=config.mc_draws, corner=config.gaussian_corner)
    if fit.stats.degenerate:
        ctx.progress.log(f"[yellow]search: classes {fit.stats.degenerate} have < 2 correctly classified "
                         "training samples; snapshot F1 set to 0[/yellow]")
        return {"macro_f1_code": 0.0, "macro_f1": 0.0}
    vae.eval()
    try:
        pred = map_batches(lambda x: decide(*fit.rule.parts(vae, x), data.num_search_classes),
                           data.val_images, ctx, 512)
    finally:
        vae.train()
    return open_set_f1(data.val_labels, pred, data.num_search_classes)


@dataclass
class SearchOutcome:
    arch: Architecture
    pseudo_unknowns: list[int]
    history: list[dict] = field(default_factory=list)
    selected_epoch: int = 0
    seconds: float = 0.0


def search(split: Split, config: NasOsrConfig, ctx: RunContext) -> SearchOutcome:
    generator = torch.Generator().manual_seed(ctx.seed)
    num_pseudo = pseudo_unknown_count(split.num_classes, config)
    data = pas_split(split.train_images, split.train_labels, split.num_classes, num_pseudo, config.val_fraction,
                     generator)
    vae = build_search_vae(split, data.num_search_classes, config, ctx)
    state = {"epoch": 0, "iteration": 0, "history": [], "best": {"warmup": None, "search": None}, "seconds": 0.0}

    architect = build_architect(vae, config, ctx, split.hflip, lambda: state["iteration"])
    scheduler = torch.optim.lr_scheduler.ExponentialLR(architect.weight_opt, gamma=config.lr_decay_search)
    weight_batches = Minibatches(data.weight_images, data.weight_labels, config.batch_size, generator=generator)
    arch_batches = Minibatches(data.arch_images, data.arch_labels, config.batch_size, generator=generator)
    if len(weight_batches) == 0:
        raise OsrbenchError("the search has no training batches: raise train_per_class or lower val_fraction")
    iterations = config.search_iterations or len(weight_batches)

    path = ctx.work_dir / "nasosr-search.ckpt"
    saved = load_checkpoint(path, ctx)
    if saved is not None:
        vae.load_state_dict(saved["vae"])
        architect.load_state_dict(saved["architect"])
        scheduler.load_state_dict(saved["scheduler"])
        state.update(saved["state"])
        set_rng_state(saved["rng"], generator)
        ctx.progress.log(f"resuming the NAS-OSR search from epoch {state['epoch']} ({path})")

    def checkpoint() -> None:
        save_atomic({"vae": vae.state_dict(), "architect": architect.state_dict(),
                     "scheduler": scheduler.state_dict(), "state": state, "rng": rng_state(generator)}, path)

    total = config.warmup_epochs + config.search_epochs
    w_iter, a_iter = weight_batches.endless(), arch_batches.endless()
    last_save = time.perf_counter()
    with ctx.progress.task("nas-osr search", total=total) as bar:
        bar.advance(state["epoch"])
        while state["epoch"] < total:
            began = time.perf_counter()
            epoch = state["epoch"]
            phase = "warmup" if epoch < config.warmup_epochs else "search"
            if epoch == config.warmup_epochs and state["best"]["warmup"] is not None:
                vae.load_state_dict(state["best"]["warmup"].pop("state"))  # code: reload the selected warm-up snapshot
            vae.train()
            running = torch.zeros((), device=ctx.device)
            for _ in range(iterations):
                if phase == "search":
                    architect.arch_step(next(a_iter))
                running += architect.weight_step(next(w_iter)).float()
                state["iteration"] += 1
            scheduler.step()
            mean_loss = (running / iterations).item()
            check_finite(mean_loss, "nas-osr search", epoch, "--set weight_lr=... arch_lr=...")
            phase_start = 0 if phase == "warmup" else config.warmup_epochs
            phase_end = epoch + 1 in (config.warmup_epochs, total)
            info = f"{phase} loss {mean_loss:.3f}"
            if (epoch - phase_start) % config.search_eval_every == 0 or phase_end:
                scores = score_snapshot(vae, data, config, ctx)
                state["history"].append({"epoch": epoch + 1, "phase": phase, "loss": round(mean_loss, 5),
                                         **{k: round(v, 5) for k, v in scores.items()}})
                best = state["best"][phase]
                if best is None or scores["macro_f1_code"] > best["f1"]:
                    snapshot = ({k: v.detach().clone() for k, v in vae.state_dict().items()} if phase == "warmup"
                                else [p.detach().clone() for p in vae.arch_parameters()])
                    state["best"][phase] = {"epoch": epoch + 1, "f1": scores["macro_f1_code"], "state": snapshot}
                info += f" F1 {scores['macro_f1_code']:.3f}"
            state["epoch"] = epoch + 1
            state["seconds"] += time.perf_counter() - began
            bar.advance(info=info)
            if phase_end or time.perf_counter() - last_save > CHECKPOINT_SECONDS:
                checkpoint()
                last_save = time.perf_counter()

    best = state["best"]["search"]
    alphas, betas = best["state"][:3], best["state"][3:]
    arch = derive(alphas, betas, config.path_rule)
    arch.info.update({"selected_epoch": best["epoch"], "search_macro_f1_code": round(best["f1"], 5)})
    pseudo = list(range(data.num_search_classes, split.num_classes))
    return SearchOutcome(arch, pseudo, state["history"], best["epoch"], state["seconds"])
