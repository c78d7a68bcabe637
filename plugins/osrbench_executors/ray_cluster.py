"""The ``ray`` executor: each job is a Ray task (one GPU each on a GPU cluster, CPUs otherwise).

With ``--address`` it joins a running cluster (``ray start --head`` on one node, ``ray start
--address=HEAD:6379`` on the others); without, it starts a Ray on this machine and stops it at the
end. Tasks run ``osrbench.jobs.run_job`` where Ray places them, so every node needs osrbench (and
the method plugins) installed, the results dir on a shared file system at the same path, and the
data root reachable at the same path (a shared ``--data-root``, or the same files on each node).
Ray is an optional extra: ``pip install "osrbench[ray]"``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

from osrbench.api import Executor, OsrbenchError
from osrbench.jobs import Job, JobResult, run_job
from osrbench_executors.configs import RayConfig


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise OsrbenchError('--executor ray needs Ray: pip install "osrbench[ray]"') from None
    return ray


class RayExecutor(Executor):
    def __init__(self, config: RayConfig):
        self.config = config
        self.ray = _import_ray()
        self.started_ray = False

    def _connect(self) -> None:
        if self.ray.is_initialized():  # e.g. a test's or a notebook's Ray
            return
        try:
            self.ray.init(address=self.config.address, include_dashboard=False, log_to_driver=False)
        except ConnectionError as exc:
            token = ("" if os.environ.get("RAY_AUTH_MODE") == "token" else
                     "; if `ray start` said 'Token authentication is enabled', set RAY_AUTH_MODE=token here too "
                     "(the token is read from ~/.ray/auth_token or $RAY_AUTH_TOKEN)")
            raise OsrbenchError(f"--address {self.config.address}: cannot reach a Ray cluster ({exc}); "
                                f"start one with `ray start --head`{token}") from None
        self.started_ray = True

    def map(self, jobs: list[Job], started: Callable[[Job], None]) -> Iterator[JobResult]:
        self._connect()
        ray = self.ray
        resources = ray.cluster_resources()
        gpus, cpus = resources.get("GPU", 0), resources.get("CPU", 1)
        per_job = {"num_gpus": self.config.gpus_per_job if gpus else 0, "num_cpus": self.config.cpus_per_job}
        # max_calls=1: each job gets a fresh worker process (clean CUDA context, nothing left over).
        task = ray.remote(max_calls=1, **per_job)(run_job)
        capacity = int(gpus // self.config.gpus_per_job if gpus else cpus // self.config.cpus_per_job)
        window = self.config.workers or max(1, capacity)
        waiting, running = list(jobs), {}
        while waiting or running:
            while waiting and len(running) < window:
                job = waiting.pop(0)
                running[task.remote(job)] = job
                started(job)
            (done,), _ = ray.wait(list(running), num_returns=1)
            job = running.pop(done)
            try:
                yield ray.get(done)
            except ray.exceptions.RayError as exc:  # the worker died or the task could not run
                yield JobResult(job, "failed", f"Ray task failed: {str(exc).strip().splitlines()[-1]}")

    def close(self) -> None:
        if self.started_ray:
            self.ray.shutdown()
