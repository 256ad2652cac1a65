"""What keeps DR copies from being deleted, as AWS Backup enforces it: a vault access policy
that denies backup:DeleteRecoveryPoint to everyone (an explicit Deny), and Vault Lock
(PutBackupVaultLockConfiguration: "preventing attempts to delete any recovery point stored in
or created in a backup vault"). The seeded DR vault has both; the primary vault neither."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import DR, PRIMARY, back_up, protect


def test_a_locked_vault_with_a_deny_policy_keeps_its_recovery_points(emulator, world):
    volume = world["primary"]["volumes"]["app-data"]["arn"]
    copy = protect(emulator, world, volume)
    dr = emulator.client("backup", DR)
    policy = json.loads(dr.get_backup_vault_access_policy(BackupVaultName="backstop-dr")["Policy"])
    assert policy["Statement"][0]["Effect"] == "Deny"
    assert dr.describe_backup_vault(BackupVaultName="backstop-dr")["Locked"] is True

    # the policy's explicit Deny refuses anyone
    with pytest.raises(ClientError) as refused:
        dr.delete_recovery_point(BackupVaultName="backstop-dr", RecoveryPointArn=copy)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    # without the policy, the lock still refuses
    dr.delete_backup_vault_access_policy(BackupVaultName="backstop-dr")
    with pytest.raises(ClientError) as refused:
        dr.delete_recovery_point(BackupVaultName="backstop-dr", RecoveryPointArn=copy)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert dr.describe_recovery_point(BackupVaultName="backstop-dr", RecoveryPointArn=copy)["Status"] == "COMPLETED"

    # an unprotected vault (the primary's) lets it go
    primary = emulator.client("backup", PRIMARY)
    point = back_up(emulator, world, volume)
    with pytest.raises(ClientError) as missing:
        primary.get_backup_vault_access_policy(BackupVaultName="backstop-primary")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    primary.delete_recovery_point(BackupVaultName="backstop-primary", RecoveryPointArn=point)
    with pytest.raises(ClientError) as gone:
        primary.describe_recovery_point(BackupVaultName="backstop-primary", RecoveryPointArn=point)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
