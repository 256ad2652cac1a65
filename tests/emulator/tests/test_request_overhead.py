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
