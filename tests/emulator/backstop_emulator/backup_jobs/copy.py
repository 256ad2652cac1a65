"""Copy jobs: a recovery point copied into another region's (or account's) vault."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import unquote

from moto.backup.exceptions import ResourceNotFoundException
from moto.backup.responses import BackupResponse

from .. import faults, internal, kms_access
from .air_gapped import AIR_GAPPED_TYPE, is_air_gapped
from .store import (
    InvalidRequestException,
    Job,
    JobFailed,
    RecoveryPoint,
    STORE,
    _get_job,
    _idempotent,
    _list_jobs,
    _new_job,
    _params,
    _vault,
    _vault_by_arn,
)


def _complete_copy(job: Job) -> None:
    fail = faults.STATE.job_failure("copy", job.resource_arn, job.recovery_point_arn)
    if fail:
        raise JobFailed(fail)
    source = STORE.recovery_points[job.recovery_point_arn]
    dest_region, dest_account, dest_vault = _vault_by_arn(job.destination_vault_arn or "")
    underlying: dict[str, Any] = {"region": dest_region}
    if dest_account != job.account:
        _require_cross_account_copy(job, source, dest_region, dest_account)
    air_gapped = is_air_gapped(dest_account, dest_region, dest_vault.backup_vault_name)
    if air_gapped and source.resource_type not in ("EBS", "EFS"):
        raise JobFailed(
            f"The emulator does not model copies of {source.resource_type} recovery points into a logically air-gapped vault"
        )
    if source.resource_type in ("EBS", "Storage Gateway") and (dest_account != job.account or air_gapped):
        # into another account, or into AWS Backup's own storage (an air-gapped vault): no
        # EC2 CopySnapshot in the caller's account
        snapshot_id = snapshot_in_account(
            job.account,
            source.underlying["region"],
            source.underlying["snapshotId"],
            dest_account,
            dest_region,
            f"AWS Backup copy job {job.job_id}",
        )
        underlying["snapshotId"] = snapshot_id
        arn = f"arn:aws:ec2:{dest_region}::snapshot/{snapshot_id}"
    elif source.resource_type in ("EBS", "Storage Gateway"):
        ec2 = internal.client("ec2", dest_region)
        snap = ec2.copy_snapshot(
            SourceSnapshotId=source.underlying["snapshotId"],
            SourceRegion=source.underlying["region"],
            Description=f"AWS Backup copy job {job.job_id}",
        )
        underlying["snapshotId"] = snap["SnapshotId"]
        arn = f"arn:aws:ec2:{dest_region}::snapshot/{snap['SnapshotId']}"
    elif source.resource_type == "RDS":
        snapshot_id = f"awsbackup-copyjob-{job.job_id[:18].lower()}"
        source_region = source.underlying["region"]
        internal.client("rds", dest_region).copy_db_snapshot(
            SourceDBSnapshotIdentifier=(
                f"arn:aws:rds:{source_region}:{dest_account}:snapshot:{source.underlying['dbSnapshotIdentifier']}"
            ),
            TargetDBSnapshotIdentifier=snapshot_id,
            SourceRegion=source_region,
        )
        underlying["dbSnapshotIdentifier"] = snapshot_id
        arn = f"arn:aws:rds:{dest_region}:{dest_account}:snapshot:awsbackup:copyjob-{job.job_id.lower()}"
    elif source.resource_type == "EC2":
        ec2 = internal.client("ec2", dest_region)
        image = ec2.copy_image(
            SourceImageId=source.underlying["imageId"],
            SourceRegion=source.underlying["region"],
            Name=f"AwsBackup_copy_{job.job_id[:8]}",
        )
        underlying["imageId"] = image["ImageId"]
        arn = f"arn:aws:ec2:{dest_region}::image/{image['ImageId']}"
    else:  # EFS keeps its data inside AWS Backup: the copy is a new recovery point only
        underlying["fileSystemId"] = source.underlying["fileSystemId"]
        arn = f"arn:aws:backup:{dest_region}:{dest_account}:recovery-point:{uuid.uuid4()}"
    if air_gapped:  # kept in AWS Backup's storage, whatever the resource type
        arn = f"arn:aws:backup:{dest_region}:{dest_account}:recovery-point:{uuid.uuid4()}"
    now = time.time()
    encrypted = source.encrypted or source.resource_type == "EFS" or air_gapped
    copy = RecoveryPoint(
        arn=arn,
        account=dest_account,
        region=dest_region,
        vault_name=dest_vault.backup_vault_name,
        vault_arn=dest_vault.backup_vault_arn,
        resource_arn=source.resource_arn,
        resource_type=source.resource_type,
        # AWS: the copy is a new recovery point, created by the copy job; InitiationDate still
        # tells when the backup job that captured its data was initiated (what the RPO counts from)
        creation_date=job.creation_date,
        initiation_date=source.initiation_date or source.creation_date,
        completion_date=now,
        iam_role_arn=job.iam_role_arn,
        status="COMPLETED",
        source_vault_arn=source.vault_arn,
        size_bytes=source.size_bytes,
        underlying=underlying,
        restore_metadata=dict(source.restore_metadata),
        tags=dict(source.tags),
        encrypted=encrypted,
        encryption_key_arn=dest_vault.encryption_key_arn if encrypted else None,
        vault_type=AIR_GAPPED_TYPE if air_gapped else "BACKUP_VAULT",
    )
    with STORE.lock:
        STORE.recovery_points[arn] = copy
    job.destination_recovery_point_arn = arn


def _require_cross_account_copy(job: Job, source: RecoveryPoint, dest_region: str, dest_account: str) -> None:
    """What AWS Backup requires of a copy into another account's vault (Creating backup copies
    across AWS accounts): the destination vault's access policy allows the source account
    `backup:CopyIntoBackupVault`; the recovery point is not encrypted with an AWS managed key
    (another account can never use one); RDS cannot change account and Region in one copy; the
    emulator models the cross-account copy of EBS snapshots and EFS recovery points only."""
    from .vault_protection import POLICIES, allows

    dest_name = (job.destination_vault_arn or "").split(":")[6]
    policy = POLICIES.get((dest_account, dest_region, dest_name))
    if not policy or not allows(policy, "backup:CopyIntoBackupVault", job.account):
        raise JobFailed(
            f"Access denied: the access policy of backup vault {dest_name} in account {dest_account} "
            f"does not allow backup:CopyIntoBackupVault from account {job.account}"
        )
    if source.resource_type == "RDS" and dest_region != source.region:
        raise JobFailed(
            "Amazon RDS does not support a single copy that is both cross-Region and cross-account: "
            "copy within the Region into the other account, then across Regions"
        )
    if source.resource_type not in ("EBS", "Storage Gateway", "EFS"):
        raise JobFailed(f"The emulator does not model cross-account copies of {source.resource_type} recovery points")
    if source.encrypted and source.encryption_key_arn:
        key = internal.client("kms", source.region, job.account).describe_key(KeyId=source.encryption_key_arn)
        if key["KeyMetadata"].get("KeyManager") == "AWS":
            raise JobFailed(
                f"Recovery point {source.arn} is encrypted with an AWS managed key ({source.encryption_key_arn}), "
                "which cannot be shared with another account: encrypt the resource with a customer managed key"
            )
        # the destination account decrypts the source snapshot to copy it: the source key's
        # policy must allow it (EC2 CopySnapshot: "you must have permissions for the KMS key")
        refused = kms_access.refusal(source.encryption_key_arn, dest_account, source.region, kms_access.USE_ACTIONS)
        if refused:
            raise JobFailed(f"Access denied to the source key of {source.arn}: {refused}")


def snapshot_in_account(owner: str, region: str, snapshot_id: str, account: str, dest_region: str, description: str = "") -> str:
    """A snapshot of `owner`'s in `account`'s EC2 backend: what AWS Backup makes of a recovery
    point that crosses accounts. moto's CopySnapshot reads its source in the caller's own account
    only, so the snapshot is made directly in the destination's backend."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.elastic_block_store import Snapshot
    from moto.ec2.utils import random_snapshot_id

    original = ec2_backends[owner][region].get_snapshot(snapshot_id)
    backend = ec2_backends[account][dest_region]
    made = random_snapshot_id()
    backend.snapshots[made] = Snapshot(
        backend, made, volume=original.volume, description=description, encrypted=original.encrypted
    )
    return made


