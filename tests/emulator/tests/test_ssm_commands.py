"""Systems Manager Run Command as AWS runs it (SSM API reference: SendCommand,
GetCommandInvocation, DescribeInstanceInformation; user guide "Understanding command
statuses"): only registered managed nodes take commands, the agent registers only with an
instance profile, commands really run and end Success / Failed / TimedOut, and a new invocation
is not visible at once."""

import time

import pytest
from botocore.exceptions import ClientError

from conftest import DR, TIME_SCALE


def launch(emulator, world, profile=True):
    ec2 = emulator.client("ec2", DR)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    # the seeded profile's role lets the agent register
    extra = {"IamInstanceProfile": {"Name": world["dr"]["instanceProfile"]}} if profile else {}
    return ec2.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=world["dr"]["subnets"][0]["id"], **extra
    )["Instances"][0]["InstanceId"]


def online(ssm, instance, seconds=30):
    until = time.time() + seconds
    while time.time() < until:
        nodes = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance]}])
        if [n["PingStatus"] for n in nodes["InstanceInformationList"]] == ["Online"]:
            return True
        time.sleep(0.05)
    return False


def finished(ssm, command, instance, seconds=30):
    until = time.time() + seconds
    while time.time() < until:
        try:
            answer = ssm.get_command_invocation(CommandId=command, InstanceId=instance)
        except ClientError as err:
            assert err.response["Error"]["Code"] == "InvocationDoesNotExist"
            time.sleep(0.02)
            continue
        if answer["Status"] not in ("Pending", "InProgress", "Delayed"):
            return answer
        time.sleep(0.05)
    raise AssertionError("the command did not finish")


def run(ssm, instance, commands, **parameters):
    return ssm.send_command(
        InstanceIds=[instance],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": commands, **parameters},
        Comment="test",
    )["Command"]["CommandId"]


def test_only_a_registered_node_takes_a_command_and_its_script_really_runs(emulator, world):
    ssm = emulator.client("ssm", DR)
    without_profile = launch(emulator, world, profile=False)
    instance = launch(emulator, world)

    # not registered yet (the agent starts after boot): refused, nothing queued
    with pytest.raises(ClientError) as refused:
        run(ssm, instance, ["echo hi"])
    assert refused.value.response["Error"]["Code"] == "InvalidInstanceId"
    assert online(ssm, instance)
    # without an instance profile the agent never registers
    time.sleep((30 + 60) * TIME_SCALE)
    assert ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [without_profile]}])[
        "InstanceInformationList"
    ] == []
    with pytest.raises(ClientError) as refused:
        run(ssm, without_profile, ["echo hi"])
    assert refused.value.response["Error"]["Code"] == "InvalidInstanceId"

    command = run(ssm, instance, ["echo \"db at $1orders.example\"", "cat missing-file"])
    answer = finished(ssm, command, instance)
    assert answer["Status"] == "Failed" and answer["ResponseCode"] == 1
    assert "orders.example" in answer["StandardOutputContent"]
    assert "missing-file" in answer["StandardErrorContent"]

    command = run(ssm, instance, ["echo one", "echo two"])
    answer = finished(ssm, command, instance)
    assert (answer["Status"], answer["ResponseCode"], answer["StandardOutputContent"]) == ("Success", 0, "one\ntwo\n")
    listed = ssm.list_commands(InstanceId=instance)["Commands"]
    assert [c["CommandId"] for c in listed][0] == command and listed[0]["Comment"] == "test"


def test_a_command_past_its_execution_timeout_times_out_and_a_cancelled_one_stops(emulator, world):
    ssm = emulator.client("ssm", DR)
    instance = launch(emulator, world)
    assert online(ssm, instance)
    # executionTimeout 60 AWS seconds: 0.6 s here
    command = run(ssm, instance, ["sleep 30"], executionTimeout=["60"])
    answer = finished(ssm, command, instance)
    assert (answer["Status"], answer["StatusDetails"]) == ("TimedOut", "ExecutionTimedOut")

    command = run(ssm, instance, ["sleep 30"])
    time.sleep(0.2)
    ssm.cancel_command(CommandId=command)
    assert finished(ssm, command, instance)["Status"] == "Cancelled"


def test_send_command_refuses_what_aws_refuses(emulator, world):
    ssm = emulator.client("ssm", DR)
    instance = launch(emulator, world)
    assert online(ssm, instance)
    cases = [
        ({"DocumentName": "no-such-document", "Parameters": {"commands": ["true"]}}, "InvalidDocument"),
        ({"DocumentName": "AWS-RunShellScript", "Parameters": {"command": ["true"]}}, "InvalidParameters"),
        ({"DocumentName": "AWS-RunShellScript", "Parameters": {}}, "InvalidParameters"),
        ({"DocumentName": "AWS-RunShellScript", "Parameters": {"commands": ["true"], "executionTimeout": ["0"]}}, "InvalidParameters"),
        ({"DocumentName": "AWS-RunShellScript", "Parameters": {"commands": ["true"]}, "Comment": "x" * 101}, "ValidationException"),
    ]
    for request, code in cases:
        with pytest.raises(ClientError) as refused:
            ssm.send_command(InstanceIds=[instance], **request)
        assert refused.value.response["Error"]["Code"] == code, request
    assert ssm.list_commands(InstanceId=instance)["Commands"] == []
    # AWS's own document is there to describe, owned by Amazon
    described = ssm.describe_document(Name="AWS-RunShellScript")["Document"]
    assert {p["Name"] for p in described["Parameters"]} >= {"commands", "executionTimeout"}
