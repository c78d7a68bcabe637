"""Commands that train nothing start fast: they import neither torch nor scikit-learn nor matplotlib.

Start-up time is pinned by the modules a command imports (counted in a fresh interpreter), not by a
clock: importing torch and scikit-learn is what took ``osrbench --version`` about 10 s on a loaded
2-core machine.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORDS = str(ROOT / "leaderboards" / "records")
HEAVY = ("torch", "torchvision", "sklearn", "matplotlib", "ray")
TABLES = ("pandas", "scipy.stats")  # what reading records needs; never for listing or help

PROBE = """
import json, sys
from osrbench.cli import main
try:
    main(json.loads(sys.argv[1]))
except SystemExit:
    pass
sys.stdout.flush()
print("\\n" + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def imported_by(argv: list[str]) -> set[str]:
    """The modules a fresh interpreter holds after running ``osrbench ARGV``."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def top_level(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules)


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["run", "--help"], ["list"], ["list", "-v"]],
                         ids=" ".join)
def test_help_version_and_list_import_no_heavy_library(argv):
    modules = imported_by(argv)
    assert top_level(modules, HEAVY + TABLES) == []
    assert "osrbench.api" not in modules  # the plugins' specs load without the model types


@pytest.mark.parametrize("argv", [["leaderboard", "--results-dir", RECORDS],
                                  ["compare", "ce/mls", "ce/msp", "--protocol", "cifar10", "--results-dir", RECORDS]],
                         ids=lambda argv: argv[0])
def test_leaderboard_and_compare_read_records_without_torch(argv):
    assert top_level(imported_by(argv), HEAVY) == []


def test_the_leaderboard_does_not_import_scipy_stats():
    """Its intervals need only the t quantile (scipy.special); scipy.stats alone takes most of a second."""
    assert "scipy.stats" not in imported_by(["leaderboard", "--results-dir", RECORDS])


def test_a_deferred_plugin_function_is_imported_on_its_first_call():
    from osrbench.plugins import load_plugins

    spec = load_plugins().methods.get("ce")
    assert spec.fit.resolve().__module__ == "osrbench_baseline.method"
