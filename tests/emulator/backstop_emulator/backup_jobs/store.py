"""The jobs and recovery points the emulator keeps, and what every job type shares: the store,
idempotency, events, request parameters, listing and pagination."""

from __future__ import annotations

import datetime
import functools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from moto.backup.exceptions import InvalidParameterValueException, ResourceNotFoundException
from moto.backup.models import backup_backends
from moto.backup.responses import BackupResponse
from moto.core.exceptions import JsonRESTError

from .. import aws_time, faults, internal, storage_gateway


# A job leaves its first state (CREATED / PENDING) after this share of its duration.
START_FRACTION = 0.2


class AccessDeniedException(JsonRESTError):
    code = 403

    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)


class InvalidRequestException(JsonRESTError):
    code = 400

    def __init__(self, msg: str):
        super().__init__("InvalidRequestException", msg)


class MissingParameterValueException(JsonRESTError):
    code = 400

    def __init__(self, msg: str):
        super().__init__("MissingParameterValueException", msg)


def _params(self: BackupResponse, *required: str) -> dict[str, Any]:
    """The JSON body; a required member missing is refused as AWS Backup refuses it."""
    try:
        params = json.loads(self.body or "{}")
    except ValueError:
        raise InvalidParameterValueException("The request body is not valid JSON") from None
    missing = [name for name in required if params.get(name) in (None, "")]
    if missing:
        raise MissingParameterValueException(f"Missing required parameter(s): {', '.join(missing)}")
    return params


@dataclass
class RecoveryPoint:
    arn: str
    account: str
    region: str
    vault_name: str
    vault_arn: str
    resource_arn: str
    resource_type: str
    creation_date: float
    iam_role_arn: str
    status: str = "PARTIAL"  # becomes COMPLETED when the job that creates it completes
    completion_date: float | None = None
    # when the backup job that captured the data was initiated; a copy keeps its source's
    initiation_date: float | None = None
    source_vault_arn: str | None = None
    size_bytes: int = 0
    # what the restore needs: the underlying snapshot/image and the source's settings
    underlying: dict[str, Any] = field(default_factory=dict)
    restore_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # AWS: backups of EBS/RDS keep their source's encryption; EFS (fully managed by AWS
    # Backup) is encrypted with the vault's key; a copy of an encrypted backup is encrypted
    # with the destination vault's key
    encrypted: bool = False
    encryption_key_arn: str | None = None
    # LOGICALLY_AIR_GAPPED_BACKUP_VAULT for a recovery point in such a vault (its data is in AWS
    # Backup's storage, under an AWS owned key unless the vault has its own)
    vault_type: str = "BACKUP_VAULT"

    def to_vault_listing(self) -> dict[str, Any]:
        out = {
            "RecoveryPointArn": self.arn,
            "BackupVaultName": self.vault_name,
            "BackupVaultArn": self.vault_arn,
            "ResourceArn": self.resource_arn,
            "ResourceType": self.resource_type,
            "IamRoleArn": self.iam_role_arn,
            "Status": self.status,
            "CreationDate": self.creation_date,
            "BackupSizeInBytes": self.size_bytes,
            "IsEncrypted": self.encrypted,
            "ResourceName": self.resource_arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1],
            "VaultType": self.vault_type,
        }
        if self.completion_date:
            out["CompletionDate"] = self.completion_date
        if self.initiation_date:
            out["InitiationDate"] = self.initiation_date
        if self.source_vault_arn:
            out["SourceBackupVaultArn"] = self.source_vault_arn
        if self.encrypted and self.encryption_key_arn:
            out["EncryptionKeyArn"] = self.encryption_key_arn
        elif self.encrypted and self.vault_type != "BACKUP_VAULT":
            out["EncryptionKeyType"] = "AWS_OWNED_KMS_KEY"
        return out


