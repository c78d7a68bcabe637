"""One sweep job = one training (one record), runnable in this process or in a fresh worker process.

``run_job`` is what every executor runs where the job lands: it trains through the normal run
loop (so the claim, checkpoints and the atomic record write are the same as for ``osrbench run``)
and turns every failure into a ``JobResult`` instead of an exception. A failed job's traceback is
kept next to its record as ``splitN-seedS.error.log``; a later success removes it.

``python -m osrbench.jobs JOB RESULT`` runs one pickled job and pickles its result (the local
executor's worker; pickles are only ever exchanged between osrbench's own processes).
"""

from __future__ import annotations

import pickle
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from osrbench.types import OsrbenchError
from osrbench.claims import ClaimHeld
from osrbench.evaluation import failure_lines
from osrbench.progress import Progress
from osrbench.records import error_log_path
from osrbench.runner import Run, RunRequest
from osrbench.safe_files import atomic_write_text
from osrbench.signals import terminate_like_interrupt

STATUSES = ("trained", "scored", "claimed", "failed")


@dataclass
class Job:
    request: RunRequest  # exactly one split and one seed; wait_for_claims False
    record: Path
    title: str  # e.g. "mls+mixup on cifar10 split 3 seed 0"


@dataclass
class JobResult:
    job: Job
    status: str  # one of STATUSES
    message: str = ""  # the error (failed) or the holder of the claim (claimed)
    # "scored": no training was needed: the record lacked only scores (added from the run's kept weights),
    # or another process wrote it between the sweep's plan and this job.
    seconds: float = 0.0


def run_job(job: Job) -> JobResult:
    """Train and record one job here; never raises for a failure of the job itself."""
    began = time.perf_counter()

    def result(status: str, message: str = "") -> JobResult:
        return JobResult(job, status, message, round(time.perf_counter() - began, 3))

    log = error_log_path(job.record)
    try:
        run = Run(job.request)
        records = run.execute(Progress(quiet=True))
    except ClaimHeld as exc:
        return result("claimed", str(exc))
    except Exception as exc:  # any failure of this job, reported, never stopping the sweep
        message = str(exc) if isinstance(exc, OsrbenchError) else f"{type(exc).__name__}: {exc}"
        try:
            atomic_write_text(log, f"{job.title}\n\n{traceback.format_exc()}")
        except OSError:  # a full disk: the message still says what failed
            pass
        return result("failed", f"{message} (traceback: {log})")
    log.unlink(missing_ok=True)
    failed = [line for record in records for line in failure_lines(record)]
    if failed:  # the record is written; the failed scorers are scored again by the next sweep
        return result("failed", "; ".join(failed))
    return result("trained" if run.trained else "scored")


def main(argv: list[str]) -> int:
    terminate_like_interrupt()  # the sweep forwards its termination: checkpoint and release the claim
    job_file, result_file = map(Path, argv)
    job = pickle.loads(job_file.read_bytes())
    result_file.write_bytes(pickle.dumps(run_job(job)))
    return 0


if __name__ == "__main__":
    from osrbench.jobs import main as module_main  # results must pickle as osrbench.jobs types, not __main__'s

    sys.exit(module_main(sys.argv[1:]))
