"""Copies from a production account into the recovery account's vault, as AWS Backup makes
them (Creating backup copies across AWS accounts): each account acts with its own credentials;
the copy lands only when the destination vault's access policy allows the source account
`backup:CopyIntoBackupVault`; the recovery account restores the copy in its own account."""

import json

import boto3
from botocore.config import Config

from conftest import DR, PRIMARY, dr_metadata, finished, restore

PRODUCTION = "210987654321"


def production_client(emulator, seeded, service, region=PRIMARY):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=emulator.endpoint,
        aws_access_key_id=seeded["accessKeyId"],
        aws_secret_access_key=seeded["secretAccessKey"],
        config=Config(retries={"total_max_attempts": 1}),
    )


def copy_into_recovery_vault(backup, seeded, world, recovery_point):
    """The production account copies its recovery point into the recovery vault; the copy job
    as it ended."""
    started = backup.start_copy_job(
        RecoveryPointArn=recovery_point,
        SourceBackupVaultName="production",
        DestinationBackupVaultArn=world["dr"]["backupVault"]["arn"],
        IamRoleArn=seeded["backupRoleArn"],
    )
    return finished(lambda: backup.describe_copy_job(CopyJobId=started["CopyJobId"])["CopyJob"], "State")


def allow_copies_from(emulator, account):
    """The recovery vault's policy: keep every recovery point, take copies from `account`."""
    dr = emulator.client("backup", DR)
    policy = json.loads(dr.get_backup_vault_access_policy(BackupVaultName="backstop-dr")["Policy"])
    policy["Statement"].append(
        {
            "Sid": "CopiesFromProduction",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "backup:CopyIntoBackupVault",
            "Resource": "*",
        }
    )
    dr.put_backup_vault_access_policy(BackupVaultName="backstop-dr", Policy=json.dumps(policy))


def test_a_production_accounts_copy_lands_in_the_recovery_vault_only_when_its_policy_allows(emulator, world):
    seeded = emulator.control("POST", "seed/production-account", {"account": PRODUCTION, "primaryRegion": PRIMARY})
    backup = production_client(emulator, seeded, "backup")
    # the production account's credentials act in the production account
    assert production_client(emulator, seeded, "sts").get_caller_identity()["Account"] == PRODUCTION
    volumes = production_client(emulator, seeded, "ec2").describe_volumes()["Volumes"]
    assert [v["VolumeId"] for v in volumes] == [seeded["volumeArn"].rsplit("/", 1)[1]]

    # the recovery account cannot back up the production account's volume itself
    refused = emulator.client("backup", PRIMARY)
    try:
        refused.start_backup_job(
            BackupVaultName="backstop-primary", ResourceArn=seeded["volumeArn"], IamRoleArn=world["backupRoleArn"]
        )
        raise AssertionError("a backup of another account's resource was accepted")
    except refused.exceptions.InvalidParameterValueException:
        pass

    job = backup.start_backup_job(
        BackupVaultName="production", ResourceArn=seeded["volumeArn"], IamRoleArn=seeded["backupRoleArn"]
    )
    point = finished(lambda: backup.describe_backup_job(BackupJobId=job["BackupJobId"]), "State")
    assert point["State"] == "COMPLETED", point

    def copy():
        return copy_into_recovery_vault(backup, seeded, world, point["RecoveryPointArn"])

    # the seeded recovery vault denies deletion and allows nothing else: the copy fails
    denied = copy()
    assert denied["State"] == "FAILED", denied
    assert "CopyIntoBackupVault" in denied["StatusMessage"] and PRODUCTION in denied["StatusMessage"]

    allow_copies_from(emulator, PRODUCTION)
    copied = copy()
    assert copied["State"] == "COMPLETED", copied
    arn = copied["DestinationRecoveryPointArn"]

    # the copy is the recovery account's: listed in its vault for the production resource, and
    # restored there into a volume of the recovery account
    listed = emulator.client("backup", DR).list_recovery_points_by_backup_vault(
        BackupVaultName="backstop-dr", ByResourceArn=seeded["volumeArn"]
    )["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in listed] == [arn]
    assert listed[0]["SourceBackupVaultArn"] == seeded["backupVault"]["arn"]
    metadata = dr_metadata(emulator, arn)
    metadata["availabilityZone"] = f"{DR}a"
    restored = restore(emulator, world, arn, metadata)
    assert restored["Status"] == "COMPLETED", restored
    volume_id = restored["CreatedResourceArn"].rsplit("/", 1)[1]
    assert f":{world['account']}:" in restored["CreatedResourceArn"]
    assert emulator.client("ec2", DR).describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Size"] == 20
    # and the production account does not see it
    assert production_client(emulator, seeded, "ec2", DR).describe_volumes()["Volumes"] == []


def allow_production_events(events, bus_arn, source):
    """The recovery bus's policy: the production account may put events of `source` on it."""
    statement = {
        "Sid": "production",
        "Effect": "Allow",
        "Principal": {"AWS": PRODUCTION},
        "Action": "events:PutEvents",
        "Resource": bus_arn,
        "Condition": {"StringEquals": {"events:source": source}},
    }
    events.put_permission(Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def test_a_production_accounts_job_events_reach_the_recovery_bus_only_when_its_policy_allows(emulator, world):
    """EventBridge cross-account delivery: the event keeps its region and resources; a bus whose
    policy does not allow the sending account drops it."""
    seeded = emulator.control("POST", "seed/production-account", {"account": PRODUCTION, "primaryRegion": PRIMARY})
    recovery_bus = f"arn:aws:events:{DR}:{world['account']}:event-bus/default"
    # in the recovery account: a queue that sees every aws.backup event on the default bus
    sqs = emulator.client("sqs", DR)
    queue = sqs.create_queue(QueueName="seen")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = emulator.client("events", DR)
    events.put_rule(Name="seen", EventPattern=json.dumps({"source": ["aws.backup"]}))
    events.put_targets(Rule="seen", Targets=[{"Id": "q", "Arn": queue_arn}])
    # in the production account's primary region: forward job events to the recovery bus
    forwarding = production_client(emulator, seeded, "events")
    forwarding.put_rule(Name="forward", EventPattern=json.dumps({"source": ["aws.backup"]}))
    forwarding.put_targets(Rule="forward", Targets=[{"Id": "dr", "Arn": recovery_bus}])
    backup = production_client(emulator, seeded, "backup")

    def back_up_in_production():
        job = backup.start_backup_job(
            BackupVaultName="production", ResourceArn=seeded["volumeArn"], IamRoleArn=seeded["backupRoleArn"]
        )
        finished(lambda: backup.describe_backup_job(BackupJobId=job["BackupJobId"]), "State")
        return job["BackupJobId"]

    def seen():
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    back_up_in_production()
    assert seen() == [], "the recovery bus's policy allows no other account yet"

    # a policy for another source lets nothing of AWS Backup's through
    allow_production_events(events, recovery_bus, "aws.cloudwatch")
    back_up_in_production()
    assert seen() == [], "only aws.cloudwatch events are allowed"

    allow_production_events(events, recovery_bus, "aws.backup")
    job_id = back_up_in_production()
    delivered = [e for e in seen() if e["detail"].get("backupJobId") == job_id]
    assert delivered, "the production account's job events arrive"
    # the event is the production account's, from its region (moto's SQS delivery leaves out
    # `account`; a Lambda target gets it, as tests/e2e/recovery_account.rs checks)
    assert {e["region"] for e in delivered} == {PRIMARY}
    assert all(e["resources"] and e["detail"]["resourceArn"] == seeded["volumeArn"] for e in delivered), delivered
