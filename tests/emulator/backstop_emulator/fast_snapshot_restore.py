"""EBS fast snapshot restore (FSR), which moto does not have, as the EBS user guide describes it.

- EnableFastSnapshotRestores / DisableFastSnapshotRestores / DescribeFastSnapshotRestores, per
  snapshot and Availability Zone. A snapshot and AZ goes `enabling` -> `optimizing` (60 minutes per
  TiB of the snapshot) -> `enabled`; disabling goes `disabling` -> `disabled`. Enabling an FSR that
  is already on answers with its current state; each problem is an entry of `Unsuccessful`, not
  an error of the call.
- Quotas: at most 5 snapshots with FSR on (enabling, optimizing or enabled) per Region; a snapshot
  of more than 16 TiB cannot have it.
- Volume creation credits: one bucket per snapshot and AZ, empty when FSR is enabled, filled at
  MIN(10, 1024 / size GiB) credits per hour up to MAX(1, MIN(10, 1024 / size GiB)). CreateVolume
  from the snapshot in that AZ while FSR is `enabled` and a credit is there takes the credit and
  makes the volume `FastRestored`; otherwise the volume is restored lazily (`FastRestored` false).
- Deleting a snapshot turns its FSR off.
- CloudWatch `AWS/EBS` `FastSnapshotRestoreCreditsBalance` (dimensions `SnapshotId`,
  `AvailabilityZone`): GetMetricStatistics answers the bucket's balance as its latest datapoint,
  as EBS publishes it each minute while FSR is on.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import aws_time

MAX_SNAPSHOTS_PER_REGION = 5
MAX_SNAPSHOT_GIB = 16 * 1024
ON = ("enabling", "optimizing", "enabled")


@dataclass
class FastRestore:
    snapshot_id: str
    zone: str
    owner_id: str
    size_gib: int
    enabling_at: float
    disabling_at: float | None = None
    reason: str = "Client.UserInitiated"
    # volume creation credits: the balance at `credits_at` (real time)
    credits: float = 0.0
    credits_at: float = field(default_factory=time.time)

    def state(self, now: float) -> str:
        if self.disabling_at is not None:
            return "disabling" if now - self.disabling_at < aws_time.lifecycle_seconds("ebs.fsrDisabling") else "disabled"
        elapsed = now - self.enabling_at
        enabling = aws_time.lifecycle_seconds("ebs.fsrEnabling")
        if elapsed < enabling:
            return "enabling"
        optimizing = aws_time.lifecycle_seconds("ebs.fsrOptimizingPerTiB") * self.size_gib / 1024
        return "optimizing" if elapsed < enabling + optimizing else "enabled"

    def times(self) -> dict[str, datetime]:
        def at(moment: float) -> datetime:
            return datetime.fromtimestamp(moment, tz=timezone.utc)

        enabling = aws_time.lifecycle_seconds("ebs.fsrEnabling")
        optimizing = enabling + aws_time.lifecycle_seconds("ebs.fsrOptimizingPerTiB") * self.size_gib / 1024
        now = time.time()
        times = {"EnablingTime": at(self.enabling_at)}
        end = self.disabling_at if self.disabling_at is not None else now
        if end - self.enabling_at >= enabling:
            times["OptimizingTime"] = at(self.enabling_at + enabling)
        if end - self.enabling_at >= optimizing:
            times["EnabledTime"] = at(self.enabling_at + optimizing)
        if self.disabling_at is not None:
            times["DisablingTime"] = at(self.disabling_at)
            if self.state(now) == "disabled":
                times["DisabledTime"] = at(self.disabling_at + aws_time.lifecycle_seconds("ebs.fsrDisabling"))
        return times

    def bucket(self) -> tuple[float, float]:
        """(credits per real second, bucket size)."""
        per_hour = min(10.0, 1024 / max(self.size_gib, 1))
        size = max(1.0, per_hour)
        return per_hour / (3600 * aws_time.SCALE), size

    def balance(self, now: float) -> float:
        """Volume creation credits in the bucket now (none before `enabled`)."""
        if self.state(now) != "enabled":
            return 0.0
        rate, size = self.bucket()
        return min(size, self.credits + rate * (now - self.credits_at))

    def take_credit(self, now: float) -> bool:
        self.credits = self.balance(now)
        self.credits_at = now
        if self.credits >= 1:
            self.credits -= 1
            return True
        return False

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "SnapshotId": self.snapshot_id,
            "AvailabilityZone": self.zone,
            "State": self.state(now),
            "StateTransitionReason": self.reason,
            "OwnerId": self.owner_id,
            **self.times(),
        }


_lock = threading.Lock()
# (account, region, snapshot id, AZ) -> the latest FSR of that pair
RESTORES: dict[tuple[str, str, str, str], FastRestore] = {}


def reset() -> None:
    with _lock:
        RESTORES.clear()


def _list_param(response: Any, name: str) -> list[str]:
    return [value for value in response._get_param(name, []) if value]


def _error(snapshot_id: str, zone: str, code: str, message: str) -> dict[str, Any]:
    return {
        "SnapshotId": snapshot_id,
        "FastSnapshotRestoreStateErrors": [{"AvailabilityZone": zone, "Error": {"Code": code, "Message": message}}],
    }


def _on_in_region(account: str, region: str, now: float) -> set[str]:
    return {
        key[2] for key, restore in RESTORES.items() if key[:2] == (account, region) and restore.state(now) in ON
    }


def enable(backend: Any, snapshot_ids: list[str], zones: list[str]) -> dict[str, Any]:
    now = time.time()
    region_zones = {zone.name for zone in backend.describe_availability_zones()}
    successful, unsuccessful = [], []
    with _lock:
        for snapshot_id in snapshot_ids:
            snapshot = backend.snapshots.get(snapshot_id)
            for zone in zones:
                if snapshot is None:
                    unsuccessful.append(
                        _error(snapshot_id, zone, "InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")
                    )
                    continue
                if zone not in region_zones:
                    unsuccessful.append(
                        _error(snapshot_id, zone, "InvalidParameterValue", f"Invalid availability zone: [{zone}]")
                    )
                    continue
                size = int(snapshot.volume.size)
                if size > MAX_SNAPSHOT_GIB:
                    unsuccessful.append(
                        _error(
                            snapshot_id,
                            zone,
                            "InvalidParameterValue",
                            f"Fast snapshot restore can be enabled on snapshots of 16 TiB or less; {snapshot_id} is {size} GiB.",
                        )
                    )
                    continue
                key = (backend.account_id, backend.region_name, snapshot_id, zone)
                current = RESTORES.get(key)
                if current is not None and current.state(now) in ON:
                    successful.append(current.describe(now))
                    continue
                on = _on_in_region(backend.account_id, backend.region_name, now)
                if snapshot_id not in on and len(on) >= MAX_SNAPSHOTS_PER_REGION:
                    unsuccessful.append(
                        _error(
                            snapshot_id,
                            zone,
                            "FastSnapshotRestoreLimitExceeded",
                            f"The maximum number of snapshots enabled for fast snapshot restore in {backend.region_name} "
                            f"({MAX_SNAPSHOTS_PER_REGION}) has been reached: {', '.join(sorted(on))}.",
                        )
                    )
                    continue
                restore = FastRestore(snapshot_id, zone, snapshot.owner_id, size, enabling_at=now, credits_at=now)
                RESTORES[key] = restore
                successful.append(restore.describe(now))
    return {"Successful": successful, "Unsuccessful": unsuccessful}


def disable(backend: Any, snapshot_ids: list[str], zones: list[str]) -> dict[str, Any]:
    now = time.time()
    successful, unsuccessful = [], []
    with _lock:
        for snapshot_id in snapshot_ids:
            for zone in zones:
                restore = RESTORES.get((backend.account_id, backend.region_name, snapshot_id, zone))
                if restore is None or restore.state(now) == "disabled":
                    unsuccessful.append(
                        _error(
                            snapshot_id,
                            zone,
                            "IncorrectState",
                            f"Fast snapshot restore is not enabled for {snapshot_id} in {zone}.",
                        )
                    )
                    continue
                if restore.disabling_at is None:
                    restore.disabling_at = now
                    restore.reason = "Client.UserInitiated"
                successful.append(restore.describe(now))
    return {"Successful": successful, "Unsuccessful": unsuccessful}


def describe(backend: Any, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    now = time.time()
    wanted = {
        "snapshot-id": "SnapshotId",
        "availability-zone": "AvailabilityZone",
        "owner-id": "OwnerId",
        "state": "State",
    }
    found = []
    with _lock:
        for key, restore in RESTORES.items():
            if key[:2] != (backend.account_id, backend.region_name):
                continue
            described = restore.describe(now)
            if all(described[wanted[name]] in values for name, values in filters.items() if name in wanted):
                found.append(described)
    return found


def fast_restored(account: str, region: str, snapshot_id: str | None, zone: str) -> bool:
    """Whether a volume created now from `snapshot_id` in `zone` is fully initialized (takes a credit)."""
    if not snapshot_id:
        return False
    now = time.time()
    with _lock:
        restore = RESTORES.get((account, region, snapshot_id, zone))
        return restore is not None and restore.state(now) == "enabled" and restore.take_credit(now)


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.responses import EC2Response

    def enable_fast_snapshot_restores(self):  # type: ignore[no-untyped-def]
        self.error_on_dryrun()
        return ActionResult(
            enable(self.ec2_backend, _list_param(self, "SourceSnapshotIds"), _list_param(self, "AvailabilityZones"))
        )

    def disable_fast_snapshot_restores(self):  # type: ignore[no-untyped-def]
        self.error_on_dryrun()
        return ActionResult(
            disable(self.ec2_backend, _list_param(self, "SourceSnapshotIds"), _list_param(self, "AvailabilityZones"))
        )

    def describe_fast_snapshot_restores(self):  # type: ignore[no-untyped-def]
        filters = self._filters_from_querystring()
        return ActionResult({"FastSnapshotRestores": describe(self.ec2_backend, filters)})

    EC2Response.enable_fast_snapshot_restores = enable_fast_snapshot_restores
    EC2Response.disable_fast_snapshot_restores = disable_fast_snapshot_restores
    EC2Response.describe_fast_snapshot_restores = describe_fast_snapshot_restores

    original_create = EBSBackend.create_volume

    def create_volume(self, size, zone_name, snapshot_id=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        volume = original_create(self, size, zone_name, snapshot_id, *args, **kwargs)
        volume.fast_restored = fast_restored(self.account_id, self.region_name, snapshot_id, zone_name)
        return volume

    EBSBackend.create_volume = create_volume

    original_delete = EBSBackend.delete_snapshot

    def delete_snapshot(self, snapshot_id):  # type: ignore[no-untyped-def]
        deleted = original_delete(self, snapshot_id)
        now = time.time()
        with _lock:
            for key, restore in RESTORES.items():
                if key[:3] == (self.account_id, self.region_name, snapshot_id) and restore.disabling_at is None:
                    restore.disabling_at = now
                    restore.reason = "Client.SnapshotDeleted"
        return deleted

    EBSBackend.delete_snapshot = delete_snapshot

    from moto.cloudwatch.responses import CloudWatchResponse

    original_statistics = CloudWatchResponse.get_metric_statistics

    def get_metric_statistics(self):  # type: ignore[no-untyped-def]
        if (self._get_param("Namespace"), self._get_param("MetricName")) != ("AWS/EBS", "FastSnapshotRestoreCreditsBalance"):
            return original_statistics(self)
        dimensions = {d["Name"]: d["Value"] for d in self._get_param("Dimensions", [])}
        now = time.time()
        key = (self.current_account, self.region, dimensions.get("SnapshotId", ""), dimensions.get("AvailabilityZone", ""))
        with _lock:
            restore = RESTORES.get(key)
            on = restore is not None and restore.state(now) in ON
            balance = restore.balance(now) if on else 0.0
        datapoints = []
        if on:
            point = {"Timestamp": datetime.fromtimestamp(now, tz=timezone.utc), "Unit": "None", "SampleCount": 1.0}
            for statistic in self._get_param("Statistics", []):
                if statistic in ("Maximum", "Minimum", "Average", "Sum"):
                    point[statistic] = balance
            datapoints.append(point)
        return ActionResult({"Label": "FastSnapshotRestoreCreditsBalance", "Datapoints": datapoints})

    CloudWatchResponse.get_metric_statistics = get_metric_statistics
