"""AWS Backup jobs and recovery points, added to moto's Backup (which has vaults and plans only).

Jobs move through their states on a scheduler thread over a simulated duration
(per resource kind, overridable per resource). Each job is backed by real moto
resources: a backup creates an EBS/RDS snapshot or an AMI of the source, a copy
puts that snapshot into the destination region, a restore creates the volume,
DB instance, file system or instance. Every state change is sent to EventBridge
in the job's region as the event AWS Backup sends.

One module per job type (backup, copy, restore), recovery points, and the store they share;
this one moves jobs through their states. Request/response shapes follow botocore's backup
service model.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from moto.backup import urls as backup_urls
from moto.backup.responses import BackupResponse

from .. import restores
from .backup import (
    _complete_backup,
    backdate_recovery_point,
    describe_backup_job,
    list_backup_jobs,
    start_backup_job,
)
from .copy import _complete_copy, describe_copy_job, list_copy_jobs, start_copy_job
from .restore import _complete_restore, describe_restore_job, list_restore_jobs, start_restore_job
from .recovery_points import (
    describe_recovery_point,
    get_recovery_point_restore_metadata,
    list_recovery_points_by_backup_vault,
    list_recovery_points_by_resource,
)
from .store import FIRST_STATE, Job, JobFailed, RecoveryPoint, START_FRACTION, STORE, _emit

LOG = logging.getLogger("backstop.jobs")

__all__ = ["STORE", "Job", "RecoveryPoint", "backdate_recovery_point", "install", "scheduler_loop"]


COMPLETERS: dict[str, Callable[[Job], None]] = {
    "backup": _complete_backup,
    "copy": _complete_copy,
    "restore": _complete_restore,
}


ACTIVE_STATES = ("CREATED", "PENDING", "RUNNING")


def _due(job: Job, now: float) -> bool:
    """Whether the job's next state change is due: its start, or its end."""
    elapsed = now - job.creation_date
    if job.state == FIRST_STATE[job.kind]:
        return elapsed >= job.duration * START_FRACTION
    return job.state == "RUNNING" and elapsed >= job.duration


def _advance(job: Job, now: float) -> None:
    if job.state == FIRST_STATE[job.kind] and _due(job, now):
        job.state = "RUNNING"
        _emit(job, FIRST_STATE[job.kind])
        if job.kind == "restore":
            try:  # region-bound values fail the job early, as the underlying service refuses them
                restores.check_region(
                    job.resource_type, job.region, job.request.get("Metadata", {}), job.account, job.iam_role_arn
                )
            except restores.RestoreFailed as failure:
                job.state, job.status_message, job.completion_date = "FAILED", str(failure), time.time()
                _emit(job, "RUNNING")
                return
    if job.state == "RUNNING" and _due(job, now):
        try:
            COMPLETERS[job.kind](job)
            job.state = "COMPLETED"
            if job.kind == "backup":
                rp = STORE.recovery_points[job.recovery_point_arn]
                rp.status, rp.completion_date = "COMPLETED", now
        except JobFailed as failure:
            job.state = "FAILED"
            job.status_message = str(failure)
        except Exception as err:  # an emulator bug must show up as a failed job, not a hang
            job.state = "FAILED"
            job.status_message = f"emulator error: {type(err).__name__}: {err}"
        job.completion_date = time.time()
        _emit(job, "RUNNING")


# Jobs change state independently, as AWS's do: a completion builds the restored resource
# (over HTTP, like a client), and one at a time they fell behind when thousands ended together
# while the emulator served the handlers. A job is with one worker at a time, so its own
# changes keep their order; due jobs go to the workers earliest first.
WORKERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="backup-job")
_advancing: set[str] = set()
_advancing_lock = threading.Lock()


def _advance_now(job: Job) -> None:
    try:
        _advance(job, time.time())
    except Exception as err:  # an emulator bug must show up as a failed job, not a job stuck
        LOG.exception("job %s could not change state", job.job_id)
        job.state, job.completion_date = "FAILED", time.time()
        job.status_message = f"emulator error: {type(err).__name__}: {err}"
        _emit(job, "RUNNING")
    finally:
        with _advancing_lock:
            _advancing.discard(job.job_id)


def scheduler_loop(stop: threading.Event) -> None:
    while not stop.wait(0.05):
        now = time.time()
        with STORE.lock:
            active = list(STORE.active.values())
        due = []
        for job in active:
            if job.state not in ACTIVE_STATES:
                with STORE.lock:
                    STORE.active.pop(job.job_id, None)
            elif _due(job, now):
                due.append(job)
        due.sort(key=lambda job: job.creation_date + job.duration * (1 if job.state == "RUNNING" else START_FRACTION))
        for job in due:
            with _advancing_lock:
                if job.job_id in _advancing:
                    continue
                _advancing.add(job.job_id)
            WORKERS.submit(_advance_now, job)


OPERATIONS = [
    start_backup_job,
    describe_backup_job,
    list_backup_jobs,
    start_copy_job,
    describe_copy_job,
    list_copy_jobs,
    start_restore_job,
    describe_restore_job,
    list_restore_jobs,
    list_recovery_points_by_backup_vault,
    list_recovery_points_by_resource,
    describe_recovery_point,
    get_recovery_point_restore_metadata,
]


# Patterns end in `/$` or `$` exactly as the SDK sends them (moto strips `/?$`).
URL_PATHS = [
    "{0}/backup-jobs$",
    "{0}/backup-jobs/$",
    "{0}/backup-jobs/(?P<job>[^/]+)$",
    "{0}/copy-jobs$",
    "{0}/copy-jobs/$",
    "{0}/copy-jobs/(?P<job>[^/]+)$",
    "{0}/restore-jobs$",
    "{0}/restore-jobs/$",
    "{0}/restore-jobs/(?P<job>[^/]+)$",
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/$",
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<rp>.+)/restore-metadata$",
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<rp>.+)$",
    "{0}/resources/(?P<arn>.+)/recovery-points/$",
]


def install() -> None:
    from . import air_gapped, vault_protection

    OPERATIONS.extend(vault_protection.OPERATIONS + air_gapped.OPERATIONS)
    URL_PATHS.extend(vault_protection.URL_PATHS + air_gapped.URL_PATHS)
    air_gapped.install_ram()
    for operation in OPERATIONS:
        setattr(BackupResponse, operation.__name__, operation)
    for pattern in URL_PATHS:
        backup_urls.url_paths[pattern] = BackupResponse.dispatch
