"""Restores use what the request says, in the region they run in (AWS Backup developer guide,
"Restore metadata" per resource type; the API reference of StartRestoreJob)."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import DR, back_up, copy_to_dr, dr_metadata, protect, restore


def test_an_rds_recovery_point_is_named_as_aws_backup_names_its_snapshots(emulator, world):
    """AWS Backup's RDS snapshots are `awsbackup:job-<id>`, copies `awsbackup:copyjob-<id>`."""
    copy = protect(emulator, world, world["primary"]["db"]["arn"])
    assert copy.startswith(f"arn:aws:rds:{DR}:123456789012:snapshot:awsbackup:copyjob-"), copy
    listed = emulator.client("backup", "us-east-1").list_recovery_points_by_backup_vault(BackupVaultName="backstop-primary")
    assert any(":snapshot:awsbackup:job-" in p["RecoveryPointArn"] for p in listed["RecoveryPoints"]), listed


@pytest.mark.parametrize(
    "resource, missing",
    [
        (("db",), "DBInstanceIdentifier"),
        (("volumes", "app-data"), "availabilityZone"),
        (("fileSystem",), "file-system-id"),
        (("fileSystem",), "newFileSystem"),
    ],
)
def test_a_required_metadata_key_left_out_is_refused_not_filled_in_from_the_source(emulator, world, resource, missing):
    """AWS does not merge the backed-up configuration into the request: a missing required key is refused."""
    source = world["primary"]
    for key in resource:
        source = source[key]
    copy = protect(emulator, world, source["arn"])
    metadata = {k: v for k, v in dr_metadata(emulator, copy).items() if k != missing}
    metadata.update({"availabilityZone": f"{DR}a"} if missing != "availabilityZone" and "volumes" in resource else {})
    with pytest.raises(ClientError) as refused:
        emulator.client("backup", DR).start_restore_job(
            RecoveryPointArn=copy, Metadata=metadata, IamRoleArn=world["backupRoleArn"]
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert missing in refused.value.response["Error"]["Message"]


def _rds_request(world, copy_metadata, **overrides):
    metadata = {
        "DBInstanceIdentifier": "orders",
        "DBInstanceClass": copy_metadata["DBInstanceClass"],
        "DBSubnetGroupName": world["dr"]["dbSubnetGroup"],
        "VpcSecurityGroupIds": json.dumps([world["dr"]["dbSecurityGroupId"]]),
        "MultiAZ": "false",
    }
    metadata.update(overrides)
    return {k: v for k, v in metadata.items() if v is not None}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"AvailabilityZone": "us-east-1a"}, "us-east-1a"),
        ({"VpcSecurityGroupIds": "SOURCE"}, "InvalidGroup.NotFound"),
        ({"DBSubnetGroupName": "primary-db-subnets"}, "DBSubnetGroupNotFoundFault"),
        ({"KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/primary"}, "KMSKeyNotAccessibleFault"),
        ({"MultiAZ": "true", "AvailabilityZone": f"{DR}a"}, "Multi-AZ"),
    ],
)
def test_an_rds_restore_with_a_value_from_the_primary_region_fails(emulator, world, overrides, message):
    """A copied recovery point's metadata names the primary region's AZ, security groups and subnet
    group; RDS in the DR region refuses them and the restore job ends FAILED."""
    copy = protect(emulator, world, world["primary"]["db"]["arn"])
    source = dr_metadata(emulator, copy)
    if overrides.get("VpcSecurityGroupIds") == "SOURCE":
        overrides = {"VpcSecurityGroupIds": source["VpcSecurityGroupIds"]}
    job = restore(emulator, world, copy, _rds_request(world, source, **overrides))
    assert job["Status"] == "FAILED", job
    assert message in job["StatusMessage"], job["StatusMessage"]
    assert "CreatedResourceArn" not in job
    assert not emulator.client("rds", DR).describe_db_instances()["DBInstances"]


