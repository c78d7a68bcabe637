"""osrbench sweep: grids, executors (local workers, a local Ray), failures, concurrent processes on one dir."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from osrbench.api import OsrbenchError
from osrbench.cli import main
from osrbench.sweep import read_grid_file

# One epoch that learns digits (the training-health guard rejects a model at chance level).
TINY = ["--set", "epochs=1", "batch_size=32", "lr=0.02"]
GRID = ["--method", "msp,mls", "--split", "0,1"]


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


def metrics_by_record(results: Path) -> dict[str, dict]:
    return {str(p.relative_to(results)): json.loads(p.read_text())["metrics"]
            for p in sorted(results.rglob("split*-seed*.json"))}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def sequential(data_root, tmp_path_factory):
    """The reference: the grid's two records (ce, scored by msp and mls) from plain sequential `osrbench run`s on
    one thread; the second run adds mls from the first run's kept weights."""
    results = tmp_path_factory.mktemp("sequential")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for method in ("msp", "mls"):
            assert main(["run", "--method", method, "--split", "0,1", "--results-dir", str(results),
                         "--data-root", str(data_root), "--quiet", *TINY]) == 0
    finally:
        torch.set_num_threads(threads)
    metrics = metrics_by_record(results)
    assert len(metrics) == 2 and all(set(m) == {"msp", "mls"} for m in metrics.values())
    return metrics


@pytest.mark.slow
def test_local_sweep_with_two_workers_gives_the_records_of_sequential_runs(sequential, data_root, tmp_path, capsys):
    res = tmp_path / "res"
    code, out = run_cli(capsys, "sweep", *GRID, "--workers", 2, "--threads", 1, "--results-dir", res,
                        "--data-root", data_root, "--quiet", *TINY)
    assert code == 0, out
    assert "2 records: 2 trained, 0 already finished, 0 failed" in out  # msp and mls: one training of ce
    assert metrics_by_record(res) == sequential
    assert "osr.auroc" in out and "/msp" in out and "/mls" in out  # ends with the grid's leaderboard
    assert not list(res.rglob("*.claim"))
    code, out = run_cli(capsys, "sweep", *GRID, "--workers", 2, "--threads", 1, "--results-dir", res,
                        "--data-root", data_root, "--quiet", *TINY)
    assert code == 0 and "0 trained, 2 already finished" in out  # the same thread count: the same records
    code, out = run_cli(capsys, "sweep", "--method", "ce", "--postprocessor", "msp,energy", "--split", "0,1",
                        "--workers", 2, "--threads", 1, "--results-dir", res, "--data-root", data_root, "--quiet", *TINY)
    assert code == 0 and "0 trained, 0 already finished, 2 completed without training" in out
    assert all(set(m) == {"msp", "mls", "energy"} for m in metrics_by_record(res).values())


@pytest.mark.slow
def test_run_with_parallel_splits_gives_the_records_of_splits_run_one_by_one(sequential, data_root, tmp_path,
                                                                                capsys, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)  # two worker processes of one thread each, as the reference
    res = tmp_path / "res"
    code, out = run_cli(capsys, "run", "--method", "ce", "--postprocessor", "msp,mls", "--split", "0,1",
                        "--parallel", 2, "--results-dir", res, "--data-root", data_root, "--quiet", *TINY)
    assert code == 0, out
    assert metrics_by_record(res) == sequential
    assert "mean ± std" in out and not list(res.rglob("*.claim"))


