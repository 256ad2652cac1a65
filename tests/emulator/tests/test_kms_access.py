"""Another account's KMS key is usable only as its key policy allows, as AWS evaluates it: the
recovery account cannot describe, restore with or copy under a production key until the
production account's key policy names it, and then it can."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import DR, PRIMARY, dr_metadata, finished, protect, restore
from test_cross_account_copy import PRODUCTION, allow_copies_from, copy_into_recovery_vault, production_client


def share_with(kms, key_arn, account):
    """What Backstop's preflight tells the key's owner to add (its kms-key fix)."""
    policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    policy["Statement"].append(
        {
            "Sid": "RecoveryAccountRestores",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            "Resource": "*",
        }
    )
    kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))


def test_a_restore_with_a_production_key_needs_the_keys_policy_to_allow_the_recovery_account(emulator, world):
    seeded = emulator.control("POST", "seed/production-account", {"account": PRODUCTION, "primaryRegion": PRIMARY})
    key = seeded["drKeyArn"]
    kms = emulator.client("kms", DR)
    with pytest.raises(ClientError) as denied:
        kms.describe_key(KeyId=key)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "kms:DescribeKey" in denied.value.response["Error"]["Message"]

    copy = protect(emulator, world, world["primary"]["volumes"]["app-data"]["arn"])
    metadata = dr_metadata(emulator, copy)
    metadata.update({"availabilityZone": f"{DR}a", "encrypted": "true", "kmsKeyId": key})
    failed = restore(emulator, world, copy, metadata)
    assert failed["Status"] == "FAILED", failed
    assert "KMSKeyNotAccessibleFault" in failed["StatusMessage"], failed
    assert f"does not allow account {world['account']}" in failed["StatusMessage"], failed

    # a statement with a condition the emulator cannot evaluate is not taken as met
    production_kms = production_client(emulator, seeded, "kms", DR)
    conditional = json.loads(production_kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    conditional["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": world["account"]},
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{DR}.amazonaws.com"}},
        }
    )
    production_kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(conditional))
    with pytest.raises(ClientError):
        kms.describe_key(KeyId=key)

    share_with(production_kms, key, world["account"])
    described = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert described["Arn"] == key and described["KeyState"] == "Enabled"
    restored = restore(emulator, world, copy, metadata)
    assert restored["Status"] == "COMPLETED", restored
    volume_id = restored["CreatedResourceArn"].rsplit("/", 1)[1]
    volume = emulator.client("ec2", DR).describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert volume["Encrypted"] and volume["KmsKeyId"] == key

    # an explicit Deny wins over the Allow
    policy = json.loads(production_kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    policy["Statement"].append(
        {"Effect": "Deny", "Principal": {"AWS": world["account"]}, "Action": "kms:Decrypt", "Resource": "*"}
    )
    production_kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    denied_again = restore(emulator, world, copy, metadata)
    assert denied_again["Status"] == "FAILED" and "kms:Decrypt" in denied_again["StatusMessage"], denied_again


def test_a_cross_account_copy_of_an_encrypted_volume_needs_the_source_key_shared(emulator, world):
    seeded = emulator.control("POST", "seed/production-account", {"account": PRODUCTION, "primaryRegion": PRIMARY})
    production_kms = production_client(emulator, seeded, "kms")
    key = production_kms.create_key(Description="production volumes")["KeyMetadata"]["Arn"]
    ec2 = production_client(emulator, seeded, "ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{PRIMARY}a", Size=10, Encrypted=True, KmsKeyId=key)["VolumeId"]
    backup = production_client(emulator, seeded, "backup")
    job = backup.start_backup_job(
        BackupVaultName="production",
        ResourceArn=f"arn:aws:ec2:{PRIMARY}:{PRODUCTION}:volume/{volume}",
        IamRoleArn=seeded["backupRoleArn"],
    )
    point = finished(lambda: backup.describe_backup_job(BackupJobId=job["BackupJobId"]), "State")
    assert point["State"] == "COMPLETED", point
    allow_copies_from(emulator, PRODUCTION)

    def copy():
        return copy_into_recovery_vault(backup, seeded, world, point["RecoveryPointArn"])

    unshared = copy()
    assert unshared["State"] == "FAILED", unshared
    assert key in unshared["StatusMessage"] and world["account"] in unshared["StatusMessage"], unshared

    share_with(production_kms, key, world["account"])
    shared = copy()
    assert shared["State"] == "COMPLETED", shared
    # the copy is encrypted under the recovery vault's key, which the recovery account owns
    listed = emulator.client("backup", DR).describe_recovery_point(
        BackupVaultName="backstop-dr", RecoveryPointArn=shared["DestinationRecoveryPointArn"]
    )
    assert listed["EncryptionKeyArn"] == world["dr"]["backupVault"]["keyArn"], listed
