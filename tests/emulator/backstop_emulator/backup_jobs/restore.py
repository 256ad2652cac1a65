"""Restore jobs: the volume, DB instance, file system or instance a recovery point restores to."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote

from moto.backup.exceptions import InvalidParameterValueException, ResourceNotFoundException
from moto.backup.responses import BackupResponse

from .. import aws_time, faults, internal, restores
from .air_gapped import may_restore
from .copy import snapshot_in_account
from .store import (
    InvalidRequestException,
    Job,
    JobFailed,
    STORE,
    _get_job,
    _idempotent,
    _list_jobs,
    _new_job,
    _params,
    _query_time,
    _require_usable_key,
)


def _complete_restore(job: Job) -> None:
    fail = faults.STATE.job_failure("restore", job.resource_arn, job.recovery_point_arn)
    if fail:
        raise JobFailed(fail)
    rp = STORE.recovery_points[job.recovery_point_arn]
    meta = dict(job.request.get("Metadata", {}))
    region, account = job.region, job.account
    role = job.iam_role_arn or None
    if rp.encrypted:
        _require_usable_key(rp.encryption_key_arn, region, account, "the recovery point's key", role)
    # a gateway volume's copy restored as an EBS volume is an EBS restore
    if job.resource_type == "EBS":
        ec2 = internal.client("ec2", region, account)
        az = meta["availabilityZone"]
        snapshot_id = rp.underlying["snapshotId"]
        if rp.account != account:  # a shared air-gapped vault's: its data reaches this account
            snapshot_id = snapshot_in_account(rp.account, rp.underlying["region"], snapshot_id, account, region)
        params: dict[str, Any] = {
            "SnapshotId": snapshot_id,
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
        try:
            volume = ec2.create_volume(**params)
        finally:
            if snapshot_id != rp.underlying["snapshotId"]:
                ec2.delete_snapshot(SnapshotId=snapshot_id)
        job.created_resource_arn = f"arn:aws:ec2:{region}:{account}:volume/{volume['VolumeId']}"
    elif rp.resource_type == "RDS":
        rds = internal.client("rds", region, account)
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
            restored = rds.restore_db_instance_from_db_snapshot(**params)["DBInstance"]
        except internal.ClientError as err:
            raise JobFailed(internal.error_text(err)) from None
        aws_time.mark_restored_db_instance(account, region, identifier)
        job.created_resource_arn = f"arn:aws:rds:{region}:{account}:db:{identifier}"
        # moto copies the source database's tags; AWS Backup copies the backup's tags only
        # when the request says CopySourceTagsToRestoredResource
        if not job.request.get("CopySourceTagsToRestoredResource"):
            copied = rds.list_tags_for_resource(ResourceName=restored["DBInstanceArn"])["TagList"]
            if copied:
                rds.remove_tags_from_resource(
                    ResourceName=restored["DBInstanceArn"], TagKeys=[t["Key"] for t in copied]
                )
    elif rp.resource_type == "EFS":
        efs = internal.client("efs", region, account)
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
        ec2 = internal.client("ec2", region, account)
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


def start_restore_job(self: BackupResponse) -> str:
    params = _params(self, "RecoveryPointArn", "Metadata")
    account, region = self.current_account, self.region
    existing = _idempotent(account, region, "restore", params.get("IdempotencyToken"))
    if existing:
        return json.dumps({"RestoreJobId": existing})
    rp_arn = params.get("RecoveryPointArn", "")
    rp = STORE.recovery_points.get(rp_arn)
    # another account's recovery point only from a logically air-gapped vault shared with this one
    if not rp or not may_restore(rp.account, rp.region, rp.vault_name, rp.vault_arn, account):
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
