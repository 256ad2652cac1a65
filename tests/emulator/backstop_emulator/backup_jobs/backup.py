"""Backup jobs: a snapshot (or AMI) of the source in its region's vault."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import unquote

from moto.backup.exceptions import InvalidParameterValueException
from moto.backup.responses import BackupResponse

from .. import faults, internal, storage_gateway
from .store import (
    Job,
    JobFailed,
    RecoveryPoint,
    STORE,
    _get_job,
    _idempotent,
    _list_jobs,
    _new_job,
    _params,
    _rename_recovery_point,
    _source_size,
    _vault,
    resource_type_of,
)


def _complete_backup(job: Job) -> None:
    rp = STORE.recovery_points[job.recovery_point_arn]
    fail = faults.STATE.job_failure("backup", job.resource_arn)
    if fail:
        raise JobFailed(fail)
    src_region = job.region
    resource_id = job.resource_arn.split(":", 5)[5].split("/", 1)[-1]
    if job.resource_type == "EBS":
        ec2 = internal.client("ec2", src_region, job.account)
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
        snap = internal.client("ec2", src_region, job.account).create_snapshot(
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
        rds = internal.client("rds", src_region, job.account)
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
        efs = internal.client("efs", src_region, job.account)
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
        ec2 = internal.client("ec2", src_region, job.account)
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
    if resource_arn.split(":")[4] not in ("", account):
        raise InvalidParameterValueException(
            f"Resource {resource_arn} is not in account {account}: back it up from its own account"
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


def describe_backup_job(self: BackupResponse) -> str:
    job_id = unquote(self.path.rstrip("/").rsplit("/", 1)[-1])
    return json.dumps(_get_job("backup", job_id, self.current_account, self.region).describe())


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
