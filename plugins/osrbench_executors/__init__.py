"""Built-in executors of ``osrbench sweep``: ``local`` (worker processes on this machine) and ``ray``.

Another executor (SLURM through submitit, a Kubernetes queue ...) is a plugin like these: an
``osrbench_executors()`` hook returning ``ExecutorSpec``s whose ``create(config)`` gives an
``osrbench.Executor``; its jobs call ``osrbench.jobs.run_job`` where they run.
"""

from __future__ import annotations

import osrbench
from osrbench import ExecutorSpec, deferred
from osrbench_executors.configs import LocalConfig, RayConfig


@osrbench.hookimpl
def osrbench_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec("local", "worker processes on this machine: one per visible GPU (pinned with "
                              "CUDA_VISIBLE_DEVICES), or --workers N on the CPU", LocalConfig,
                     deferred("osrbench_executors.local:LocalExecutor")),
        ExecutorSpec("ray", "Ray tasks (one GPU each) on a running cluster (--address) or a Ray started here; "
                            'needs Ray, the ray extra of osrbench', RayConfig,
                     deferred("osrbench_executors.ray_cluster:RayExecutor")),
    ]
