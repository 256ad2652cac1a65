"""AWS Backup jobs and recovery points, added to moto's Backup (which has vaults and plans only).

Jobs move through their states on a scheduler thread over a simulated duration
(per resource kind, overridable per resource). Each job is backed by real moto
resources: a backup creates an EBS/RDS snapshot or an AMI of the source, a copy
puts that snapshot into the destination region, a restore creates the volume,
DB instance, file system or instance. Every state change is sent to EventBridge
in the job's region as the event AWS Backup sends.

Request/response shapes follow botocore's backup service model.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

from moto.backup import urls as backup_urls
from moto.backup.exceptions import (
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from moto.backup.models import backup_backends
from moto.backup.responses import BackupResponse
from moto.core.exceptions import JsonRESTError

from . import aws_time, faults, internal, restores, storage_gateway

# A job leaves its first state (CREATED / PENDING) after this share of its duration.
START_FRACTION = 0.2


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
            "VaultType": "BACKUP_VAULT",
        }
        if self.completion_date:
            out["CompletionDate"] = self.completion_date
        if self.initiation_date:
            out["InitiationDate"] = self.initiation_date
        if self.source_vault_arn:
            out["SourceBackupVaultArn"] = self.source_vault_arn
        if self.encrypted and self.encryption_key_arn:
            out["EncryptionKeyArn"] = self.encryption_key_arn
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

    def reset(self) -> None:
        with self.lock:
            self.jobs.clear()
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
    region, resource = parts[3], parts[5]
    gateway_volume = storage_gateway.get(resource_arn)
    if gateway_volume is not None:
        return gateway_volume.size_gib * 1024**3
    try:
        if resource.startswith("volume/"):
            volume = internal.client("ec2", region).describe_volumes(VolumeIds=[resource.split("/", 1)[1]])
            return volume["Volumes"][0]["Size"] * 1024**3
        if resource.startswith("db:"):
            db = internal.client("rds", region).describe_db_instances(DBInstanceIdentifier=resource[3:])
            return int(db["DBInstances"][0].get("AllocatedStorage", 20)) * 1024**3
    except internal.ClientError:
        pass
    return 8 * 1024**3


def _idempotent(account: str, region: str, kind: str, token: str | None) -> str | None:
    if not token:
        return None
    return STORE.idempotency.get((account, region, kind, token))


def _emit(job: Job, previous_state: str | None) -> None:
    from .events import emit_job_event

    emit_job_event(job)


# --- job transitions (run on the scheduler thread) ---


def _complete_backup(job: Job) -> None:
    rp = STORE.recovery_points[job.recovery_point_arn]
    fail = faults.STATE.job_failure("backup", job.resource_arn)
    if fail:
        raise JobFailed(fail)
    src_region = job.region
    resource_id = job.resource_arn.split(":", 5)[5].split("/", 1)[-1]
    if job.resource_type == "EBS":
        ec2 = internal.client("ec2", src_region)
        volume = ec2.describe_volumes(VolumeIds=[resource_id])["Volumes"][0]
        snap = ec2.create_snapshot(
            VolumeId=resource_id, Description=f"AWS Backup job {job.job_id}"
        )
        rp.underlying = {"snapshotId": snap["SnapshotId"], "region": src_region}
        rp.size_bytes = volume["Size"] * 1024**3
        rp.encrypted = bool(volume.get("Encrypted"))
        rp.encryption_key_arn = volume.get("KmsKeyId") if rp.encrypted else None
        rp.restore_metadata = {
            "volumeId": resource_id,
            "volumeSize": str(volume["Size"]),
            "volumeType": volume.get("VolumeType", "gp2"),
            "availabilityZone": volume["AvailabilityZone"],
            "encrypted": str(volume.get("Encrypted", False)).lower(),
        }
        if volume.get("Iops"):
            rp.restore_metadata["iops"] = str(volume["Iops"])
        # the real ARN of an EBS recovery point is the snapshot's
        new_arn = f"arn:aws:ec2:{src_region}::snapshot/{snap['SnapshotId']}"
        _rename_recovery_point(job, rp, new_arn)
    elif job.resource_type == "Storage Gateway":
        gateway_volume = storage_gateway.get(job.resource_arn)
        if gateway_volume is None:
            raise JobFailed(f"The gateway volume {job.resource_arn} does not exist")
        snap = internal.client("ec2", src_region).create_snapshot(
            VolumeId=gateway_volume.backing_volume_id, Description=f"AWS Backup job {job.job_id}"
        )
        rp.underlying = {"snapshotId": snap["SnapshotId"], "region": src_region}
        rp.size_bytes = gateway_volume.size_gib * 1024**3
        rp.restore_metadata = {
            "gatewayArn": gateway_volume.gateway_arn,
            "targetName": gateway_volume.target_name,
            "volumeSizeInBytes": str(rp.size_bytes),
        }
        # a gateway volume's recovery point is an EBS snapshot too
        _rename_recovery_point(job, rp, f"arn:aws:ec2:{src_region}::snapshot/{snap['SnapshotId']}")
    elif job.resource_type == "RDS":
        rds = internal.client("rds", src_region)
        db_id = job.resource_arn.split(":db:", 1)[1]
        db = rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]
        snapshot_id = f"awsbackup-job-{job.job_id[:18].lower()}"
        rds.create_db_snapshot(DBSnapshotIdentifier=snapshot_id, DBInstanceIdentifier=db_id)
        rp.underlying = {"dbSnapshotIdentifier": snapshot_id, "region": src_region}
        rp.size_bytes = int(db.get("AllocatedStorage", 20)) * 1024**3
        rp.encrypted = bool(db.get("StorageEncrypted"))
        rp.encryption_key_arn = db.get("KmsKeyId") if rp.encrypted else None
        rp.restore_metadata = {
            "DBInstanceIdentifier": db_id,
            "DBInstanceClass": db["DBInstanceClass"],
            "Engine": db["Engine"],
            "EngineVersion": db.get("EngineVersion", ""),
            "AllocatedStorage": str(db.get("AllocatedStorage", 20)),
            "MultiAZ": str(db.get("MultiAZ", False)).lower(),
            "PubliclyAccessible": str(db.get("PubliclyAccessible", False)).lower(),
            "AvailabilityZone": db.get("AvailabilityZone", f"{src_region}a"),
            "DBSubnetGroupName": (db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName", "default"),
            "VpcSecurityGroupIds": json.dumps(
                [g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])]
            ),
            "Port": str((db.get("Endpoint") or {}).get("Port", 5432)),
        }
        # AWS Backup names the snapshot `awsbackup:job-<id>`; moto's snapshot ids cannot hold a colon
        new_arn = f"arn:aws:rds:{src_region}:{job.account}:snapshot:awsbackup:job-{job.job_id.lower()}"
        _rename_recovery_point(job, rp, new_arn)
    elif job.resource_type == "EFS":
        efs = internal.client("efs", src_region)
        fs = efs.describe_file_systems(FileSystemId=resource_id)["FileSystems"][0]
        rp.underlying = {"fileSystemId": resource_id, "region": src_region}
        rp.size_bytes = int(fs.get("SizeInBytes", {}).get("Value", 6144))
        rp.encrypted = True
        rp.encryption_key_arn = _vault(job.account, src_region, job.vault_name or "").encryption_key_arn
        rp.restore_metadata = {
            "file-system-id": resource_id,
            "Encrypted": str(fs.get("Encrypted", False)).lower(),
            "PerformanceMode": fs.get("PerformanceMode", "generalPurpose"),
            "newFileSystem": "true",
            "CreationToken": fs.get("CreationToken", resource_id),
        }
    elif job.resource_type == "EC2":
        ec2 = internal.client("ec2", src_region)
        reservation = ec2.describe_instances(InstanceIds=[resource_id])["Reservations"][0]
        instance = reservation["Instances"][0]
        image = ec2.create_image(
            InstanceId=resource_id, Name=f"AwsBackup_{resource_id}_{job.job_id[:8]}"
        )
        rp.underlying = {"imageId": image["ImageId"], "region": src_region}
        rp.size_bytes = 8 * 1024**3
        rp.restore_metadata = {
            "InstanceType": instance["InstanceType"],
            "SubnetId": instance.get("SubnetId", ""),
            "SecurityGroupIds": json.dumps([g["GroupId"] for g in instance.get("SecurityGroups", [])]),
            "Placement": json.dumps(
                {"AvailabilityZone": instance["Placement"]["AvailabilityZone"], "GroupName": "", "Tenancy": "default"}
            ),
        }
        new_arn = f"arn:aws:ec2:{src_region}::image/{image['ImageId']}"
        _rename_recovery_point(job, rp, new_arn)


def _rename_recovery_point(job: Job, rp: RecoveryPoint, new_arn: str) -> None:
    """The RP's ARN names its snapshot/image, known only once that exists."""
    with STORE.lock:
        STORE.recovery_points.pop(rp.arn, None)
        rp.arn = new_arn
        STORE.recovery_points[new_arn] = rp
        job.recovery_point_arn = new_arn


