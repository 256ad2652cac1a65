"""EBS fast snapshot restore as the EBS user guide describes it ("Amazon EBS fast snapshot restore",
"Volume creation credits"; EC2 API reference, EnableFastSnapshotRestores): per snapshot and AZ,
enabling -> optimizing (60 minutes per TiB) -> enabled, a credit bucket that starts empty, at most
5 snapshots per Region, problems listed in Unsuccessful."""

import time

from conftest import DR, TIME_SCALE, protect, restore, wait_for

FSR_STATES = ("enabling", "optimizing", "enabled", "disabling", "disabled")


def _snapshot_of(copy_arn: str) -> str:
    return copy_arn.rsplit("/", 1)[1]


def _state(ec2, snapshot_id: str, zone: str) -> str | None:
    found = ec2.describe_fast_snapshot_restores(
        Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}, {"Name": "availability-zone", "Values": [zone]}]
    )["FastSnapshotRestores"]
    return found[0]["State"] if found else None


def test_a_volume_restored_after_fsr_is_enabled_is_fast_restored_and_one_before_is_not(emulator, world):
    ec2 = emulator.client("ec2", DR)
    copy = protect(emulator, world, world["primary"]["volumes"]["app-data"]["arn"])
    snapshot_id, zone = _snapshot_of(copy), f"{DR}a"

    lazy = restore(emulator, world, copy, {"availabilityZone": zone})
    lazy_volume = ec2.describe_volumes(VolumeIds=[lazy["CreatedResourceArn"].rsplit("/", 1)[1]])["Volumes"][0]
    assert lazy_volume["FastRestored"] is False

    enabled = ec2.enable_fast_snapshot_restores(AvailabilityZones=[zone], SourceSnapshotIds=[snapshot_id])
    enabled_at = time.time()
    assert enabled["Unsuccessful"] == []
    assert [(e["SnapshotId"], e["AvailabilityZone"], e["State"]) for e in enabled["Successful"]] == [
        (snapshot_id, zone, "enabling")
    ]
    # enabling it again answers with its state, not a second FSR
    again = ec2.enable_fast_snapshot_restores(AvailabilityZones=[zone], SourceSnapshotIds=[snapshot_id])
    assert again["Successful"][0]["State"] in ("enabling", "optimizing")
    seen = set()
    wait_for("FSR to be enabled", lambda: seen.add(_state(ec2, snapshot_id, zone)) or "enabled" in seen, timeout=60)
    assert "optimizing" in seen, seen
    # 50 GiB: enabling (1 AWS minute) and optimizing (60 minutes per TiB: about 3) take 4 minutes;
    # the credit bucket, empty at first, has its first credit after 6 (10 credits an hour)
    time.sleep(max(0.0, enabled_at + 6.5 * 60 * TIME_SCALE - time.time()))

    fast = restore(emulator, world, copy, {"availabilityZone": zone})
    fast_volume = ec2.describe_volumes(VolumeIds=[fast["CreatedResourceArn"].rsplit("/", 1)[1]])["Volumes"][0]
    assert fast_volume["FastRestored"] is True
    # another AZ has no FSR of its own
    other = restore(emulator, world, copy, {"availabilityZone": f"{DR}b"})
    other_volume = ec2.describe_volumes(VolumeIds=[other["CreatedResourceArn"].rsplit("/", 1)[1]])["Volumes"][0]
    assert other_volume["FastRestored"] is False

    disabled = ec2.disable_fast_snapshot_restores(AvailabilityZones=[zone], SourceSnapshotIds=[snapshot_id])
    assert disabled["Successful"][0]["State"] == "disabling"
    wait_for("FSR to be disabled", lambda: _state(ec2, snapshot_id, zone) == "disabled", timeout=30)
    times = ec2.describe_fast_snapshot_restores(Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])[
        "FastSnapshotRestores"
    ][0]
    assert times["EnablingTime"] <= times["EnabledTime"] <= times["DisablingTime"] <= times["DisabledTime"]
    # disabling what is off is refused, in Unsuccessful
    refused = ec2.disable_fast_snapshot_restores(AvailabilityZones=[zone], SourceSnapshotIds=[snapshot_id])
    assert refused["Successful"] == [] and refused["Unsuccessful"][0]["SnapshotId"] == snapshot_id


