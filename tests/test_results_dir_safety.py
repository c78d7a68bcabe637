"""Issue 24, items 3 and 4: nothing outside the results dir changes, and faults (a raising scorer, a full
disk, SIGTERM, a stopped sweep) end cleanly."""

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from guide import write_blobs, write_protocol
from test_faults import BadOutputs, EmptyConfig
from test_record_identity import NEAREST_MEAN, run

import osrbench
from osrbench import OsrbenchError, ScorerSpec
from osrbench.claims import claim_record, lock_path
from osrbench.cli import main
from osrbench.jobs import Job
from osrbench.plugins import build_plugins
from osrbench.runner import RunRequest
from osrbench.safe_files import atomic_write
from osrbench.training import save_atomic
from osrbench_executors import local


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every file (content) and folder under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else "dir" for p in sorted(folder.rglob("*"))}


@pytest.fixture
def blobs(tmp_path):
    write_blobs(tmp_path / "data")
    write_protocol(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    for name in ("best.ckpt", "attempts.json", "file"):
        (victim / name).write_text(f"the user's {name}")
    return tmp_path


def run_folder(tmp_path: Path) -> Path:
    """Where the nearest-mean run of split 0 keeps its folder (made by one run, then emptied)."""
    run(tmp_path)
    (record,) = (tmp_path / "res").rglob("split0-seed0.json")
    return record.with_suffix("")


# --------------------------------------------------------------------------- item 3: links

@pytest.mark.parametrize("plant", [
    lambda folder, victim: (folder.rename(folder.with_name("moved")), folder.symlink_to(victim)),
    lambda folder, victim: (shutil.rmtree(folder / NEAREST_MEAN), (folder / NEAREST_MEAN).symlink_to(victim)),
    lambda folder, victim: (folder / "train.ckpt").symlink_to(victim / "best.ckpt"),
    lambda folder, victim: (folder / "train.ckpt.tmp").symlink_to(victim / "best.ckpt"),
    lambda folder, victim: (folder / ".attempts.json.tmp").symlink_to(victim / "attempts.json"),
    lambda folder, victim: folder.with_name("split0-seed0.error.log").symlink_to(victim / "file"),
])
def test_a_link_in_a_run_folder_is_refused_and_nothing_outside_changes(blobs, plant):
    folder = run_folder(blobs)
    before = snapshot(blobs / "victim")
    plant(folder, blobs / "victim")
    with pytest.raises(OsrbenchError, match="is a symbolic link inside the results dir"):
        run(blobs, force=True)
    assert snapshot(blobs / "victim") == before


def test_links_planted_under_old_temporary_names_are_never_written_through(blobs):
    label = run_folder(blobs).parent
    before = snapshot(blobs / "victim")
    for name in (".split0-seed0.json.tmp", f".split0-seed0.json.{os.getpid()}.tmp", ".split0-seed0.json.claim.tmp"):
        (label / name).symlink_to(blobs / "victim" / "file")
    the_run, _ = run(blobs, force=True)
    assert the_run.trained == [0] and snapshot(blobs / "victim") == before


def test_a_run_folder_link_is_one_line_on_the_command_line(blobs, capsys):
    folder = blobs / "res" / "digits" / "ce" / "split0-seed0"
    folder.parent.mkdir(parents=True)
    folder.symlink_to(blobs / "victim")
    before = snapshot(blobs / "victim")
    code = main(["run", "--split", "0", "--results-dir", str(blobs / "res"), "--quiet"])
    out = capsys.readouterr().err
    assert code == 2 and len(out.strip().splitlines()) == 1 and "symbolic link" in out
    assert snapshot(blobs / "victim") == before


# --------------------------------------------------------------------------- item 4: faults

class Raising:
    @osrbench.hookimpl
    def osrbench_scorers(self):
        def score(model, split, config, ctx):
            ctx.work_dir.mkdir(parents=True, exist_ok=True)
            (ctx.work_dir / "half-drawn.png").write_bytes(b"png")
            raise ValueError("boom")
        return [ScorerSpec("raises", "writes a plot, then raises", EmptyConfig, score)]


def test_a_raising_scorer_fails_alone_and_later_splits_run(blobs, capsys, monkeypatch):
    plugins = build_plugins(extra={"good": BadOutputs("none"), "raising": Raising()})
    monkeypatch.setattr("osrbench.runner.load_plugins", lambda: plugins)
    args = ["run", "--method", NEAREST_MEAN, "--protocol", str(blobs / "blobs.json"), "--split", "0,1",
            "--scorer", "raises,osr", "--results-dir", str(blobs / "res"), "--data-root", str(blobs / "data"),
            "--quiet"]
    write_protocol(blobs, splits=[{"known": [0, 1, 2, 3], "unknown": [6, 7]}, {"known": [4, 5, 6, 7], "unknown": [0]}])
    code = main(args)
    err = capsys.readouterr().err
    assert code == 1 and err.count("failed: split") == 2
    assert "postprocessor 'bad-outputs', scorer 'raises': ValueError: boom" in err
    records = sorted((blobs / "res").rglob("split*-seed0.json"))
    assert len(records) == 2 and not list((blobs / "res").rglob("half-drawn.png"))


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "record.json"
    path.write_text("old")

    def full_disk(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(path, full_disk)
    with pytest.raises(Exception):
        save_atomic({"not data": lambda: 0}, tmp_path / "train.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"] and path.read_text() == "old"


def test_a_claim_that_cannot_be_written_is_removed_and_named(tmp_path, monkeypatch):
    record = tmp_path / "split0-seed0.json"

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("osrbench.claims.os.fsync", full_disk)
    with pytest.raises(OsrbenchError, match="cannot write the claim .*No space left on device"):
        with claim_record(record):
            pass
    assert not lock_path(record).exists() and not list(tmp_path.iterdir())


SLOW_RUN = """
import sys, time
import torch
import osrbench, osrbench.runner
from osrbench import MethodSpec
from osrbench.cli import main
from osrbench.plugins import build_plugins
from osrbench.training import train_epochs
from test_faults import EmptyConfig, NearestMean

def fit(split, config, ctx):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    steps = []
    def step(x):
        steps.append(1)
        if len(steps) == 7:  # two whole epochs are done
            (ctx.work_dir / "two-epochs").touch()
        time.sleep(0.05)
        return model(x).pow(2).mean()
    train_epochs(ctx, modules={"m": model}, optimizer=opt, epochs=10_000, batches=lambda e: [torch.ones(2, 2)] * 3,
                 step=step)
    return NearestMean(split, "none")

class Slow:
    @osrbench.hookimpl
    def osrbench_methods(self):
        return [MethodSpec("slow", "sleeps in every step", EmptyConfig, fit)]

osrbench.runner.load_plugins = lambda: build_plugins(extra={"slow": Slow()})
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_sigterm_checkpoints_and_releases_the_claim_like_ctrl_c(blobs):
    res = blobs / "res"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, "run", "--method", "slow", "--protocol",
                             str(blobs / "blobs.json"), "--split", "0", "--results-dir", str(res), "--data-root",
                             str(blobs / "data"), "--quiet"], cwd=Path(__file__).parent, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)})
    deadline = time.time() + 60
    while not list(res.rglob("two-epochs")) and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and b"interrupted" in err, err
    assert list(res.rglob("train.ckpt")) and not list(res.rglob("*.claim"))


def test_a_stopped_sweep_terminates_its_workers_and_removes_their_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(local.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(local, "WORKER", [sys.executable, "-c", "import time; time.sleep(60)"])
    executor = local.LocalExecutor(local.LocalConfig(workers=2))
    jobs = [Job(RunRequest(), tmp_path / f"r{i}.json", f"job {i}") for i in range(3)]
    results = executor.map(jobs, lambda job: None)
    began = time.time()
    stopper = __import__("threading").Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    stopper.start()
    with pytest.raises(KeyboardInterrupt):
        list(results)
    assert time.time() - began < 30 and not executor.workers.live
    assert not list(tmp_path.glob("osrbench-job-*"))
