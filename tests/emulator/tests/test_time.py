"""Where AWS takes time, the emulator takes it too (scaled): nothing a handler waits for is ready at once."""

import time

from conftest import DR, TIME_SCALE, protect, wait_for


def _sequence(read, until, timeout=30):
    seen = []

    def check():
        value = read()
        if not seen or seen[-1] != value:
            seen.append(value)
        return value == until

    wait_for(f"{until}", check, timeout)
    return seen


def test_an_instance_is_pending_then_running_then_its_status_checks_pass(emulator, world):
    """RunInstances answers `pending`; status checks stay `initializing` for minutes after `running`."""
    ec2 = emulator.client("ec2", DR)
    launched = ec2.run_instances(ImageId=world["dr"]["goldenAmiId"], InstanceType="t3.micro", MinCount=1, MaxCount=1)
    instance_id = launched["Instances"][0]["InstanceId"]
    assert launched["Instances"][0]["State"]["Name"] == "pending"

    def state():
        return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]

    assert _sequence(state, "running") == ["pending", "running"]

    def status():
        statuses = ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"]
        return (statuses[0]["InstanceStatus"]["Status"], statuses[0]["SystemStatus"]["Status"])

    assert _sequence(status, ("ok", "ok")) == [("initializing", "initializing"), ("ok", "ok")]


def test_an_instance_terminated_while_pending_is_terminated(emulator, world):
    """EC2 terminates an instance in any state, `pending` included."""
    ec2 = emulator.client("ec2", DR)
    launched = ec2.run_instances(ImageId=world["dr"]["goldenAmiId"], InstanceType="t3.micro", MinCount=1, MaxCount=1)
    instance_id = launched["Instances"][0]["InstanceId"]
    answer = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"][0]
    assert answer["PreviousState"]["Name"] == "pending", answer
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] in ("shutting-down", "terminated"), described["State"]


def test_a_pending_instance_cannot_be_stopped_and_a_running_one_stops(emulator, world):
    """EC2 refuses StopInstances while an instance is `pending` (moto would answer and keep it running)."""
    import botocore.exceptions
    import pytest

    ec2 = emulator.client("ec2", DR)
    launched = ec2.run_instances(ImageId=world["dr"]["goldenAmiId"], InstanceType="t3.micro", MinCount=1, MaxCount=1)
    instance_id = launched["Instances"][0]["InstanceId"]
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ec2.stop_instances(InstanceIds=[instance_id])
    assert refused.value.response["Error"]["Code"] == "IncorrectInstanceState"

    def state():
        return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]

    wait_for("running", lambda: state() == "running", 30)
    ec2.stop_instances(InstanceIds=[instance_id])
    assert state() in ("stopping", "stopped")


def test_an_instance_started_again_is_pending_and_its_launch_time_is_the_start(emulator, world):
    """EC2's LaunchTime is an instance's last start (moto kept the first launch's)."""
    ec2 = emulator.client("ec2", DR)
    launched = ec2.run_instances(ImageId=world["dr"]["goldenAmiId"], InstanceType="t3.micro", MinCount=1, MaxCount=1)
    instance_id = launched["Instances"][0]["InstanceId"]

    def described():
        return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    wait_for("running", lambda: described()["State"]["Name"] == "running", 30)
    first = described()["LaunchTime"]
    ec2.stop_instances(InstanceIds=[instance_id])
    wait_for("stopped", lambda: described()["State"]["Name"] == "stopped", 30)
    assert described()["LaunchTime"] == first, "a stop keeps it"
    time.sleep(1.1)
    ec2.start_instances(InstanceIds=[instance_id])
    again = described()
    assert again["State"]["Name"] == "pending", again["State"]
    assert again["LaunchTime"] > first, (first, again["LaunchTime"])


def test_a_volume_is_attaching_before_it_is_attached_and_cannot_attach_to_a_pending_instance(emulator, world):
    ec2 = emulator.client("ec2", DR)
    zone = world["dr"]["subnets"][0]["availabilityZone"]
    instance_id = ec2.run_instances(
        ImageId=world["dr"]["goldenAmiId"], InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=world["dr"]["subnets"][0]["id"]
    )["Instances"][0]["InstanceId"]
    volume_id = ec2.create_volume(AvailabilityZone=zone, Size=10)["VolumeId"]
    try:
        ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
        raise AssertionError("attaching to a pending instance must fail")
    except ec2.exceptions.ClientError as err:
        assert err.response["Error"]["Code"] == "IncorrectState"

    def state():
        return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]

    wait_for("running", lambda: state() == "running")
    answer = ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    assert answer["State"] == "attaching"

    def attachment():
        return ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Attachments"][0]["State"]

    assert _sequence(attachment, "attached") == ["attaching", "attached"]


def test_a_route53_change_is_pending_until_it_propagates(emulator, world):
    """ChangeResourceRecordSets answers PENDING; GetChange says INSYNC once all servers have it."""
    route53 = emulator.client("route53", "us-east-1")
    change = route53.change_resource_record_sets(
        HostedZoneId=world["dns"]["hostedZoneId"],
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {"Name": "x.shop.example.com", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "10.1.0.9"}]}}]},
    )["ChangeInfo"]
    assert change["Status"] == "PENDING"

    def status():
        return route53.get_change(Id=change["Id"])["ChangeInfo"]["Status"]

    assert _sequence(status, "INSYNC") == ["PENDING", "INSYNC"]
    unknown = None
    try:
        route53.get_change(Id="/change/CNOTACHANGE")
    except route53.exceptions.ClientError as err:
        unknown = err.response["Error"]["Code"]
    assert unknown == "NoSuchChange"


def test_a_job_takes_its_kinds_time_growing_with_the_size_of_the_data(emulator, world):
    """Durations are configurable in AWS seconds and run at the time scale: a 50 GiB volume's
    backup takes longer than a 20 GiB one's at the same per-GiB rate."""
    emulator.control("POST", "durations", {"backup": {"EBS": {"base": 60, "perGiB": 6}}})
    backup = emulator.client("backup", "us-east-1")
    took = {}
    for name in ("app-data", "app-logs"):
        started = time.time()
        job = backup.start_backup_job(
            BackupVaultName="backstop-primary", ResourceArn=world["primary"]["volumes"][name]["arn"], IamRoleArn=world["backupRoleArn"]
        )
        wait_for("backup", lambda: backup.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] == "COMPLETED")
        took[name] = time.time() - started
    expected = {"app-data": (60 + 6 * 50) * TIME_SCALE, "app-logs": (60 + 6 * 20) * TIME_SCALE}
    for name, seconds in took.items():
        assert expected[name] * 0.9 <= seconds <= expected[name] + 1.0, (name, seconds, expected[name])


def test_the_default_durations_are_those_of_aws_in_minutes_not_instant(emulator, world):
    emulator.reset()
    durations = emulator.control("GET", "durations")
    assert durations["restore"]["RDS"]["base"] >= 600  # a DB restore takes many minutes
    assert durations["lifecycle"]["ec2.statusChecks"] >= 60
    assert protect  # the helpers above use configured quick jobs; the defaults stay AWS-like
