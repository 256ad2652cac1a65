"""Storage Gateway volumes, as AWS Backup protects them (developer guide, "Restore a Storage
Gateway volume"): the recovery point is an EBS snapshot; its copy in another region restores
to a gateway there (gatewayArn, targetName) or as an EBS volume (volume type, size, AZ)."""

import pytest
from botocore.exceptions import ClientError

from conftest import DR, PRIMARY, finished, protect


def start(emulator, world, copy, metadata, **extra):
    backup = emulator.client("backup", DR)
    job = backup.start_restore_job(RecoveryPointArn=copy, Metadata=metadata, IamRoleArn=world["backupRoleArn"], **extra)
    return finished(lambda: backup.describe_restore_job(RestoreJobId=job["RestoreJobId"]), "Status")


def test_a_gateway_volumes_dr_copy_restores_as_an_ebs_volume_but_not_to_a_missing_gateway(emulator, world):
    volume = world["primary"]["gatewayVolume"]
    copy = protect(emulator, world, volume["arn"])
    assert copy.startswith(f"arn:aws:ec2:{DR}::snapshot/snap-"), copy
    listed = emulator.client("backup", DR).list_recovery_points_by_backup_vault(BackupVaultName="backstop-dr")["RecoveryPoints"]
    point = next(p for p in listed if p["RecoveryPointArn"] == copy)
    assert point["ResourceType"] == "Storage Gateway" and point["ResourceArn"] == volume["arn"], point
    metadata = emulator.client("backup", DR).get_recovery_point_restore_metadata(
        BackupVaultName="backstop-dr", RecoveryPointArn=copy
    )["RestoreMetadata"]
    assert metadata["gatewayArn"].startswith(f"arn:aws:storagegateway:{PRIMARY}:"), metadata

    # to a gateway: the primary region's gateway is not in the DR region
    failed = start(emulator, world, copy, metadata)
    assert failed["Status"] == "FAILED" and "gateway was not found" in failed["StatusMessage"], failed

    # as an EBS volume smaller than the gateway volume: refused
    with pytest.raises(ClientError) as refused:
        emulator.client("backup", DR).start_restore_job(
            RecoveryPointArn=copy, IamRoleArn=world["backupRoleArn"], ResourceType="EBS",
            Metadata={"availabilityZone": f"{DR}a", "volumeType": "gp3", "volumeSize": "100"},
        )
    assert "volumeSize" in str(refused.value)

    restored = start(
        emulator, world, copy, {"availabilityZone": f"{DR}b", "volumeType": "gp3", "volumeSize": str(volume["size"])},
        ResourceType="EBS",
    )
    assert restored["Status"] == "COMPLETED", restored
    assert restored["ResourceType"] == "EBS"
    volume_id = restored["CreatedResourceArn"].rsplit("/", 1)[1]
    ebs = emulator.client("ec2", DR).describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert (ebs["Size"], ebs["AvailabilityZone"], ebs["VolumeType"]) == (volume["size"], f"{DR}b", "gp3")
