"""Logically air-gapped backup vaults, and their sharing through AWS RAM (moto has neither).

As AWS Backup documents them ("Logically air-gapped vault"):
- `CreateLogicallyAirGappedBackupVault` needs MinRetentionDays and MaxRetentionDays; the vault
  is locked in compliance mode from the start (no one deletes a recovery point before its
  retention ends, nor unlocks the vault) and keeps its recovery points in AWS Backup's own
  storage, encrypted with an AWS owned key (`EncryptionKeyType` AWS_OWNED_KMS_KEY) unless it was
  created with a customer managed key. A copy into it is a `backup` recovery point ARN.
- Its owner shares it through AWS RAM (a resource share naming the vault ARN and the account).
  An account it is shared with names the owner in `backupVaultAccountId` to describe the vault
  and list, describe and read the restore metadata of its recovery points, and restores them
  into its own account with StartRestoreJob. A vault that is not shared with the caller is
  AccessDenied; only a logically air-gapped vault can be shared this way.

RAM: moto keeps resource shares but refuses backup vaults as a resource type; the vault type
is added to what it shares. Invitations are not modelled: a share is usable at once, as within
an AWS Organization with sharing enabled.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from moto.backup.exceptions import InvalidParameterValueException
from moto.backup.models import backup_backends
from moto.backup.responses import BackupResponse
from moto.core.utils import unix_time

from .store import AccessDeniedException, _vault

AIR_GAPPED_TYPE = "LOGICALLY_AIR_GAPPED_BACKUP_VAULT"

# (account, region, vault name) of each logically air-gapped vault
AIR_GAPPED: set[tuple[str, str, str]] = set()


def reset() -> None:
    AIR_GAPPED.clear()


def is_air_gapped(account: str, region: str, name: str) -> bool:
    return (account, region, name) in AIR_GAPPED


def shared_with(owner: str, region: str, vault_arn: str, account: str) -> bool:
    """Whether an active RAM share of `owner` names the vault and `account`."""
    from moto.ram.models import ram_backends

    principals = {account, f"arn:aws:iam::{account}:root"}
    return any(
        share.status == "ACTIVE" and vault_arn in share.resource_arns and principals & set(share.principals)
        for share in ram_backends[owner][region].resource_shares
    )


def vault_account(self: BackupResponse, name: str) -> str:
    """The account whose vault `name` a request names: its `backupVaultAccountId`, else the
    caller's own. Another account's vault must be a logically air-gapped vault shared with the
    caller."""
    owner = self.querystring.get("backupVaultAccountId", [None])[0] or self.current_account
    if owner == self.current_account:
        return owner
    vault = _vault(owner, self.region, name)
    if not (is_air_gapped(owner, self.region, name) and shared_with(owner, self.region, vault.backup_vault_arn, self.current_account)):
        raise AccessDeniedException(
            f"User: arn:aws:iam::{self.current_account}:root is not authorized to access backup vault "
            f"{vault.backup_vault_arn}: it is not shared with account {self.current_account}"
        )
    return owner


def may_restore(owner: str, region: str, vault_name: str, vault_arn: str, account: str) -> bool:
    """Whether `account` may restore a recovery point of `owner`'s vault."""
    return owner == account or (is_air_gapped(owner, region, vault_name) and shared_with(owner, region, vault_arn, account))


def create_logically_air_gapped_backup_vault(self: BackupResponse) -> str:
    name = unquote(self.path.rstrip("/").rsplit("/", 1)[-1])
    body: dict[str, Any] = json.loads(self.body or "{}")
    low, high = body.get("MinRetentionDays"), body.get("MaxRetentionDays")
    if not isinstance(low, int) or not isinstance(high, int):
        raise InvalidParameterValueException("MinRetentionDays and MaxRetentionDays are required")
    if low < 1 or high > 36500 or low > high:
        raise InvalidParameterValueException(
            "MinRetentionDays must be at least 1, MaxRetentionDays at most 36500, and Min at most Max"
        )
    backend = backup_backends[self.current_account][self.region]
    vault = backend.create_backup_vault(
        backup_vault_name=name,
        backup_vault_tags=body.get("BackupVaultTags") or {},
        encryption_key_arn=body.get("EncryptionKeyArn"),
        creator_request_id=body.get("CreatorRequestId"),
    )
    # compliance mode from creation: LockDate is now, so no one can change or remove the lock
    vault.locked, vault.min_retention_days, vault.max_retention_days = True, low, high
    vault.lock_date = unix_time()
    AIR_GAPPED.add((self.current_account, self.region, name))
    return json.dumps(
        {
            "BackupVaultName": name,
            "BackupVaultArn": vault.backup_vault_arn,
            "CreationDate": vault.creation_date,
            "VaultState": "AVAILABLE",
        }
    )


def describe_backup_vault(self: BackupResponse) -> str:
    name = unquote(self.path.rstrip("/").rsplit("/", 1)[-1])
    owner = vault_account(self, name)
    vault = _vault(owner, self.region, name)
    air_gapped = is_air_gapped(owner, self.region, name)
    from .store import STORE

    with STORE.lock:
        points = sum(
            1
            for rp in STORE.recovery_points.values()
            if rp.account == owner and rp.region == self.region and rp.vault_name == name
        )
    out = {**vault.to_list_dict(), "NumberOfRecoveryPoints": points, "VaultState": "AVAILABLE"}
    out["VaultType"] = AIR_GAPPED_TYPE if air_gapped else "BACKUP_VAULT"
    if air_gapped and not vault.encryption_key_arn:
        out["EncryptionKeyType"] = "AWS_OWNED_KMS_KEY"
        out.pop("EncryptionKeyArn", None)
    elif vault.encryption_key_arn:
        out["EncryptionKeyType"] = "CUSTOMER_MANAGED_KMS_KEY"
    return json.dumps(out)


OPERATIONS = [create_logically_air_gapped_backup_vault, describe_backup_vault]
URL_PATHS = ["{0}/logically-air-gapped-backup-vaults/(?P<name>[^/]+)$"]


def install_ram() -> None:
    from moto.ram.models import ResourceShare

    if "backup-vault" not in ResourceShare.SHAREABLE_RESOURCES:
        ResourceShare.SHAREABLE_RESOURCES.append("backup-vault")
