"""Recovery points: listed by vault or by resource, described, and their restore metadata."""

from __future__ import annotations

import json
from urllib.parse import unquote

from moto.backup.exceptions import ResourceNotFoundException
from moto.backup.responses import BackupResponse
from .air_gapped import vault_account
from .store import RecoveryPoint, STORE, _paginate, _query_time, _vault


def _recovery_points_in(account: str, region: str) -> list[RecoveryPoint]:
    with STORE.lock:
        return [
            rp for rp in STORE.recovery_points.values()
            if rp.account == account and rp.region == region
        ]


def list_recovery_points_by_backup_vault(self: BackupResponse) -> str:
    name = unquote(self.path.split("/backup-vaults/", 1)[1].split("/", 1)[0])
    owner = vault_account(self, name)
    _vault(owner, self.region, name)
    query = {k: v[0] for k, v in self.querystring.items() if isinstance(v, list) and v}
    points = [rp for rp in _recovery_points_in(owner, self.region) if rp.vault_name == name]
    if "resourceArn" in query:
        points = [rp for rp in points if rp.resource_arn == query["resourceArn"]]
    if "resourceType" in query:
        points = [rp for rp in points if rp.resource_type == query["resourceType"]]
    if "createdAfter" in query:
        points = [rp for rp in points if rp.creation_date > _query_time(query["createdAfter"])]
    if "createdBefore" in query:
        points = [rp for rp in points if rp.creation_date < _query_time(query["createdBefore"])]
    points.sort(key=lambda rp: rp.creation_date, reverse=True)
    return _paginate(query, "RecoveryPoints", points, RecoveryPoint.to_vault_listing)


def list_recovery_points_by_resource(self: BackupResponse) -> str:
    resource_arn = unquote(self.path.split("/resources/", 1)[1].rsplit("/recovery-points", 1)[0])
    query = {k: v[0] for k, v in self.querystring.items() if isinstance(v, list) and v}
    points = [rp for rp in _recovery_points_in(self.current_account, self.region) if rp.resource_arn == resource_arn]
    points.sort(key=lambda rp: rp.creation_date, reverse=True)
    items = [
        {
            "RecoveryPointArn": rp.arn,
            "CreationDate": rp.creation_date,
            "Status": rp.status,
            "BackupSizeBytes": rp.size_bytes,
            "BackupVaultName": rp.vault_name,
            "VaultType": rp.vault_type,
        }
        for rp in points
    ]
    return _paginate(query, "RecoveryPoints", items)


def _recovery_point_from_path(self: BackupResponse) -> RecoveryPoint:
    rest = unquote(self.path.split("/backup-vaults/", 1)[1])
    name, rp_part = rest.split("/recovery-points/", 1)
    rp_arn = rp_part.removesuffix("/restore-metadata")
    owner = vault_account(self, name)
    _vault(owner, self.region, name)
    rp = STORE.recovery_points.get(rp_arn)
    if not rp or rp.vault_name != name or rp.region != self.region or rp.account != owner:
        raise ResourceNotFoundException(f"Recovery point {rp_arn} not found in vault {name}")
    return rp


def describe_recovery_point(self: BackupResponse) -> str:
    rp = _recovery_point_from_path(self)
    return json.dumps({**rp.to_vault_listing(), "StorageClass": "WARM"})


def get_recovery_point_restore_metadata(self: BackupResponse) -> str:
    rp = _recovery_point_from_path(self)
    return json.dumps(
        {
            "BackupVaultArn": rp.vault_arn,
            "RecoveryPointArn": rp.arn,
            "RestoreMetadata": rp.restore_metadata,
            "ResourceType": rp.resource_type,
        }
    )
