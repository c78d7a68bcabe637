"""The ``local`` executor: parallel worker slots on this machine, one fresh process per job.

Each slot is pinned to one GPU with ``CUDA_VISIBLE_DEVICES`` (one slot per visible GPU by default),
or, without a GPU, is a CPU slot with as many threads as ``osrbench run`` takes (``--threads N`` sets another
count; the record keeps it as ``cost.cpu_threads``, since CPU results depend on it). Every job runs in its own
``python -m osrbench.jobs`` process: a crash (segfault, out of memory, a killed process) ends that
job alone, and each job starts with a clean CUDA context.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterator

import torch

from osrbench.api import Executor
from osrbench.jobs import Job, JobResult
from osrbench_executors.configs import LocalConfig

WORKER = [sys.executable, "-m", "osrbench.jobs"]  # + JOB_FILE RESULT_FILE

def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries."""
    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


class LocalExecutor(Executor):
    def __init__(self, config: LocalConfig):
        gpus = visible_gpus()
        workers = config.workers or max(1, len(gpus))
        # CPU jobs take the thread count of `osrbench run` unless --threads says otherwise, so that a sweep's
        # record equals run's (CPU sums differ in their last digits between thread counts).
        threads = {"OMP_NUM_THREADS": str(config.threads)} if config.threads else {}
        # Slots are worker environments; with more workers than GPUs, GPUs are shared round-robin.
        self.slots = [{"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)]} if gpus else
                      {"CUDA_VISIBLE_DEVICES": "", **threads} for i in range(workers)]
        self.workers = Workers()

    def map(self, jobs: list[Job], started: Callable[[Job], None]) -> Iterator[JobResult]:
        free: queue.Queue[dict[str, str]] = queue.Queue()
        for slot in self.slots:
            free.put(slot)

        def work(job: Job) -> JobResult:
            slot = free.get()
            try:
                started(job)
                return _run_in_worker(job, slot, self.workers)
            finally:
                free.put(slot)

        pool = ThreadPoolExecutor(len(self.slots), thread_name_prefix="osrbench-local")
        try:
            for future in as_completed([pool.submit(work, job) for job in jobs]):
                yield future.result()
        except BaseException:  # Ctrl-C, SIGTERM, or the caller stopped: the workers stop too (and checkpoint)
            self.workers.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class Workers:
    """The live worker processes, so that a stopping sweep stops them (SIGTERM: they checkpoint like Ctrl-C)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: set[subprocess.Popen] = set()
        self.stopping = False

    def start(self, args: list[str], env: dict[str, str], out) -> subprocess.Popen | None:
        with self.lock:
            if self.stopping:
                return None
            proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            self.live.add(proc)
            return proc

    def wait(self, proc: subprocess.Popen) -> int:
        try:
            return proc.wait()
        finally:
            with self.lock:
                self.live.discard(proc)

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            for proc in self.live:
                proc.terminate()


def _run_in_worker(job: Job, env: dict[str, str], workers: Workers) -> JobResult:
    with tempfile.TemporaryDirectory(prefix="osrbench-job-") as tmp:
        job_file, result_file, output = Path(tmp, "job.pkl"), Path(tmp, "result.pkl"), Path(tmp, "output.log")
        job_file.write_bytes(pickle.dumps(job))
        with output.open("wb") as out:
            proc = workers.start([*WORKER, str(job_file), str(result_file)], {**os.environ, **env}, out)
            if proc is None:
                return JobResult(job, "failed", "not started: the sweep was stopped")
            workers.wait(proc)
        if result_file.exists():
            return pickle.loads(result_file.read_bytes())
        lines = output.read_text(errors="replace").strip().splitlines()
        how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with code {proc.returncode}"
        return JobResult(job, "failed", f"worker process {how}" + (f": {lines[-1]}" if lines else ""))