def test_the_credit_bucket_starts_empty_and_fills_at_the_rate_the_snapshot_size_sets(emulator, world):
    ec2 = emulator.client("ec2", DR)
    # 50 GiB: MIN(10, 1024 / 50) = 10 credits per hour, one every 6 AWS minutes
    copy = protect(emulator, world, world["primary"]["volumes"]["app-data"]["arn"])
    snapshot_id, zone = _snapshot_of(copy), f"{DR}a"
    emulator.control("POST", "durations", {"lifecycle": {"ebs.fsrEnabling": 0, "ebs.fsrOptimizingPerTiB": 0}})
    ec2.enable_fast_snapshot_restores(AvailabilityZones=[zone], SourceSnapshotIds=[snapshot_id])
    enabled_at = time.time()
    assert _state(ec2, snapshot_id, zone) == "enabled"

    def restored_fast() -> bool:
        job = restore(emulator, world, copy, {"availabilityZone": zone})
        volume_id = job["CreatedResourceArn"].rsplit("/", 1)[1]
        return ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["FastRestored"]

    def balance() -> float:
        points = emulator.client("cloudwatch", DR).get_metric_statistics(
            Namespace="AWS/EBS",
            MetricName="FastSnapshotRestoreCreditsBalance",
            Dimensions=[{"Name": "SnapshotId", "Value": snapshot_id}, {"Name": "AvailabilityZone", "Value": zone}],
            StartTime=time.time() - 300,
            EndTime=time.time() + 60,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        return points[-1]["Maximum"]

    # enabled, but the bucket starts empty: a restore of one AWS minute finds no credit
    assert balance() < 1
    assert restored_fast() is False
    time.sleep(max(0.0, enabled_at + 6.5 * 60 * TIME_SCALE - time.time()))
    # one credit after six minutes (CloudWatch shows it): one volume takes it, the next finds
    # the bucket empty again
    assert balance() >= 1
    assert restored_fast() is True
    assert restored_fast() is False


def test_at_most_five_snapshots_per_region_and_unknown_snapshots_are_listed_as_unsuccessful(emulator, world):
    ec2 = emulator.client("ec2", DR)
    zone = f"{DR}a"
    volume = ec2.create_volume(AvailabilityZone=zone, Size=8)["VolumeId"]
    snapshots = [ec2.create_snapshot(VolumeId=volume)["SnapshotId"] for _ in range(6)]
    first = ec2.enable_fast_snapshot_restores(AvailabilityZones=[zone], SourceSnapshotIds=snapshots[:5])
    assert len(first["Successful"]) == 5 and first["Unsuccessful"] == []
    sixth = ec2.enable_fast_snapshot_restores(
        AvailabilityZones=[zone], SourceSnapshotIds=[snapshots[5], "snap-0000000000000000"]
    )
    assert sixth["Successful"] == []
    errors = {u["SnapshotId"]: u["FastSnapshotRestoreStateErrors"][0]["Error"]["Code"] for u in sixth["Unsuccessful"]}
    assert errors == {snapshots[5]: "FastSnapshotRestoreLimitExceeded", "snap-0000000000000000": "InvalidSnapshot.NotFound"}
    # another AZ of a snapshot already counted is not a sixth snapshot
    more = ec2.enable_fast_snapshot_restores(AvailabilityZones=[f"{DR}b"], SourceSnapshotIds=[snapshots[0]])
    assert len(more["Successful"]) == 1
    # deleting a snapshot turns its FSR off, which frees a place
    ec2.delete_snapshot(SnapshotId=snapshots[1])
    assert _state(ec2, snapshots[1], zone) in ("disabling", "disabled")
    freed = ec2.enable_fast_snapshot_restores(AvailabilityZones=[zone], SourceSnapshotIds=[snapshots[5]])
    assert len(freed["Successful"]) == 1
    assert {s for s in FSR_STATES} >= {r["State"] for r in ec2.describe_fast_snapshot_restores()["FastSnapshotRestores"]}
