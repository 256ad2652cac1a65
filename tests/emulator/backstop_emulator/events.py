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


def _conditions_hold(condition: dict | None, event: dict) -> bool:
    """A bus policy statement's Condition, for the keys EventBridge documents on events
    (`events:source`, `events:detail-type`) with StringEquals; any other condition is not met."""
    for operator, tests in (condition or {}).items():
        if operator != "StringEquals":
            return False
        for key, wanted in tests.items():
            field = {"events:source": "source", "events:detail-type": "detail-type"}.get(key)
            wanted = wanted if isinstance(wanted, list) else [wanted]
            if field is None or event.get(field) not in wanted:
                return False
    return True


def bus_allows(policy: str | None, account: str, event: dict) -> bool:
    """Whether an event bus's resource policy lets `account` put `event` on it."""
    if not policy:
        return False
    for statement in json.loads(policy).get("Statement", []):
        if statement.get("Effect") != "Allow" or not _conditions_hold(statement.get("Condition"), event):
            continue
        principal = statement.get("Principal")
        principals = principal if principal == "*" else (principal or {}).get("AWS", [])
        principals = principals if isinstance(principals, list) else [principals]
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if any(p in ("*", account, f"arn:aws:iam::{account}:root") for p in principals) and any(
            a in ("events:PutEvents", "events:*") for a in actions
        ):
            return True
    return False


def _forward_to_bus(rule, target_arn: str, event: dict) -> None:  # type: ignore[no-untyped-def]
    """An event a rule sends to another region's or account's bus, as EventBridge sends it: the
    event keeps its id, account, region, time and resources (moto re-puts it as the target's
    own), and another account's bus takes it only if its policy allows the sending account
    (otherwise the delivery fails, as a FailedInvocation, and the event is gone)."""
    from moto.events.models import events_backends

    _, _, _, region, account, resource = target_arn.split(":", 5)
    backend = events_backends[account][region]
    bus = backend.event_buses.get(resource.split("/", 1)[1])
    if bus is None:
        LOG.warning("rule %s: target bus %s does not exist; event dropped", rule.name, target_arn)
        return
    if account != rule.account_id and not bus_allows(bus.policy, rule.account_id, event):
        LOG.warning(
            "rule %s: bus %s does not allow events:PutEvents from account %s; event dropped",
            rule.name,
            target_arn,
            rule.account_id,
        )
        return
    for target_rule in list(bus.rules.values()):
        target_rule.send_to_targets(dict(event))


def install() -> None:
    """EventBridge as AWS runs it where moto differs:
    - a scheduled rule (ScheduleExpression, no EventPattern) never matches events on its bus;
      moto lets a rule without a pattern match every event, so a schedule's target would be
      invoked by any event put on the bus;
    - a rule whose target is another bus forwards the event unchanged, and only to a bus of
      another account whose policy allows it (see `_forward_to_bus`)."""
    import copy

    from moto.events.models import Rule

    original = Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True):  # type: ignore[no-untyped-def]
        if self.scheduled_expression and not self.event_pattern._pattern:
            return
        buses = [t for t in self.targets if ":event-bus/" in t["Arn"]]
        if not buses:
            return original(self, original_event, transform_input)
        if not self.event_pattern.matches_event(original_event):
            return
        for target in buses:
            _forward_to_bus(self, target["Arn"], original_event)
        others = [t for t in self.targets if t not in buses]
        if others:
            rest = copy.copy(self)
            rest.targets = others
            original(rest, original_event, transform_input)

    Rule.send_to_targets = send_to_targets