def test_run_parallel_must_be_a_positive_number_or_auto(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--parallel", "0"])
    out = capsys.readouterr().err
    assert exit_.value.code == 2 and "--parallel" in out and "expected a number of trainings >= 1 or auto" in out


def test_run_trains_every_split_at_once_by_default_on_cuda_only(monkeypatch):
    """``--parallel`` defaults to auto: one after another on the CPU; on CUDA as many as fit (at most 5)."""
    from types import SimpleNamespace

    from osrbench.cli import _parallel_trainings, build_parser

    assert build_parser().parse_args(["run"]).parallel is None
    assert _parallel_trainings(None, SimpleNamespace(device=torch.device("cpu"))) == 1
    monkeypatch.setattr("torch.cuda.mem_get_info", lambda device: (20 * 2**30, 80 * 2**30))
    assert _parallel_trainings(None, SimpleNamespace(device=torch.device("cuda"))) == 2
    monkeypatch.setattr("torch.cuda.mem_get_info", lambda device: (140 * 2**30, 140 * 2**30))
    assert _parallel_trainings(None, SimpleNamespace(device=torch.device("cuda"))) == 5
    assert _parallel_trainings(3, SimpleNamespace(device=torch.device("cuda"))) == 3


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason='install the ray extra: pip install -e ".[ray]"')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_sweep_on_a_local_cluster_gives_the_records_of_sequential_runs(local_ray, sequential, data_root,
                                                                          tmp_path, capsys):
    res = tmp_path / "res"
    code, out = run_cli(capsys, "sweep", *GRID, "--executor", "ray", "--results-dir", res, "--data-root", data_root,
                        "--quiet", *TINY)
    assert code == 0, out
    assert "2 trained" in out and metrics_by_record(res) == sequential


