"""Backup job state changes as the EventBridge events AWS Backup sends (source `aws.backup`)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backup_jobs import Job

LOG = logging.getLogger("backstop.events")

DETAIL_TYPES = {
    "backup": "Backup Job State Change",
    "copy": "Copy Job State Change",
    "restore": "Restore Job State Change",
}


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _size(job: "Job") -> int:
    from .backup_jobs import STORE

    rp = STORE.recovery_points.get(job.recovery_point_arn)
    return rp.size_bytes if rp else 0


def job_detail(job: "Job") -> dict:
    if job.kind == "backup":
        detail = {
            "backupJobId": job.job_id,
            "backupVaultArn": job.vault_arn,
            "backupVaultName": job.vault_name,
            "recoveryPointArn": job.recovery_point_arn,
            "resourceArn": job.resource_arn,
            "resourceType": job.resource_type,
            "iamRoleArn": job.iam_role_arn,
            "state": job.state,
            "percentDone": float(job.percent_done()),
            "backupSizeInBytes": str(_size(job)),
        }
    elif job.kind == "copy":
        detail = {
            "copyJobId": job.job_id,
            "sourceBackupVaultArn": job.vault_arn,
            "sourceRecoveryPointArn": job.recovery_point_arn,
            "destinationBackupVaultArn": job.destination_vault_arn,
            # AWS sends an empty object, not a missing key, when a copy made no recovery point
            "destinationRecoveryPointArn": job.destination_recovery_point_arn or {},
            "resourceArn": job.resource_arn,
            "resourceType": job.resource_type,
            "iamRoleArn": job.iam_role_arn,
            "state": job.state,
            "backupSizeInBytes": str(_size(job)),
        }
    else:
        detail = {
            "restoreJobId": job.job_id,
            "backupVaultArn": job.vault_arn,
            "recoveryPointArn": job.recovery_point_arn,
            "resourceType": job.resource_type,
            "iamRoleArn": job.iam_role_arn,
            "status": job.state,
            "percentDone": float(job.percent_done()),
        }
        if job.created_resource_arn:
            detail["createdResourceArn"] = job.created_resource_arn
    detail["creationDate"] = _iso(job.creation_date)
    if job.completion_date:
        detail["completionDate"] = _iso(job.completion_date)
    if job.status_message:
        detail["statusMessage"] = job.status_message
    return {k: v for k, v in detail.items() if v is not None}


def emit_job_event(job: "Job") -> None:
    from moto.events.models import events_backends

    # AWS Backup's job events name the recovery point (for a copy: the new one once it exists)
    point = job.destination_recovery_point_arn if job.kind == "copy" else None
    resources = [point or job.recovery_point_arn]
    try:
        events_backends[job.account][job.region].put_events(
            [
                {
                    "Source": "aws.backup",
                    "DetailType": DETAIL_TYPES[job.kind],
                    "Detail": json.dumps(job_detail(job)),
                    "Resources": resources,
                }
            ]
        )
    except Exception:  # an event must never break the job itself
        LOG.exception("could not emit the %s event of job %s", job.kind, job.job_id)


def aws_envelope(event: dict) -> dict:
    """An event as EventBridge delivers it to a target: `time` an ISO-8601 string, no moto internals."""
    delivered = {k: v for k, v in event.items() if k != "ingestion-time"}
    when = delivered.get("time")
    if isinstance(when, (int, float)):
        delivered["time"] = datetime.fromtimestamp(when, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    delivered.setdefault("version", "0")
    return delivered


def install() -> None:
    """A scheduled rule (ScheduleExpression, no EventPattern) never matches events on its bus,
    as in EventBridge; moto lets a rule without a pattern match every event, so a schedule's
    target would be invoked by any event put on the bus."""
    from moto.events.models import Rule

    original = Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True):  # type: ignore[no-untyped-def]
        if self.scheduled_expression and not self.event_pattern._pattern:
            return
        original(self, original_event, transform_input)

    Rule.send_to_targets = send_to_targets
