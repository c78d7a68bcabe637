"""The executors' options, kept apart from the executors so that listing plugins imports neither torch nor Ray."""

from __future__ import annotations

from dataclasses import dataclass

from osrbench.config import option
from osrbench.specs import OsrbenchError


@dataclass
class LocalConfig:
    workers: int | None = option(None, "jobs at a time (default: one per visible GPU; 1 on a machine without one)")
    threads: int | None = option(None, "CPU threads per job (default: those of `osrbench run`, so that the "
                                        "records equal run's; fewer share the cores among workers)")

    def validate(self) -> None:
        for key in ("workers", "threads"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise OsrbenchError(f"--{key} {value}: expected at least 1")


@dataclass
class RayConfig:
    address: str | None = option(None, "address of a running Ray cluster (e.g. HEAD:6379 or auto); "
                                       "default: start a Ray on this machine")
    workers: int | None = option(None, "jobs at a time (default: what the cluster's GPUs, else CPUs, allow)")
    cpus_per_job: int = option(1, "CPUs each job asks Ray for (its torch threads on a CPU cluster)")
    gpus_per_job: float = option(1.0, "GPUs each job asks Ray for on a GPU cluster (0.5 packs two jobs on a GPU)")

    def validate(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise OsrbenchError(f"--workers {self.workers}: expected at least 1")
        if self.cpus_per_job < 1:
            raise OsrbenchError(f"cpus_per_job={self.cpus_per_job}: expected at least 1")
        share = self.gpus_per_job
        if not (0 < share <= 1 or (share > 1 and share == int(share))):
            raise OsrbenchError(f"gpus_per_job={self.gpus_per_job}: expected a share of one GPU (0 < x <= 1) "
                                "or a whole number of GPUs")