@dataclass
class Job:
    kind: str  # backup | copy | restore
    job_id: str
    account: str
    region: str
    resource_type: str
    resource_arn: str
    iam_role_arn: str
    creation_date: float
    duration: float
    state: str
    recovery_point_arn: str  # backup: the new RP; copy: the source RP; restore: the RP restored
    request: dict[str, Any]
    completion_date: float | None = None
    status_message: str | None = None
    created_resource_arn: str | None = None
    destination_vault_arn: str | None = None
    destination_recovery_point_arn: str | None = None
    vault_name: str | None = None
    vault_arn: str | None = None

    def describe(self) -> dict[str, Any]:
        if self.kind == "backup":
            out = {
                "AccountId": self.account,
                "BackupJobId": self.job_id,
                "BackupVaultName": self.vault_name,
                "BackupVaultArn": self.vault_arn,
                "RecoveryPointArn": self.recovery_point_arn,
                "ResourceArn": self.resource_arn,
                "ResourceType": self.resource_type,
                "CreationDate": self.creation_date,
                "State": self.state,
                "IamRoleArn": self.iam_role_arn,
                "PercentDone": self.percent_done(),
            }
        elif self.kind == "copy":
            out = {
                "AccountId": self.account,
                "CopyJobId": self.job_id,
                "SourceBackupVaultArn": self.vault_arn,
                "SourceRecoveryPointArn": self.recovery_point_arn,
                "DestinationBackupVaultArn": self.destination_vault_arn,
                "DestinationRecoveryPointArn": self.destination_recovery_point_arn,
                "ResourceArn": self.resource_arn,
                "ResourceType": self.resource_type,
                "CreationDate": self.creation_date,
                "State": self.state,
                "IamRoleArn": self.iam_role_arn,
            }
        else:
            out = {
                "AccountId": self.account,
                "RestoreJobId": self.job_id,
                "RecoveryPointArn": self.recovery_point_arn,
                "SourceResourceArn": self.resource_arn,
                "BackupVaultArn": self.vault_arn,
                "ResourceType": self.resource_type,
                "CreationDate": self.creation_date,
                "Status": self.state,
                "IamRoleArn": self.iam_role_arn,
                "PercentDone": self.percent_done(),
                "ExpectedCompletionTimeMinutes": max(1, int(self.duration / 60)),
            }
            if self.created_resource_arn:
                out["CreatedResourceArn"] = self.created_resource_arn
        if self.completion_date:
            out["CompletionDate"] = self.completion_date
        if self.status_message:
            out["StatusMessage"] = self.status_message
        return out

    def percent_done(self) -> str:
        if self.state == "COMPLETED":
            return "100.0"
        elapsed = time.time() - self.creation_date
        return f"{min(99.0, 100.0 * elapsed / max(self.duration, 0.001)):.1f}"


class Store:
    """All jobs and recovery points of the emulator, across accounts and regions."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.recovery_points: dict[str, RecoveryPoint] = {}
        self.idempotency: dict[tuple[str, str, str, str], str] = {}
        # jobs not yet in a final state: what the scheduler looks at, without the thousands
        # that ended (a run of 3,000 restores leaves 9,000 jobs with its backups and copies)
        self.active: dict[str, Job] = {}
        # each kind's jobs, for its listing (a restore listing need not read the backups)
        self.by_kind: dict[str, dict[str, Job]] = {}

    def reset(self) -> None:
        with self.lock:
            self.jobs.clear()
            self.active.clear()
            self.by_kind.clear()
            self.recovery_points.clear()
            self.idempotency.clear()

    def duration(
        self, kind: str, resource_type: str, resource_arn: str, size_bytes: int, recovery_point_arn: str | None = None
    ) -> float:
        """Real seconds: an injected slow job's AWS seconds, else the kind's duration for its size."""
        slow = faults.STATE.slow_seconds(resource_arn, recovery_point_arn)
        if slow is not None:
            return slow * aws_time.SCALE
        return aws_time.job_seconds(kind, resource_type, size_bytes)


STORE = Store()


def _vault(account: str, region: str, name: str):
    return backup_backends[account][region].describe_backup_vault(name)


def _vault_by_arn(arn: str):
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "backup" or parts[5] != "backup-vault":
        raise InvalidParameterValueException(f"Invalid backup vault ARN: {arn}")
    region, account, name = parts[3], parts[4], parts[6]
    try:
        return region, account, _vault(account, region, name)
    except ResourceNotFoundException:
        raise ResourceNotFoundException(
            f"Backup vault {name} does not exist in {region}"
        ) from None


def resource_type_of(arn: str) -> str:
    parts = arn.split(":", 5)
    if len(parts) < 6:
        raise InvalidParameterValueException(f"Invalid resource ARN: {arn}")
    service, resource = parts[2], parts[5]
    if service == "ec2" and resource.startswith("volume/"):
        return "EBS"
    if service == "ec2" and resource.startswith("instance/"):
        return "EC2"
    if service == "rds" and resource.startswith("db:"):
        return "RDS"
    if service == "elasticfilesystem" and resource.startswith("file-system/"):
        return "EFS"
    if service == "storagegateway" and resource.startswith("gateway/") and "/volume/" in resource:
        return "Storage Gateway"
    raise InvalidParameterValueException(
        f"Resource type of {arn} is not supported by this emulator (EBS, EC2, RDS, EFS, Storage Gateway)"
    )


def _source_size(resource_arn: str) -> int:
    """Bytes a backup of the resource holds, which its job's duration grows with."""
    parts = resource_arn.split(":", 5)
    region, account, resource = parts[3], parts[4], parts[5]
    gateway_volume = storage_gateway.get(resource_arn)
    if gateway_volume is not None:
        return gateway_volume.size_gib * 1024**3
    try:
        if resource.startswith("volume/"):
            volume = internal.client("ec2", region, account).describe_volumes(VolumeIds=[resource.split("/", 1)[1]])
            return volume["Volumes"][0]["Size"] * 1024**3
        if resource.startswith("db:"):
            db = internal.client("rds", region, account).describe_db_instances(DBInstanceIdentifier=resource[3:])
            return int(db["DBInstances"][0].get("AllocatedStorage", 20)) * 1024**3
    except internal.ClientError:
        pass
    return 8 * 1024**3


