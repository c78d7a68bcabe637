"""From (α, β) to a discrete branch-2 architecture, and its small readable JSON file.

* **Path.** The branch-2 path is the scale of the cell used at each layer, from scale 0 at layer 0
  to scale 2 at layer 5. FasterSeg's procedure (which the authors' code runs) searches the pair of
  down-sampling layers maximising β_1[i][down]·β_2[j][down] over ``j ∈ [0, L−4)``,
  ``i ∈ [1, j−1)``; for L = 6 both ranges are empty, so it always falls back to
  ``[0, 0, 1, 1, 2, 2]`` and β does not shape the derived network (``path_rule="fasterseg"``,
  the default). ``path_rule="beta"`` instead takes the path with the highest product of β
  weights, as the paper's text describes.
* **Ops.** Layer l uses the α row of cell (l, scale_l) and keeps its highest-weighted op. FasterSeg
  allows ``L − (round(L/3) + 2·2) = 0`` skip ops on branch 2, so ``skip`` is never kept: where it
  wins, the better of ``conv`` and ``conv_2x`` is used.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from osrbench import OsrbenchError
from osrbench_nasosr.operations import OP_NAMES
from osrbench_nasosr.supernet import LAYERS, SCALES, cell_exists

FASTERSEG_PATH = (0, 0, 1, 1, 2, 2)
FORMAT = "nas-osr-architecture/1"


@dataclass(frozen=True)
class Architecture:
    ops: tuple[str, ...]  # one op per layer
    scales: tuple[int, ...]  # the scale of the cell used at each layer (0, 1, 2 = stride 4, 8, 16)
    info: dict = field(default_factory=dict, compare=False)  # provenance: α rows, chosen epoch, F1

    def __post_init__(self) -> None:
        if len(self.ops) != LAYERS or any(op not in OP_NAMES for op in self.ops):
            raise OsrbenchError(f"architecture ops {list(self.ops)}: need {LAYERS} entries from {list(OP_NAMES)}")
        if tuple(self.scales) not in branch2_paths():
            raise OsrbenchError(f"architecture scales {list(self.scales)}: need a path from scale 0 to 2 that "
                                f"rises by at most 1 per layer with scale <= layer, e.g. {list(FASTERSEG_PATH)}")

    def strides(self) -> list[int]:
        """Stride of each layer's op: 2 where the next layer's cell is one scale lower in resolution."""
        nxt = [*self.scales[1:], self.scales[-1]]
        return [2 if b > a else 1 for a, b in zip(self.scales, nxt)]

    def to_dict(self) -> dict:
        return {"format": FORMAT, "ops": list(self.ops), "scales": list(self.scales), **self.info}

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Architecture":
        """The architecture in a JSON file, or a named one (``NAMED``: ``paper``)."""
        if str(path) in NAMED:
            return NAMED[str(path)]
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise OsrbenchError(f"--set arch={path}: cannot read the architecture file ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or "ops" not in data or "scales" not in data:
            raise OsrbenchError(f"--set arch={path}: not a NAS-OSR architecture file "
                                f"(expected format {FORMAT!r} with 'ops' and 'scales')")
        info = {k: v for k, v in data.items() if k not in ("format", "ops", "scales")}
        return cls(tuple(data["ops"]), tuple(int(s) for s in data["scales"]), info)


def branch2_paths() -> list[tuple[int, ...]]:
    """Every per-layer cell-scale sequence from (0, 0) to (L−1, 2) through existing cells."""
    paths = []
    for steps in itertools.product((0, 1), repeat=LAYERS - 1):
        scales = tuple(itertools.accumulate(steps, initial=0))
        if scales[-1] == SCALES - 1 and all(cell_exists(l, s) for l, s in enumerate(scales)):
            paths.append(scales)
    return paths


def path_weight(scales: tuple[int, ...], betas: list[Tensor]) -> float:
    """Product of the β weights along a path (cells with a single input contribute 1)."""
    weight = 1.0
    for l in range(1, LAYERS):
        s = scales[l]
        if s >= 1 and l > s:
            b = betas[s - 1][l - s - 1].softmax(dim=-1)
            weight *= float(b[0] if scales[l - 1] == s - 1 else b[1])
    return weight


@torch.no_grad()
def derive(alphas: list[Tensor], betas: list[Tensor], path_rule: str = "fasterseg") -> Architecture:
    scales = FASTERSEG_PATH if path_rule == "fasterseg" else max(branch2_paths(), key=lambda p: path_weight(p, betas))
    keepable = [i for i, name in enumerate(OP_NAMES) if name != "skip"]
    ops, rows = [], []
    for l, s in enumerate(scales):
        row = alphas[s][l - s].detach().float().softmax(dim=-1).cpu()
        ops.append(OP_NAMES[keepable[int(row[keepable].argmax())]])
        rows.append([round(float(v), 4) for v in row])
    return Architecture(tuple(ops), tuple(scales), {"op_names": list(OP_NAMES), "alpha_softmax": rows,
                                                    "path_rule": path_rule})


# The architecture the NAS-OSR paper reports for CIFAR10 with all losses and PAS (its table of derived
# architectures, "Lce + Lkl + Lre + Lcr (w PAS)"; spec section 7.2): ``--set arch=paper``.
NAMED = {"paper": Architecture(("conv_2x", "conv", "conv_2x", "conv", "conv_2x", "conv_2x"), FASTERSEG_PATH,
                               {"source": "NAS-OSR paper, CIFAR10, all losses with PAS"})}