def test_an_rds_restore_into_the_dr_network_completes_and_the_instance_becomes_available_later(emulator, world):
    """RestoreDBInstanceFromDBSnapshot: the instance is `creating`, then `backing-up`, then `available`."""
    copy = protect(emulator, world, world["primary"]["db"]["arn"])
    job = restore(emulator, world, copy, _rds_request(world, dr_metadata(emulator, copy)))
    assert job["Status"] == "COMPLETED", job
    assert job["CreatedResourceArn"] == f"arn:aws:rds:{DR}:123456789012:db:orders"
    rds = emulator.client("rds", DR)
    seen = []
    from conftest import wait_for

    def status():
        current = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]["DBInstanceStatus"]
        if not seen or seen[-1] != current:
            seen.append(current)
        return current == "available"

    wait_for("the restored DB instance to be available", status, timeout=60)
    assert seen[:1] == ["creating"] and "backing-up" in seen and seen[-1] == "available", seen
    db = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == world["dr"]["dbSubnetGroup"]


def test_an_ebs_restore_into_a_primary_az_or_with_a_primary_key_fails(emulator, world):
    copy = protect(emulator, world, world["primary"]["volumes"]["app-data"]["arn"])
    zone = restore(emulator, world, copy, {"availabilityZone": "us-east-1a"})
    assert zone["Status"] == "FAILED" and "us-east-1a" in zone["StatusMessage"], zone
    key = restore(
        emulator,
        world,
        copy,
        {"availabilityZone": f"{DR}a", "encrypted": "true", "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/abc"},
    )
    assert key["Status"] == "FAILED" and "KMSKeyNotAccessibleFault" in key["StatusMessage"], key
    assert not [v for v in emulator.client("ec2", DR).describe_volumes()["Volumes"]]


def test_an_ebs_restore_uses_the_request_and_the_snapshot_size(emulator, world):
    copy = protect(emulator, world, world["primary"]["volumes"]["app-data"]["arn"])
    job = restore(emulator, world, copy, {"availabilityZone": f"{DR}b", "volumeType": "gp3"})
    assert job["Status"] == "COMPLETED", job
    volume_id = job["CreatedResourceArn"].rsplit("/", 1)[1]
    volume = emulator.client("ec2", DR).describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert (volume["AvailabilityZone"], volume["VolumeType"], volume["Size"]) == (f"{DR}b", "gp3", 50)


def test_an_efs_restore_in_place_needs_the_file_system_in_the_restore_region(emulator, world):
    copy = protect(emulator, world, world["primary"]["fileSystem"]["arn"])
    metadata = dr_metadata(emulator, copy)
    in_place = restore(emulator, world, copy, {**metadata, "newFileSystem": "false"})
    assert in_place["Status"] == "FAILED" and "FileSystemNotFound" in in_place["StatusMessage"], in_place
    new = restore(emulator, world, copy, {**metadata, "newFileSystem": "true", "CreationToken": "dr-media"})
    assert new["Status"] == "COMPLETED", new


def test_an_ec2_restore_with_the_source_placement_or_subnet_fails(emulator, world):
    """EC2 restore metadata carries `Placement` (JSON) and the source subnet and security groups."""
    source_instance = f"arn:aws:ec2:us-east-1:123456789012:instance/{world['primary']['appInstanceId']}"
    copy = protect(emulator, world, source_instance)
    metadata = dr_metadata(emulator, copy)
    assert json.loads(metadata["Placement"])["AvailabilityZone"].startswith("us-east-1"), metadata
    dr_subnet = world["dr"]["subnets"][0]
    dr_groups = json.dumps([world["dr"]["appSecurityGroupId"]])

    placement = restore(emulator, world, copy, {**metadata, "SubnetId": dr_subnet["id"], "SecurityGroupIds": dr_groups})
    assert placement["Status"] == "FAILED" and "us-east-1" in placement["StatusMessage"], placement
    subnet = restore(emulator, world, copy, {k: v for k, v in metadata.items() if k != "Placement"})
    assert subnet["Status"] == "FAILED" and "InvalidSubnetID.NotFound" in subnet["StatusMessage"], subnet
    good = {
        "InstanceType": metadata["InstanceType"],
        "SubnetId": dr_subnet["id"],
        "SecurityGroupIds": dr_groups,
        "Placement": json.dumps({"AvailabilityZone": dr_subnet["availabilityZone"]}),
    }
    done = restore(emulator, world, copy, good)
    assert done["Status"] == "COMPLETED", done