def _idempotent(account: str, region: str, kind: str, token: str | None) -> str | None:
    if not token:
        return None
    return STORE.idempotency.get((account, region, kind, token))


def _emit(job: Job, previous_state: str | None) -> None:
    from ..events import emit_job_event

    emit_job_event(job)


def _rename_recovery_point(job: Job, rp: RecoveryPoint, new_arn: str) -> None:
    """The RP's ARN names its snapshot/image, known only once that exists."""
    with STORE.lock:
        STORE.recovery_points.pop(rp.arn, None)
        rp.arn = new_arn
        STORE.recovery_points[new_arn] = rp
        job.recovery_point_arn = new_arn


class JobFailed(Exception):
    pass


def _require_usable_key(key: str | None, region: str, account: str, what: str, role_arn: str | None = None) -> None:
    """AWS fails a restore or copy whose key the job's account cannot use: deleted, pending
    deletion, disabled, another region's, or another account's whose key policy does not allow
    this account (`kms_access`)."""
    from .. import kms_access

    if not key:
        return
    refused = kms_access.refusal(key, account, region, kms_access.USE_ACTIONS, role_arn)
    if refused:
        raise JobFailed(f"Access to KMS key {key} failed ({what}): {refused}")


FIRST_STATE = {"backup": "CREATED", "copy": "CREATED", "restore": "PENDING"}


def _new_job(kind: str, **kwargs: Any) -> Job:
    job = Job(kind=kind, state=FIRST_STATE[kind], creation_date=time.time(), **kwargs)
    with STORE.lock:
        STORE.jobs[job.job_id] = job
        STORE.active[job.job_id] = job
        STORE.by_kind.setdefault(kind, {})[job.job_id] = job
    _emit(job, None)
    return job


def _get_job(kind: str, job_id: str, account: str, region: str) -> Job:
    job = STORE.jobs.get(job_id)
    if not job or job.kind != kind or job.account != account or job.region != region:
        raise ResourceNotFoundException(f"{kind.capitalize()} job {job_id} not found")
    return job


def _list_jobs(self: BackupResponse, kind: str, key: str, filters: dict[str, Callable[[Job, str], bool]]) -> str:
    query = {k: v[0] for k, v in self.querystring.items() if isinstance(v, list) and v}
    with STORE.lock:
        jobs = [
            j for j in STORE.by_kind.get(kind, {}).values()
            if j.account == self.current_account and j.region == self.region
        ]
    for name, predicate in filters.items():
        if name in query:
            jobs = [j for j in jobs if predicate(j, query[name])]
    jobs.sort(key=lambda j: j.creation_date, reverse=True)
    return _paginate(query, key, jobs, Job.describe)


@functools.lru_cache(maxsize=64)  # a listing's filter compares every job with one time
def _query_time(text: str) -> float:
    """A timestamp in a query string: ISO 8601 (the REST-JSON default) or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _paginate(
    query: dict[str, str], key: str, items: list[Any], describe: Callable[[Any], dict[str, Any]] = lambda item: item
) -> str:
    """One page of `items`, each described as it is listed (only the page's: a listing of
    thousands of jobs describes each once, not once per page)."""
    start = int(query.get("nextToken", "0") or 0)
    size = int(query.get("maxResults", "1000") or 1000)
    page = [describe(item) for item in items[start : start + size]]
    out: dict[str, Any] = {key: page}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return json.dumps(out)