@pytest.mark.slow
def test_a_failing_job_is_reported_and_does_not_stop_the_others(data_root, tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text('[[grid]]\nmethod = "msp"\nsplit = [0]\nset = {epochs = 1, batch_size = 32, lr = 0.02}\n\n'
                    '[[grid]]\nmethod = "msp"\nsplit = [1]\nset = {epochs = 1, lr = 1e30}\n')
    res = tmp_path / "res"
    code, out = run_cli(capsys, "sweep", "--grid", grid, "--workers", 2, "--results-dir", res,
                        "--data-root", data_root, "--quiet")
    assert code == 1
    assert "1 trained, 0 already finished, 1 failed" in out
    assert re.search(r"failed: ce@\w+ on digits split 1 seed 0: .+ \(traceback: ", out)
    [record] = res.rglob("split*-seed*.json")
    assert record.name == "split0-seed0.json"
    [log] = res.rglob("*.error.log")
    assert "Traceback" in log.read_text() and str(log) in out


def test_a_worker_that_dies_is_one_failed_job_with_its_signal(tmp_path, capsys, monkeypatch):
    from osrbench_executors import local

    monkeypatch.setattr(local, "WORKER", [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 9)"])
    code, out = run_cli(capsys, "sweep", "--split", "0,1", "--workers", 2, "--results-dir", tmp_path / "res",
                        "--data-root", tmp_path, "--quiet", *TINY)
    assert code == 1 and "2 failed" in out
    assert out.count("worker process was killed by signal 9") == 2


def _together(*commands: list) -> list[str]:
    procs = [subprocess.Popen([sys.executable, "-m", "osrbench.cli", *map(str, c)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for c in commands]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), outputs
    return outputs


def _intact_records(res: Path) -> list[Path]:
    paths = sorted(res.rglob("split*-seed*.json"))
    for path in paths:
        assert all(m["osr"]["auroc"] >= 0 for m in json.loads(path.read_text())["metrics"].values())
    assert not list(res.rglob("*.claim"))
    return paths


@pytest.mark.slow
def test_two_identical_runs_started_together_train_each_split_once(data_root, tmp_path):
    res = tmp_path / "res"
    command = ["run", "--split", "0,1", "--results-dir", res, "--data-root", data_root, *TINY]
    outputs = _together(command, command)
    assert [p.name for p in _intact_records(res)] == ["split0-seed0.json", "split1-seed0.json"]
    skipped = sum(out.count("record exists") for out in outputs)
    assert skipped == 2  # each split trained by one process and taken from its record by the other


@pytest.mark.slow
def test_two_sweeps_started_together_train_each_record_once(data_root, tmp_path):
    res = tmp_path / "res"
    command = ["sweep", "--split", "0,1", "--workers", 1, "--results-dir", res, "--data-root", data_root,
               "--quiet", *TINY]
    outputs = _together(command, command)
    assert len(_intact_records(res)) == 2
    trained = [int(re.search(r"(\d+) trained", out).group(1)) for out in outputs]
    assert sum(trained) == 2, outputs


@pytest.mark.parametrize("text, message", [
    ('method = ["msp"]\nepochs = 3\n', "unknown key 'epochs'"),
    ('seed = [0, 0]\n', "lists a value twice"),
    ('split = -1\n', "split must be an integer >= 0"),
    ('method = []\n', "method must be a name or a non-empty list"),
    ('set = ["epochs=1"]\n', "set must be a table"),
    ('method = "msp"\n[[grid]]\nmethod = "mls"\n', "inside the [[grid]] tables"),
    ('method = [msp\n', "not a readable TOML file"),
])
def test_bad_grid_files_are_one_clear_error(tmp_path, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    with pytest.raises(OsrbenchError, match=re.escape(message)):
        read_grid_file(path)


def test_grid_file_expands_like_the_command_line(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('[[grid]]\nmethod = ["msp", "mls"]\naugment = ["none", "mixup"]\nseed = [0, 1]\npostprocessor = "mls"\n'
                    'set = {epochs = 2, "mixup.alpha" = 0.4}\n\n[[grid]]\nprotocol = "mnist"\nsplit = "all"\n')
    first, second = read_grid_file(path)
    assert first.methods == ["msp", "mls"] and first.augments == [None, "mixup"] and first.seeds == [0, 1]
    assert first.overrides == {"epochs": "2", "mixup.alpha": "0.4"} and first.postprocessors == ["mls"]
    assert second.protocols == ["mnist"] and second.splits is None and second.methods == ["ce"]
    assert second.postprocessors is None


@pytest.mark.parametrize("args, message", [
    (["--method", "msp,nope"], "unknown method 'nope'"),
    (["--grid", "g.toml", "--method", "msp"], "--grid and --method"),
    (["--executor", "slurm"], "unknown executor 'slurm'"),
    (["--address", "head:6379"], "--address: executor 'local' has no such option"),
    (["--workers", "0"], "--workers 0: expected at least 1"),
    (["--executor", "ray", "--executor-set", "gpus_per_job=0"], "gpus_per_job=0.0: expected a share of one GPU"),
    (["--method", "msp", "--set", "epochs=x"], "expected an int"),
])
def test_bad_sweep_input_is_one_clear_line_before_anything_runs(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    code, out = run_cli(capsys, "sweep", *args, "--results-dir", tmp_path / "res", "--data-root", tmp_path)
    assert code == 2 and message in out and "Traceback" not in out
    assert not (tmp_path / "res").exists()


@pytest.mark.slow
def test_sweep_passes_no_health_check_to_its_jobs(data_root, tmp_path, capsys):
    res = tmp_path / "res"
    code, out = run_cli(capsys, "sweep", "--method", "ce", "--split", "0", "--workers", 1, "--no-health-check",
                        "--results-dir", res, "--data-root", data_root, "--quiet", "--set", "epochs=1", "lr=0")
    assert code == 0, out
    (path,) = res.rglob("split0-seed0.json")
    record = json.loads(path.read_text())
    assert record["health_check"] is False and "did not learn" in record["warnings"][0]


def test_cpu_jobs_take_the_thread_count_of_run_unless_threads_says_otherwise(monkeypatch):
    """A sweep's CPU job and `osrbench run` of the same job use one thread count, so they give one record
    (CPU sums differ in their last digits between counts: digits msp split 0, 0.9338 on 1 thread, 0.9314 on 2)."""
    from osrbench_executors.configs import LocalConfig
    from osrbench_executors.local import LocalExecutor

    monkeypatch.setattr("osrbench_executors.local.visible_gpus", lambda: [])
    default = LocalExecutor(LocalConfig(workers=2))
    assert all("OMP_NUM_THREADS" not in slot for slot in default.slots)  # inherited, as `run` has it
    assert all(slot["OMP_NUM_THREADS"] == "1" for slot in LocalExecutor(LocalConfig(workers=2, threads=1)).slots)