def _complete_copy(job: Job) -> None:
    fail = faults.STATE.job_failure("copy", job.resource_arn, job.recovery_point_arn)
    if fail:
        raise JobFailed(fail)
    source = STORE.recovery_points[job.recovery_point_arn]
    dest_region, dest_account, dest_vault = _vault_by_arn(job.destination_vault_arn or "")
    underlying: dict[str, Any] = {"region": dest_region}
    if source.resource_type in ("EBS", "Storage Gateway"):
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
    now = time.time()
    encrypted = source.encrypted or source.resource_type == "EFS"
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
    )
    with STORE.lock:
        STORE.recovery_points[arn] = copy
    job.destination_recovery_point_arn = arn


def _complete_restore(job: Job) -> None:
    fail = faults.STATE.job_failure("restore", job.resource_arn, job.recovery_point_arn)
    if fail:
        raise JobFailed(fail)
    rp = STORE.recovery_points[job.recovery_point_arn]
    meta = dict(job.request.get("Metadata", {}))
    region, account = job.region, job.account
    _require_usable_key(rp, region)
    # a gateway volume's copy restored as an EBS volume is an EBS restore
    if job.resource_type == "EBS":
        ec2 = internal.client("ec2", region)
        az = meta["availabilityZone"]
        params: dict[str, Any] = {
            "SnapshotId": rp.underlying["snapshotId"],
            "AvailabilityZone": az,
            "VolumeType": meta.get("volumeType", "gp2"),
            "Size": int(meta.get("volumeSize") or rp.size_bytes // 1024**3 or 8),
        }
        if meta.get("encrypted", "false").lower() == "true":
            params["Encrypted"] = True
            if meta.get("kmsKeyId"):
                params["KmsKeyId"] = meta["kmsKeyId"]
        if meta.get("iops") and params["VolumeType"] in ("io1", "io2", "gp3"):
            params["Iops"] = int(meta["iops"])
        volume = ec2.create_volume(**params)
        job.created_resource_arn = f"arn:aws:ec2:{region}:{account}:volume/{volume['VolumeId']}"
    elif rp.resource_type == "RDS":
        rds = internal.client("rds", region)
        identifier = meta.get("DBInstanceIdentifier", "")
        params = {
            "DBInstanceIdentifier": identifier,
            "DBSnapshotIdentifier": rp.underlying["dbSnapshotIdentifier"],
            # RDS keeps the snapshot's class when the request names none
            "DBInstanceClass": meta.get("DBInstanceClass") or rp.restore_metadata.get("DBInstanceClass", "db.t3.micro"),
            "MultiAZ": meta.get("MultiAZ", "false").lower() == "true",
            "PubliclyAccessible": meta.get("PubliclyAccessible", "false").lower() == "true",
        }
        if meta.get("DBSubnetGroupName") and meta["DBSubnetGroupName"] != "default":
            params["DBSubnetGroupName"] = meta["DBSubnetGroupName"]
        if meta.get("AvailabilityZone"):
            params["AvailabilityZone"] = meta["AvailabilityZone"]
        groups = json.loads(meta.get("VpcSecurityGroupIds") or "[]")
        if groups:
            params["VpcSecurityGroupIds"] = groups
        try:
            rds.restore_db_instance_from_db_snapshot(**params)
        except internal.ClientError as err:
            raise JobFailed(internal.error_text(err)) from None
        aws_time.mark_restored_db_instance(account, region, identifier)
        job.created_resource_arn = f"arn:aws:rds:{region}:{account}:db:{identifier}"
    elif rp.resource_type == "EFS":
        efs = internal.client("efs", region)
        token = meta.get("CreationToken") or job.job_id
        params = {
            "CreationToken": f"{token}-{job.job_id[:8]}",
            "PerformanceMode": meta.get("PerformanceMode", "generalPurpose"),
            "Encrypted": meta.get("Encrypted", "false").lower() == "true",
        }
        if meta.get("KmsKeyId"):
            params["KmsKeyId"] = meta["KmsKeyId"]
        fs = efs.create_file_system(**params)
        job.created_resource_arn = (
            f"arn:aws:elasticfilesystem:{region}:{account}:file-system/{fs['FileSystemId']}"
        )
    elif rp.resource_type == "EC2":
        ec2 = internal.client("ec2", region)
        params = {
            "ImageId": rp.underlying["imageId"],
            "InstanceType": meta.get("InstanceType") or rp.restore_metadata.get("InstanceType", "t3.micro"),
            "MinCount": 1,
            "MaxCount": 1,
        }
        zone = json.loads(meta.get("Placement") or "{}").get("AvailabilityZone")
        if zone:
            params["Placement"] = {"AvailabilityZone": zone}
        if meta.get("SubnetId"):
            params["SubnetId"] = meta["SubnetId"]
        groups = json.loads(meta.get("SecurityGroupIds") or "[]")
        if groups:
            params["SecurityGroupIds"] = groups
        try:
            reservation = ec2.run_instances(**params)
        except internal.ClientError as err:
            raise JobFailed(internal.error_text(err)) from None
        instance_id = reservation["Instances"][0]["InstanceId"]
        job.created_resource_arn = f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"


class JobFailed(Exception):
    pass


def _require_usable_key(rp: RecoveryPoint, region: str) -> None:
    """AWS fails a restore whose recovery point's KMS key is not an enabled key of the region
    (deleted, pending deletion, disabled, or another region's)."""
    key = rp.encryption_key_arn
    if not rp.encrypted or not key:
        return
    if key.startswith("arn:") and key.split(":")[3] != region:
        raise JobFailed(f"The KMS key {key} is not in {region}; the recovery point cannot be decrypted")
    try:
        state = internal.client("kms", region).describe_key(KeyId=key)["KeyMetadata"]["KeyState"]
    except internal.ClientError as err:
        raise JobFailed(f"Access to KMS key {key} failed: {internal.error_text(err)}") from None
    if state != "Enabled":
        raise JobFailed(f"The KMS key {key} is {state}; the recovery point cannot be decrypted")


COMPLETERS: dict[str, Callable[[Job], None]] = {
    "backup": _complete_backup,
    "copy": _complete_copy,
    "restore": _complete_restore,
}
FIRST_STATE = {"backup": "CREATED", "copy": "CREATED", "restore": "PENDING"}


def _advance(job: Job, now: float) -> None:
    elapsed = now - job.creation_date
    if job.state == FIRST_STATE[job.kind] and elapsed >= job.duration * START_FRACTION:
        job.state = "RUNNING"
        _emit(job, FIRST_STATE[job.kind])
        if job.kind == "restore":
            try:  # region-bound values fail the job early, as the underlying service refuses them
                restores.check_region(job.resource_type, job.region, job.request.get("Metadata", {}))
            except restores.RestoreFailed as failure:
                job.state, job.status_message, job.completion_date = "FAILED", str(failure), time.time()
                _emit(job, "RUNNING")
                return
    if job.state == "RUNNING" and elapsed >= job.duration:
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


def scheduler_loop(stop: threading.Event) -> None:
    while not stop.wait(0.05):
        now = time.time()
        with STORE.lock:
            pending = [j for j in STORE.jobs.values() if j.state in ("CREATED", "PENDING", "RUNNING")]
        for job in pending:
            _advance(job, now)


# --- API operations (methods added to moto's BackupResponse) ---


def _new_job(kind: str, **kwargs: Any) -> Job:
    job = Job(kind=kind, state=FIRST_STATE[kind], creation_date=time.time(), **kwargs)
    with STORE.lock:
        STORE.jobs[job.job_id] = job
    _emit(job, None)
    return job


def start_backup_job(self: BackupResponse) -> str:
    params = _params(self, "BackupVaultName", "ResourceArn", "IamRoleArn")
    account, region = self.current_account, self.region
    existing = _idempotent(account, region, "backup", params.get("IdempotencyToken"))
    if existing:
        job = STORE.jobs[existing]
        return json.dumps(
            {"BackupJobId": job.job_id, "RecoveryPointArn": job.recovery_point_arn, "CreationDate": job.creation_date}
        )
    vault = _vault(account, region, params["BackupVaultName"])
    resource_arn = params["ResourceArn"]
    resource_type = resource_type_of(resource_arn)
    if resource_arn.split(":")[3] != region:
        raise InvalidParameterValueException(
            f"Resource {resource_arn} is not in region {region}"
        )
    job_id = str(uuid.uuid4()).upper()
    placeholder_arn = f"arn:aws:backup:{region}:{account}:recovery-point:{uuid.uuid4()}"
    now = time.time()
    rp = RecoveryPoint(
        arn=placeholder_arn,
        account=account,
        region=region,
        vault_name=vault.backup_vault_name,
        vault_arn=vault.backup_vault_arn,
        resource_arn=resource_arn,
        resource_type=resource_type,
        creation_date=now,
        initiation_date=now,
        iam_role_arn=params["IamRoleArn"],
        tags=params.get("RecoveryPointTags") or {},
    )
    with STORE.lock:
        STORE.recovery_points[placeholder_arn] = rp
    job = _new_job(
        "backup",
        job_id=job_id,
        account=account,
        region=region,
        resource_type=resource_type,
        resource_arn=resource_arn,
        iam_role_arn=params["IamRoleArn"],
        duration=STORE.duration("backup", resource_type, resource_arn, _source_size(resource_arn)),
        recovery_point_arn=placeholder_arn,
        request=params,
        vault_name=vault.backup_vault_name,
        vault_arn=vault.backup_vault_arn,
    )
    if params.get("IdempotencyToken"):
        STORE.idempotency[(account, region, "backup", params["IdempotencyToken"])] = job_id
    return json.dumps({"BackupJobId": job_id, "RecoveryPointArn": placeholder_arn, "CreationDate": now})


def _get_job(kind: str, job_id: str, account: str, region: str) -> Job:
    job = STORE.jobs.get(job_id)
    if not job or job.kind != kind or job.account != account or job.region != region:
        raise ResourceNotFoundException(f"{kind.capitalize()} job {job_id} not found")
    return job


def describe_backup_job(self: BackupResponse) -> str:
    job_id = unquote(self.path.rstrip("/").rsplit("/", 1)[-1])
    return json.dumps(_get_job("backup", job_id, self.current_account, self.region).describe())


def _list_jobs(self: BackupResponse, kind: str, key: str, filters: dict[str, Callable[[Job, str], bool]]) -> str:
    query = {k: v[0] for k, v in self.querystring.items() if isinstance(v, list) and v}
    with STORE.lock:
        jobs = [
            j for j in STORE.jobs.values()
            if j.kind == kind and j.account == self.current_account and j.region == self.region
        ]
    for name, predicate in filters.items():
        if name in query:
            jobs = [j for j in jobs if predicate(j, query[name])]
    jobs.sort(key=lambda j: j.creation_date, reverse=True)
    return _paginate(query, key, [j.describe() for j in jobs])


def _query_time(text: str) -> float:
    """A timestamp in a query string: ISO 8601 (the REST-JSON default) or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def backdate_recovery_point(arn: str, seconds: float) -> dict[str, Any]:
    """Test hook: the data of `arn` was captured `seconds` earlier (as if its backup job had
    started then); copies made afterwards keep that InitiationDate."""
    with STORE.lock:
        rp = STORE.recovery_points.get(arn)
        if rp is None:
            raise KeyError(f"no recovery point {arn}")
        rp.initiation_date = (rp.initiation_date or rp.creation_date) - seconds
        rp.creation_date -= seconds
        return rp.to_vault_listing()


def _paginate(query: dict[str, str], key: str, items: list[dict[str, Any]]) -> str:
    start = int(query.get("nextToken", "0") or 0)
    size = int(query.get("maxResults", "1000") or 1000)
    page = items[start : start + size]
    out: dict[str, Any] = {key: page}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return json.dumps(out)


def list_backup_jobs(self: BackupResponse) -> str:
    return _list_jobs(
        self,
        "backup",
        "BackupJobs",
        {
            "resourceArn": lambda j, v: j.resource_arn == v,
            "state": lambda j, v: j.state == v,
            "backupVaultName": lambda j, v: j.vault_name == v,
            "resourceType": lambda j, v: j.resource_type == v,
        },
    )


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


def start_restore_job(self: BackupResponse) -> str:
    params = _params(self, "RecoveryPointArn", "Metadata")
    account, region = self.current_account, self.region
    existing = _idempotent(account, region, "restore", params.get("IdempotencyToken"))
    if existing:
        return json.dumps({"RestoreJobId": existing})
    rp_arn = params.get("RecoveryPointArn", "")
    rp = STORE.recovery_points.get(rp_arn)
    if not rp or rp.account != account:
        raise ResourceNotFoundException(f"Recovery point {rp_arn} not found")
    if rp.region != region:
        raise InvalidParameterValueException(
            f"Recovery point {rp_arn} is in {rp.region}, not in {region}: restore it in its own region"
        )
    if rp.status != "COMPLETED":
        raise InvalidRequestException(f"Recovery point {rp_arn} is {rp.status}, not COMPLETED")
    metadata = params.get("Metadata")
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InvalidParameterValueException("Metadata must be a map of strings")
    # a gateway volume's copy restores to a gateway, or (ResourceType EBS) as an EBS volume
    target_type = rp.resource_type
    if rp.resource_type == "Storage Gateway" and params.get("ResourceType") == "EBS":
        target_type = "EBS"
    elif params.get("ResourceType") not in (None, rp.resource_type):
        raise InvalidParameterValueException(
            f"ResourceType {params.get('ResourceType')} does not match the recovery point's {rp.resource_type}"
        )
    # AWS restores with exactly the metadata of the request: what it lacks is not taken from the source
    problems = restores.missing_or_malformed(target_type, metadata)
    if target_type == "EBS" and rp.resource_type == "Storage Gateway":
        size = metadata.get("volumeSize", "")
        source_gib = -(-rp.size_bytes // 1024**3)
        if not size.isdigit() or int(size) < source_gib:
            problems.append(f"volumeSize must be at least the gateway volume's size, {source_gib} GiB, not {size!r}")
    if problems:
        raise InvalidParameterValueException(f"Invalid restore metadata for {rp.arn}: {'; '.join(problems)}")
    job_id = str(uuid.uuid4()).upper()
    _new_job(
        "restore",
        job_id=job_id,
        account=account,
        region=region,
        resource_type=target_type,
        resource_arn=rp.resource_arn,
        iam_role_arn=params.get("IamRoleArn", ""),
        duration=STORE.duration("restore", target_type, rp.resource_arn, rp.size_bytes, rp.arn),
        recovery_point_arn=rp.arn,
        request=params,
        vault_name=rp.vault_name,
        vault_arn=rp.vault_arn,
    )
    if params.get("IdempotencyToken"):
        STORE.idempotency[(account, region, "restore", params["IdempotencyToken"])] = job_id
    return json.dumps({"RestoreJobId": job_id})


def describe_restore_job(self: BackupResponse) -> str:
    job_id = unquote(self.path.rstrip("/").rsplit("/", 1)[-1])
    return json.dumps(_get_job("restore", job_id, self.current_account, self.region).describe())


def list_restore_jobs(self: BackupResponse) -> str:
    return _list_jobs(
        self,
        "restore",
        "RestoreJobs",
        {
            "status": lambda j, v: j.state == v,
            "resourceType": lambda j, v: j.resource_type == v,
            "createdAfter": lambda j, v: j.creation_date > _query_time(v),
            "createdBefore": lambda j, v: j.creation_date < _query_time(v),
        },
    )


def _recovery_points_in(account: str, region: str) -> list[RecoveryPoint]:
    with STORE.lock:
        return [
            rp for rp in STORE.recovery_points.values()
            if rp.account == account and rp.region == region
        ]


def list_recovery_points_by_backup_vault(self: BackupResponse) -> str:
    name = unquote(self.path.split("/backup-vaults/", 1)[1].split("/", 1)[0])
    _vault(self.current_account, self.region, name)
    query = {k: v[0] for k, v in self.querystring.items() if isinstance(v, list) and v}
    points = [rp for rp in _recovery_points_in(self.current_account, self.region) if rp.vault_name == name]
    if "resourceArn" in query:
        points = [rp for rp in points if rp.resource_arn == query["resourceArn"]]
    if "resourceType" in query:
        points = [rp for rp in points if rp.resource_type == query["resourceType"]]
    if "createdAfter" in query:
        points = [rp for rp in points if rp.creation_date > _query_time(query["createdAfter"])]
    if "createdBefore" in query:
        points = [rp for rp in points if rp.creation_date < _query_time(query["createdBefore"])]
    points.sort(key=lambda rp: rp.creation_date, reverse=True)
    return _paginate(query, "RecoveryPoints", [rp.to_vault_listing() for rp in points])


def list_recovery_points_by_resource(self: BackupResponse) -> str:
    resource_arn = unquote(self.path.split("/resources/", 1)[1].rsplit("/recovery-points", 1)[0])
    query = {k: v[0] for k, v in self.querystring.items() if isinstance(v, list) and v}
    points = [rp for rp in _recovery_points_in(self.current_account, self.region) if rp.resource_arn == resource_arn]
    points.sort(key=lambda rp: rp.creation_date, reverse=True)
    items = [
        {
            "RecoveryPointArn": rp.arn,
            "CreationDate": rp.creation_date,
            "Status": rp.status,
            "BackupSizeBytes": rp.size_bytes,
            "BackupVaultName": rp.vault_name,
            "VaultType": "BACKUP_VAULT",
        }
        for rp in points
    ]
    return _paginate(query, "RecoveryPoints", items)


def _recovery_point_from_path(self: BackupResponse) -> RecoveryPoint:
    rest = unquote(self.path.split("/backup-vaults/", 1)[1])
    name, rp_part = rest.split("/recovery-points/", 1)
    rp_arn = rp_part.removesuffix("/restore-metadata")
    _vault(self.current_account, self.region, name)
    rp = STORE.recovery_points.get(rp_arn)
    if not rp or rp.vault_name != name or rp.region != self.region or rp.account != self.current_account:
        raise ResourceNotFoundException(f"Recovery point {rp_arn} not found in vault {name}")
    return rp


def describe_recovery_point(self: BackupResponse) -> str:
    rp = _recovery_point_from_path(self)
    return json.dumps({**rp.to_vault_listing(), "StorageClass": "WARM"})


def get_recovery_point_restore_metadata(self: BackupResponse) -> str:
    rp = _recovery_point_from_path(self)
    return json.dumps(
        {
            "BackupVaultArn": rp.vault_arn,
            "RecoveryPointArn": rp.arn,
            "RestoreMetadata": rp.restore_metadata,
            "ResourceType": rp.resource_type,
        }
    )


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
    for operation in OPERATIONS:
        setattr(BackupResponse, operation.__name__, operation)
    for pattern in URL_PATHS:
        backup_urls.url_paths[pattern] = BackupResponse.dispatch
