"""What the emulator remembers to serve load faster must not change what a reset does: every
account's resources are gone after it, including an account first used since the last reset
(the emulator finds an account's backend without moto's lock once moto has created it)."""

from conftest import DR

OTHER_ACCOUNT = "111122223333"


def _in_account(client, account: str):  # type: ignore[no-untyped-def]
    def header(request, **_):  # type: ignore[no-untyped-def]
        request.headers["x-moto-account-id"] = account

    client.meta.events.register("before-sign.*.*", header)
    return client


def test_a_reset_empties_an_account_first_used_after_the_last_reset(emulator, world):
    ec2 = _in_account(emulator.client("ec2", DR), OTHER_ACCOUNT)
    zone = world["dr"]["subnets"][0]["availabilityZone"]
    for _ in range(2):
        made = ec2.create_volume(AvailabilityZone=zone, Size=8)["VolumeId"]
        assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [made]
        emulator.reset()
        assert ec2.describe_volumes()["Volumes"] == []
    # the default account's seeded world is gone too
    assert emulator.client("ec2", DR).describe_volumes()["Volumes"] == []


def test_every_reset_empties_what_was_made_since_the_last_one(emulator, world):
    # the calls of a test that left volumes behind for the next (a reset re-created a backend's
    # key while resetting another backend; the emulator then never registered that dict again)
    ec2 = emulator.client("ec2", DR)
    zone = world["dr"]["subnets"][0]["availabilityZone"]
    tagged = [{"ResourceType": "volume", "Tags": [{"Key": "backstop:run-id", "Value": "drill-1"}]}]
    first = ec2.create_volume(AvailabilityZone=zone, Size=8, TagSpecifications=tagged)["VolumeId"]
    list(ec2.get_paginator("describe_volumes").paginate(Filters=[{"Name": "tag:backstop:run-id", "Values": ["drill-1"]}]))
    ec2.delete_tags(Resources=[first], Tags=[{"Key": "backstop:run-id"}])
    ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [first]}])
    for _ in range(2):
        emulator.reset()
        emulator.control("POST", "seed", {"primaryRegion": "us-east-1", "drRegion": DR})
        ec2.create_volume(AvailabilityZone=zone, Size=8, TagSpecifications=tagged)
    emulator.reset()
    assert ec2.describe_volumes()["Volumes"] == []
