"""A logically air-gapped vault of the production account, shared with the recovery account
through AWS RAM: invisible to the recovery account until shared, then listed, described and
restored from there into the recovery account; no one deletes its recovery points."""

import pytest
from botocore.exceptions import ClientError

from conftest import DR, PRIMARY, finished
from test_cross_account_copy import PRODUCTION, production_client


def air_gapped_copy(emulator, seeded):
    """The production account's volume backed up, then copied into its own air-gapped vault in
    the DR region; returns (vault ARN, the copy's ARN)."""
    dr_backup = production_client(emulator, seeded, "backup", DR)
    vault = dr_backup.create_logically_air_gapped_backup_vault(
        BackupVaultName="air-gapped", MinRetentionDays=7, MaxRetentionDays=35
    )
    assert vault["VaultState"] == "AVAILABLE"
    backup = production_client(emulator, seeded, "backup")
    job = backup.start_backup_job(
        BackupVaultName="production", ResourceArn=seeded["volumeArn"], IamRoleArn=seeded["backupRoleArn"]
    )
    point = finished(lambda: backup.describe_backup_job(BackupJobId=job["BackupJobId"]), "State")
    assert point["State"] == "COMPLETED", point
    started = backup.start_copy_job(
        RecoveryPointArn=point["RecoveryPointArn"],
        SourceBackupVaultName="production",
        DestinationBackupVaultArn=vault["BackupVaultArn"],
        IamRoleArn=seeded["backupRoleArn"],
    )
    copied = finished(lambda: backup.describe_copy_job(CopyJobId=started["CopyJobId"])["CopyJob"], "State")
    assert copied["State"] == "COMPLETED", copied
    return vault["BackupVaultArn"], copied["DestinationRecoveryPointArn"]


def snapshots(emulator):
    return sorted(s["SnapshotId"] for s in emulator.client("ec2", DR).describe_snapshots(OwnerIds=["self"])["Snapshots"])


def test_a_shared_air_gapped_vault_is_restored_from_in_the_recovery_account(emulator, world):
    seeded = emulator.control("POST", "seed/production-account", {"account": PRODUCTION, "primaryRegion": PRIMARY})
    vault_arn, copy = air_gapped_copy(emulator, seeded)
    # kept in AWS Backup's storage, under an AWS owned key, locked in compliance mode
    assert copy.startswith(f"arn:aws:backup:{DR}:{PRODUCTION}:recovery-point:"), copy
    owner = production_client(emulator, seeded, "backup", DR)
    described = owner.describe_backup_vault(BackupVaultName="air-gapped")
    assert described["VaultType"] == "LOGICALLY_AIR_GAPPED_BACKUP_VAULT"
    assert described["Locked"] and described["MinRetentionDays"] == 7 and described["NumberOfRecoveryPoints"] == 1
    assert described["EncryptionKeyType"] == "AWS_OWNED_KMS_KEY"
    with pytest.raises(ClientError):
        owner.delete_recovery_point(BackupVaultName="air-gapped", RecoveryPointArn=copy)

    recovery = emulator.client("backup", DR)
    # not shared yet: the recovery account sees nothing and restores nothing
    for call in (
        lambda: recovery.describe_backup_vault(BackupVaultName="air-gapped", BackupVaultAccountId=PRODUCTION),
        lambda: recovery.list_recovery_points_by_backup_vault(BackupVaultName="air-gapped", BackupVaultAccountId=PRODUCTION),
    ):
        with pytest.raises(ClientError) as denied:
            call()
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException", denied.value.response
    metadata = {"availabilityZone": f"{DR}a", "volumeType": "gp3", "encrypted": "false"}
    with pytest.raises(ClientError):
        recovery.start_restore_job(RecoveryPointArn=copy, Metadata=metadata, IamRoleArn=world["backupRoleArn"])

    production_client(emulator, seeded, "ram", DR).create_resource_share(
        name="backstop-recovery", resourceArns=[vault_arn], principals=[world["account"]]
    )
    shared = recovery.describe_backup_vault(BackupVaultName="air-gapped", BackupVaultAccountId=PRODUCTION)
    assert shared["BackupVaultArn"] == vault_arn and shared["VaultType"] == "LOGICALLY_AIR_GAPPED_BACKUP_VAULT"
    listed = recovery.list_recovery_points_by_backup_vault(
        BackupVaultName="air-gapped", BackupVaultAccountId=PRODUCTION, ByResourceArn=seeded["volumeArn"]
    )["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in listed] == [copy]
    assert listed[0]["VaultType"] == "LOGICALLY_AIR_GAPPED_BACKUP_VAULT" and "EncryptionKeyArn" not in listed[0]
    restore_metadata = recovery.get_recovery_point_restore_metadata(
        BackupVaultName="air-gapped", RecoveryPointArn=copy, BackupVaultAccountId=PRODUCTION
    )["RestoreMetadata"]
    metadata = {**restore_metadata, **metadata}
    before = snapshots(emulator)
    job = recovery.start_restore_job(RecoveryPointArn=copy, Metadata=metadata, IamRoleArn=world["backupRoleArn"])
    restored = finished(lambda: recovery.describe_restore_job(RestoreJobId=job["RestoreJobId"]), "Status")
    assert restored["Status"] == "COMPLETED", restored
    assert f":{world['account']}:volume/" in restored["CreatedResourceArn"]
    volume_id = restored["CreatedResourceArn"].rsplit("/", 1)[1]
    assert emulator.client("ec2", DR).describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Size"] == 20
    # the data came through AWS Backup: no snapshot of the recovery account is left from it
    assert snapshots(emulator) == before
    # shared is not owned: the recovery account cannot delete the production account's copy
    with pytest.raises(ClientError):
        recovery.delete_recovery_point(BackupVaultName="air-gapped", RecoveryPointArn=copy)


def test_an_air_gapped_vault_needs_its_retention_and_a_standard_vault_cannot_be_read_across_accounts(emulator, world):
    seeded = emulator.control("POST", "seed/production-account", {"account": PRODUCTION, "primaryRegion": PRIMARY})
    owner = production_client(emulator, seeded, "backup", DR)
    with pytest.raises(ClientError) as refused:
        owner.create_logically_air_gapped_backup_vault(BackupVaultName="bad", MinRetentionDays=30, MaxRetentionDays=7)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    # a standard vault, even named in a RAM share, is not readable by another account
    standard = owner.create_backup_vault(BackupVaultName="standard")["BackupVaultArn"]
    production_client(emulator, seeded, "ram", DR).create_resource_share(
        name="standard", resourceArns=[standard], principals=[world["account"]]
    )
    with pytest.raises(ClientError) as denied:
        emulator.client("backup", DR).describe_backup_vault(BackupVaultName="standard", BackupVaultAccountId=PRODUCTION)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
