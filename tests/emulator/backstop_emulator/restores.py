"""What a restore job does with its request, per resource type, as AWS Backup does it.

AWS uses the metadata the StartRestoreJob request passes, nothing else: a key left out is not
filled in from the backed-up configuration. Required keys missing are refused at once; values
bound to a region (AZs, subnets, security groups, DB subnet groups, KMS keys) are checked when
the job runs, in the restore's region, and end the job FAILED with the message of the service
that would have refused them.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from . import internal

# Keys StartRestoreJob refuses to go without, per resource type (AWS Backup developer guide,
# "Restore metadata" per resource type).
REQUIRED_KEYS = {
    "EBS": ["availabilityZone"],
    "RDS": ["DBInstanceIdentifier"],
    "EFS": ["file-system-id", "newFileSystem"],
    "EC2": [],
    # restored to a gateway (as an EBS volume, a gateway volume's copy needs the EBS keys)
    "Storage Gateway": ["gatewayArn", "targetName"],
}
BOOLEAN_KEYS = {
    "EBS": ["encrypted"],
    "RDS": ["MultiAZ", "PubliclyAccessible"],
    "EFS": ["newFileSystem", "Encrypted"],
    "EC2": [],
    "Storage Gateway": [],
}


class RestoreFailed(Exception):
    """The restore job ends FAILED with this message."""


def missing_or_malformed(resource_type: str, metadata: dict[str, str]) -> list[str]:
    problems = [f"{key} is required for a {resource_type} restore" for key in REQUIRED_KEYS[resource_type] if not metadata.get(key)]
    for key in BOOLEAN_KEYS[resource_type]:
        if key in metadata and metadata[key].lower() not in ("true", "false"):
            problems.append(f"{key} must be 'true' or 'false', not {metadata[key]!r}")
    for key in ("VpcSecurityGroupIds", "SecurityGroupIds", "Placement"):
        if key in metadata:
            try:
                json.loads(metadata[key])
            except ValueError:
                problems.append(f"{key} must be JSON, not {metadata[key]!r}")
    return problems


def _flag(metadata: dict[str, str], key: str, default: bool = False) -> bool:
    return metadata.get(key, str(default)).lower() == "true"


@functools.lru_cache(maxsize=None)  # a region's zones do not change; every restore checks one
def _zones(region: str) -> frozenset[str]:
    zones = internal.client("ec2", region).describe_availability_zones()["AvailabilityZones"]
    return frozenset(zone["ZoneName"] for zone in zones)


def _check_zone(region: str, zone: str, what: str) -> None:
    if zone not in _zones(region):
        raise RestoreFailed(
            f"{what}: Invalid availability zone: [{zone}]. The availability zone is not in region {region}."
        )


def _check_subnet(region: str, subnet_id: str) -> dict[str, Any]:
    try:
        return internal.client("ec2", region).describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    except internal.ClientError:
        raise RestoreFailed(f"InvalidSubnetID.NotFound: The subnet ID '{subnet_id}' does not exist") from None


def _check_security_groups(region: str, group_ids: list[str], vpc_id: str | None) -> None:
    ec2 = internal.client("ec2", region)
    for group_id in group_ids:
        try:
            group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        except internal.ClientError:
            raise RestoreFailed(f"InvalidGroup.NotFound: The security group '{group_id}' does not exist") from None
        if vpc_id and group["VpcId"] != vpc_id:
            raise RestoreFailed(
                f"InvalidParameter: Security group {group_id} and subnet belong to different networks ({group['VpcId']}, {vpc_id})"
            )


def _check_kms_key(region: str, key_id: str, account: str, role_arn: str | None) -> None:
    """The planned key: an enabled key of the restore's region that the restoring account may use
    (its own, or another account's whose key policy allows it)."""
    from . import kms_access

    if key_id.startswith("arn:") and key_id.split(":")[3] != region:
        raise RestoreFailed(
            f"KMSKeyNotAccessibleFault: The KMS key {key_id} is in region {key_id.split(':')[3]}, "
            f"not in {region}: a restore in {region} needs a key of that region"
        )
    refused = kms_access.refusal(key_id, account, region, kms_access.USE_ACTIONS, role_arn)
    if refused:
        raise RestoreFailed(f"KMSKeyNotAccessibleFault: {refused}")


def check_region(
    resource_type: str, region: str, metadata: dict[str, str], account: str | None = None, role_arn: str | None = None
) -> None:
    """Raises RestoreFailed if a region-bound value does not exist in the restore region."""
    if resource_type == "EBS":
        _check_zone(region, metadata["availabilityZone"], "CreateVolume")
        if metadata.get("kmsKeyId"):
            _check_kms_key(region, metadata["kmsKeyId"], account or internal.DEFAULT_ACCOUNT, role_arn)
    elif resource_type == "RDS":
        vpc_id = None
        group_name = metadata.get("DBSubnetGroupName")
        if group_name and group_name != "default":  # "default" is the default VPC's, which RDS makes itself
            try:
                group = internal.client("rds", region).describe_db_subnet_groups(DBSubnetGroupName=group_name)
            except internal.ClientError:
                raise RestoreFailed(f"DBSubnetGroupNotFoundFault: DB subnet group '{group_name}' does not exist.") from None
            vpc_id = group["DBSubnetGroups"][0].get("VpcId")
        if metadata.get("AvailabilityZone"):
            if _flag(metadata, "MultiAZ"):
                raise RestoreFailed(
                    "InvalidParameterCombination: Requesting a specific availability zone is not valid for Multi-AZ instances."
                )
            _check_zone(region, metadata["AvailabilityZone"], "RestoreDBInstanceFromDBSnapshot")
        groups = json.loads(metadata.get("VpcSecurityGroupIds") or "[]")
        _check_security_groups(region, groups, vpc_id)
        if metadata.get("KmsKeyId"):
            _check_kms_key(region, metadata["KmsKeyId"], account or internal.DEFAULT_ACCOUNT, role_arn)
    elif resource_type == "EFS":
        if not _flag(metadata, "newFileSystem"):
            fs_id = metadata["file-system-id"]
            try:
                internal.client("efs", region).describe_file_systems(FileSystemId=fs_id)
            except internal.ClientError:
                raise RestoreFailed(
                    f"FileSystemNotFound: File system '{fs_id}' does not exist in {region}; "
                    "restore to a new file system (newFileSystem=true)"
                ) from None
        if metadata.get("KmsKeyId"):
            _check_kms_key(region, metadata["KmsKeyId"], account or internal.DEFAULT_ACCOUNT, role_arn)
    elif resource_type == "Storage Gateway":
        # the emulator has no gateways: as AWS for a gateway it cannot find in the region
        raise RestoreFailed(
            f"InvalidGatewayRequestException: The specified gateway was not found: {metadata.get('gatewayArn')}"
        )
    elif resource_type == "EC2":
        vpc_id, subnet_zone = None, None
        if metadata.get("SubnetId"):
            subnet = _check_subnet(region, metadata["SubnetId"])
            vpc_id, subnet_zone = subnet["VpcId"], subnet["AvailabilityZone"]
        placement = json.loads(metadata.get("Placement") or "{}")
        zone = placement.get("AvailabilityZone")
        if zone:
            _check_zone(region, zone, "RunInstances")
            if subnet_zone and zone != subnet_zone:
                raise RestoreFailed(
                    f"InvalidParameterValue: Value ({zone}) for parameter availabilityZone is invalid. "
                    f"Subnet {metadata['SubnetId']} is in {subnet_zone}."
                )
        _check_security_groups(region, json.loads(metadata.get("SecurityGroupIds") or "[]"), vpc_id)
