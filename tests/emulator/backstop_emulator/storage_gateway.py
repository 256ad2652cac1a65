"""Storage Gateway (Volume Gateway) volumes, which moto does not have: just enough for AWS
Backup to protect them as AWS does.

A gateway volume's data lives on-premises and its backups are EBS snapshots. Here each gateway
volume is backed by a hidden EBS volume of its size in the gateway's region, which backups
snapshot. A recovery point of a gateway volume can be restored to a gateway (metadata
`gatewayArn`, `targetName`: no gateway exists in the emulator, so the job fails as AWS's would
for a gateway it cannot find) or as an EBS volume (`ResourceType` EBS, with the EBS metadata:
availabilityZone, volumeType, volumeSize at least the gateway volume's size).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .internal import client

ACCOUNT = "123456789012"


@dataclass
class GatewayVolume:
    arn: str
    gateway_arn: str
    target_name: str
    region: str
    size_gib: int
    backing_volume_id: str


_lock = threading.Lock()
VOLUMES: dict[str, GatewayVolume] = {}


def reset() -> None:
    with _lock:
        VOLUMES.clear()


def create_volume(region: str, gateway_id: str, target_name: str, size_gib: int, zone: str) -> GatewayVolume:
    """A cached volume on gateway `gateway_id` (e.g. `sgw-12A3456B`)."""
    backing = client("ec2", region).create_volume(
        AvailabilityZone=zone,
        Size=size_gib,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "backstop:emulator", "Value": f"gateway volume {target_name}"}]}],
    )["VolumeId"]
    gateway_arn = f"arn:aws:storagegateway:{region}:{ACCOUNT}:gateway/{gateway_id}"
    volume_id = "vol-" + backing.removeprefix("vol-")[:8].upper()
    volume = GatewayVolume(
        arn=f"{gateway_arn}/volume/{volume_id}",
        gateway_arn=gateway_arn,
        target_name=target_name,
        region=region,
        size_gib=size_gib,
        backing_volume_id=backing,
    )
    with _lock:
        VOLUMES[volume.arn] = volume
    return volume


def get(arn: str) -> GatewayVolume | None:
    with _lock:
        return VOLUMES.get(arn)
