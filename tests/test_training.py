"""The shared training loop: an interrupted run resumes from its checkpoint; NaN stops it."""

import math

import pytest
import torch

from osrbench import RunContext
from osrbench.progress import Progress
from osrbench.training import (
    NonFiniteLoss,
    UntrainedModel,
    check_learned,
    load_checkpoint,
    set_rng_state,
    train_epochs,
)


def _setup(tmp_path):
    torch.manual_seed(0)
    ctx = RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path, progress=Progress(quiet=True))
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = [torch.randn(8, 2) for _ in range(3)]
    return ctx, model, opt, data


def test_interrupted_training_resumes_where_it_stopped(tmp_path):
    ctx, model, opt, data = _setup(tmp_path)
    seen = []

    def step(x, fail_at=None):
        seen.append(len(seen))
        if fail_at is not None and len(seen) > fail_at:
            raise KeyboardInterrupt
        return model(x).pow(2).mean()

    with pytest.raises(KeyboardInterrupt):
        train_epochs(ctx, modules={"m": model}, optimizer=opt, epochs=5, batches=lambda e: data,
                     step=lambda x: step(x, fail_at=7), checkpoint_seconds=0)
    # 2 full epochs (6 steps) were checkpointed before the failure in epoch 3
    ctx2, model2, opt2, _ = _setup(tmp_path)
    seen.clear()
    train_epochs(ctx2, modules={"m": model2}, optimizer=opt2, epochs=5, batches=lambda e: data, step=step)
    assert len(seen) == 3 * 3  # only epochs 3, 4 and 5 ran again
    assert (tmp_path / "train.ckpt").exists()


def test_a_nan_loss_raises_a_clear_error(tmp_path):
    ctx, model, opt, data = _setup(tmp_path)
    with pytest.raises(NonFiniteLoss, match="loss became nan in epoch 1"):
        train_epochs(ctx, modules={"m": model}, optimizer=opt, epochs=2, batches=lambda e: data,
                     step=lambda x: model(x).mean() * float("nan"))


def test_a_checkpoint_loaded_for_another_device_restores_its_rng_states(tmp_path):
    """A run on a GPU loads its checkpoint for that device; the RNG states inside must still restore
    (torch only takes CPU byte tensors). The meta device stands in for a GPU on a CPU-only machine."""
    ctx, model, opt, data = _setup(tmp_path)
    train_epochs(ctx, modules={"m": model}, optimizer=opt, epochs=1, batches=lambda e: data,
                 step=lambda x: model(x).pow(2).mean())
    on_gpu = RunContext(device=torch.device("meta"), seed=0, work_dir=tmp_path, progress=Progress(quiet=True))
    state = load_checkpoint(tmp_path / "train.ckpt", on_gpu)
    expected = state["rng"]["cpu"].clone()
    torch.manual_seed(123)
    set_rng_state(state["rng"])
    assert torch.equal(torch.get_rng_state(), expected)


@pytest.mark.parametrize("losses, verdict", [
    ([2.0, 1.0, 0.4], None),                       # learned
    ([1.80, 1.79, 1.78], "did not learn"),         # stayed at chance (ln 6 = 1.79)
    ([1.6, 9.0, 43.2], "training diverged"),       # far above chance
    ([1.2, 0.6, 1.75], "training diverged"),       # back up to chance from a low
])
def test_the_health_guard_tells_a_diverged_training_from_one_that_did_not_learn(tmp_path, losses, verdict):
    ctx = RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path, progress=Progress(quiet=True))
    if verdict is None:
        check_learned(ctx, losses, math.log(6), "train")
        return
    with pytest.raises(UntrainedModel, match=verdict):
        check_learned(ctx, losses, math.log(6), "train")