def test_a_copy_is_created_when_copied_but_keeps_the_initiation_date_of_its_backup(emulator, world):
    """RecoveryPointByBackupVault: CreationDate is when the recovery point was created (for a
    copy, by the copy job); InitiationDate is when the backup job that created it was initiated."""
    point = back_up(emulator, world, world["primary"]["volumes"]["app-data"]["arn"])
    # the backup was taken six hours before the copy
    emulator.control("POST", "recovery-points/backdate", {"recoveryPointArn": point, "seconds": 6 * 3600})
    copy = copy_to_dr(emulator, world, point)
    points = emulator.client("backup", DR).list_recovery_points_by_backup_vault(BackupVaultName="backstop-dr")
    listed = next(p for p in points["RecoveryPoints"] if p["RecoveryPointArn"] == copy)
    age_of_data = (listed["CreationDate"] - listed["InitiationDate"]).total_seconds()
    assert age_of_data >= 6 * 3600 - 60, listed


def test_listings_honour_created_after(emulator, world):
    """ListRestoreJobs and ListRecoveryPointsByBackupVault filter by ByCreatedAfter."""
    import datetime

    copy = protect(emulator, world, world["primary"]["volumes"]["app-data"]["arn"])
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    dr = emulator.client("backup", DR)
    assert dr.list_recovery_points_by_backup_vault(BackupVaultName="backstop-dr", ByCreatedAfter=later)["RecoveryPoints"] == []
    listed = dr.list_recovery_points_by_backup_vault(
        BackupVaultName="backstop-dr", ByCreatedAfter=later - datetime.timedelta(days=1)
    )["RecoveryPoints"]
    assert any(p["RecoveryPointArn"] == copy for p in listed)
    metadata = {**dr_metadata(emulator, copy), "availabilityZone": f"{DR}a"}
    restore(emulator, world, copy, metadata)
    assert dr.list_restore_jobs(ByCreatedAfter=later)["RestoreJobs"] == []
    assert dr.list_restore_jobs(ByCreatedAfter=later - datetime.timedelta(days=1))["RestoreJobs"]


def test_a_copy_is_encrypted_with_the_dr_vaults_key_and_does_not_restore_once_that_key_is_unusable(emulator, world):
    """AWS Backup re-encrypts a copy of an encrypted backup (EFS: always encrypted) with the
    destination vault's KMS key; a restore needs that key enabled in the restore region."""
    copy = protect(emulator, world, world["primary"]["fileSystem"]["arn"])
    listed = emulator.client("backup", DR).list_recovery_points_by_backup_vault(BackupVaultName="backstop-dr")
    point = next(p for p in listed["RecoveryPoints"] if p["RecoveryPointArn"] == copy)
    key = world["dr"]["backupVault"]["keyArn"]
    assert point["IsEncrypted"] is True and point["EncryptionKeyArn"] == key, point
    metadata = {**dr_metadata(emulator, copy), "newFileSystem": "true"}
    assert restore(emulator, world, copy, metadata)["Status"] == "COMPLETED"

    emulator.client("kms", DR).schedule_key_deletion(KeyId=key.rsplit("/", 1)[1], PendingWindowInDays=7)
    job = restore(emulator, world, copy, metadata)
    assert job["Status"] == "FAILED", job
    assert key in job["StatusMessage"] and "PendingDeletion" in job["StatusMessage"], job


def test_an_unencrypted_ebs_backup_stays_unencrypted_in_its_copy(emulator, world):
    copy = protect(emulator, world, world["primary"]["volumes"]["app-data"]["arn"])
    listed = emulator.client("backup", DR).list_recovery_points_by_backup_vault(BackupVaultName="backstop-dr")
    point = next(p for p in listed["RecoveryPoints"] if p["RecoveryPointArn"] == copy)
    assert point["IsEncrypted"] is False and "EncryptionKeyArn" not in point, point
