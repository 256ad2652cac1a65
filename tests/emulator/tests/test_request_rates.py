"""EC2's request rate limits (EC2 developer guide, "Request throttling for the Amazon EC2 API"):
each API action has its own token bucket per account and Region; a call that finds its
action's bucket empty is answered RequestLimitExceeded while other actions still answer; the
bucket refills at a set rate. Only the handlers' calls (the Rust SDK) take tokens."""

import time
import urllib.error

import botocore.exceptions
import pytest

from conftest import DR, TIME_SCALE


def test_an_actions_empty_bucket_refuses_it_alone_until_it_refills(emulator, world):
    # small buckets, so the test sees them empty: 3 CreateTags, 2 DescribeVolumes, one token
    # back every 100 AWS seconds (1 real second at the suite's scale)
    refill = 0.01
    limits = emulator.control(
        "POST",
        "rates",
        {"mutating": {"capacity": 3, "refillPerSecond": refill}, "nonMutating": {"capacity": 2, "refillPerSecond": refill}},
    )
    assert limits["limits"]["mutating"] == {"capacity": 3, "refillPerSecond": refill}
    setup = emulator.client("ec2", DR)
    zone = world["dr"]["subnets"][0]["availabilityZone"]
    volume = setup.create_volume(AvailabilityZone=zone, Size=8)["VolumeId"]
    handler = emulator.client("ec2", DR, user_agent_extra="aws-sdk-rust/1.3 (a Backstop handler)")

    def tag() -> None:
        handler.create_tags(Resources=[volume], Tags=[{"Key": "backstop:run-id", "Value": "drill-1"}])

    for _ in range(3):
        tag()
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        tag()
    assert refused.value.response["Error"]["Code"] == "RequestLimitExceeded"
    # other actions have their own buckets
    handler.delete_tags(Resources=[volume], Tags=[{"Key": "other"}])
    handler.describe_volumes(VolumeIds=[volume])
    handler.describe_volumes(VolumeIds=[volume])
    with pytest.raises(botocore.exceptions.ClientError) as described:
        handler.describe_volumes(VolumeIds=[volume])
    assert described.value.response["Error"]["Code"] == "RequestLimitExceeded"
    # the test's own calls stand outside the run: they take no token
    setup.create_tags(Resources=[volume], Tags=[{"Key": "owner", "Value": "sre"}])
    # another Region has its own buckets
    emulator.client("ec2", "us-east-1", user_agent_extra="aws-sdk-rust/1.3").describe_volumes()

    time.sleep(1.2 * TIME_SCALE / refill)  # one token back: 100 AWS seconds
    tag()
    with pytest.raises(botocore.exceptions.ClientError):
        tag()
    assert emulator.control("GET", "rates")["refused"] == {"CreateTags": 2, "DescribeVolumes": 1}


def test_the_default_buckets_are_ec2s(emulator, world):
    limits = emulator.control("GET", "rates")["limits"]
    assert limits == {
        "nonMutating": {"capacity": 100, "refillPerSecond": 20},
        "mutating": {"capacity": 200, "refillPerSecond": 5},
        "actions": {},
    }
    with pytest.raises(urllib.error.HTTPError, match="400"):
        emulator.control("POST", "rates", {"mutatingg": {"capacity": 1}})


def test_one_action_can_have_its_own_bucket_and_then_its_categorys_again(emulator, world):
    one = {"capacity": 1, "refillPerSecond": 0.001}
    set_ = emulator.control("POST", "rates", {"actions": {"DeleteTags": one}})
    assert set_["limits"]["actions"] == {"DeleteTags": one}
    setup = emulator.client("ec2", DR)
    volume = setup.create_volume(AvailabilityZone=world["dr"]["subnets"][0]["availabilityZone"], Size=8)["VolumeId"]
    handler = emulator.client("ec2", DR, user_agent_extra="aws-sdk-rust/1.3")

    def untag() -> None:
        handler.delete_tags(Resources=[volume], Tags=[{"Key": "k"}])

    untag()
    with pytest.raises(botocore.exceptions.ClientError):
        untag()
    handler.create_tags(Resources=[volume], Tags=[{"Key": "k", "Value": "v"}])  # its own, full bucket
    emulator.control("POST", "rates", {"actions": {"DeleteTags": None}})
    untag()