def start_copy_job(self: BackupResponse) -> str:
    params = _params(self, "RecoveryPointArn", "SourceBackupVaultName", "DestinationBackupVaultArn", "IamRoleArn")
    account, region = self.current_account, self.region
    existing = _idempotent(account, region, "copy", params.get("IdempotencyToken"))
    if existing:
        job = STORE.jobs[existing]
        return json.dumps({"CopyJobId": job.job_id, "CreationDate": job.creation_date})
    source_vault = _vault(account, region, params["SourceBackupVaultName"])
    rp = STORE.recovery_points.get(params["RecoveryPointArn"])
    if not rp or rp.vault_name != source_vault.backup_vault_name or rp.region != region:
        raise ResourceNotFoundException(
            f"Recovery point {params['RecoveryPointArn']} not found in vault {source_vault.backup_vault_name}"
        )
    if rp.status != "COMPLETED":
        raise InvalidRequestException(
            f"Recovery point {rp.arn} is {rp.status}; only a COMPLETED recovery point can be copied"
        )
    _vault_by_arn(params["DestinationBackupVaultArn"])  # must exist now
    job_id = str(uuid.uuid4()).upper()
    job = _new_job(
        "copy",
        job_id=job_id,
        account=account,
        region=region,
        resource_type=rp.resource_type,
        resource_arn=rp.resource_arn,
        iam_role_arn=params["IamRoleArn"],
        duration=STORE.duration("copy", rp.resource_type, rp.resource_arn, rp.size_bytes, rp.arn),
        recovery_point_arn=rp.arn,
        request=params,
        vault_name=source_vault.backup_vault_name,
        vault_arn=source_vault.backup_vault_arn,
        destination_vault_arn=params["DestinationBackupVaultArn"],
    )
    if params.get("IdempotencyToken"):
        STORE.idempotency[(account, region, "copy", params["IdempotencyToken"])] = job_id
    return json.dumps({"CopyJobId": job.job_id, "CreationDate": job.creation_date})


def describe_copy_job(self: BackupResponse) -> str:
    job_id = unquote(self.path.rstrip("/").rsplit("/", 1)[-1])
    return json.dumps({"CopyJob": _get_job("copy", job_id, self.current_account, self.region).describe()})


def list_copy_jobs(self: BackupResponse) -> str:
    return _list_jobs(
        self,
        "copy",
        "CopyJobs",
        {
            "resourceArn": lambda j, v: j.resource_arn == v,
            "state": lambda j, v: j.state == v,
            "resourceType": lambda j, v: j.resource_type == v,
            "destinationVaultArn": lambda j, v: j.destination_vault_arn == v,
            "sourceRecoveryPointArn": lambda j, v: j.recovery_point_arn == v,
        },
    )
