"""Every script under benchmarks/ runs its --tiny check on the CPU, so a change to the core cannot break
the GPU measurements silently (they run only on a GPU machine, where a broken script costs device time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = ["gpu_fidelity.py", "gpu_gradmix.py", "gpu_nasosr.py", "gpu_scorers.py", "gpu_sweep.py", "gpu_profile.py",
           "gpu_mahalanobis.py", "gpu_speed.py", "gpu_postprocessors.py"]


def test_every_benchmark_script_is_checked_here():
    scripts = {p.name for p in BENCHMARKS.glob("gpu_*.py")} - {"gpu_common.py"}
    assert scripts == set(SCRIPTS)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_tiny_check_of_a_benchmark_script_runs(script, tmp_path):
    proc = subprocess.run([sys.executable, script, "--tiny", "--data-root", str(tmp_path / "data"),
                           *(["--out", str(tmp_path / "out")] if script != "gpu_mahalanobis.py" else [])],
                          cwd=BENCHMARKS, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_the_recipe_script_runs_a_digits_line_on_the_cpu(tmp_path):
    proc = subprocess.run(["bash", str(BENCHMARKS / "gpu_baseline_recipes.sh"), str(tmp_path / "data"), str(tmp_path)],
                          input="digits 0 0 epochs=1 batch_size=32 lr=0.02\n", capture_output=True, text=True,
                          env={**os.environ, "DEVICE": "cpu"}, timeout=600)
    assert proc.returncode == 0 and "digits 0 0 | epochs=1 batch_size=32 lr=0.02 | AUROC" in proc.stdout, \
        proc.stdout + proc.stderr
