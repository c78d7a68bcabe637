"""The final weights of a run, kept in its folder (``<run folder>/model.pt``) to score it again later.

The file holds the model's state dict and the method config it was trained with (plain data only),
and is read with ``torch.load(weights_only=True)``: a file someone else wrote is data, never code.
The method rebuilds the model from it (``MethodSpec.load``), so new postprocessors and scorers are
added to finished runs without training. Committed leaderboards leave these files out (.gitignore).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from osrbench.types import MethodSpec, OpenSetModel, OsrbenchError, RunContext, Split
from osrbench.config import config_dict, config_from_dict
from osrbench.training import save_atomic

FILENAME = "model.pt"
FORMAT = 1


def weights_path(run_dir: Path) -> Path:
    return Path(run_dir) / FILENAME


def save_weights(model: OpenSetModel, method: MethodSpec, config: Any, run_dir: Path) -> Path | None:
    """Write ``model.pt`` for methods that can rebuild their model (``MethodSpec.load``); None otherwise."""
    if method.load is None:
        return None
    path = weights_path(run_dir)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_atomic({"format": FORMAT, "method": method.name, "config": config_dict(config), "state": state}, path)
    return path


def load_weights(run_dir: Path, method: MethodSpec, split: Split, ctx: RunContext) -> OpenSetModel:
    """The trained model of a finished run, rebuilt by its method from ``model.pt``."""
    path = weights_path(run_dir)
    if method.load is None:
        raise OsrbenchError(f"method {method.name!r} cannot rebuild a trained model (its MethodSpec has no load); "
                            "rerun with --force to train again")
    if not path.is_file():
        raise OsrbenchError(f"{path} is missing: this run kept no weights; rerun with --force to train again")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise OsrbenchError(f"{path} is damaged or not a weights file ({type(exc).__name__}); "
                            "delete it and rerun with --force to train again") from None
    if (not isinstance(saved, dict) or saved.get("format") != FORMAT or not isinstance(saved.get("state"), dict)
            or not isinstance(saved.get("config"), dict)):
        raise OsrbenchError(f"{path} is not a weights file of this osrbench version (format {FORMAT}); "
                            "rerun with --force to train again")
    if saved.get("method") != method.name:
        raise OsrbenchError(f"{path} holds a model of method {saved.get('method')!r}, not {method.name!r}")
    config = config_from_dict(method.config, saved["config"], f"{path} (method {method.name!r})")
    try:
        model = method.load(saved["state"], split, config, ctx)
    except (RuntimeError, KeyError) as exc:  # shapes or keys that do not fit the rebuilt network
        raise OsrbenchError(f"{path} does not fit the model method {method.name!r} builds for this split "
                            f"({str(exc).splitlines()[0]}); rerun with --force to train again") from None
    return model.eval()
