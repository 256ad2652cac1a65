"""What keeps a vault's recovery points from being deleted, as AWS Backup enforces it (moto has
no vault access policies and no DeleteRecoveryPoint).

- `Put/Get/DeleteBackupVaultAccessPolicy`: the vault's resource policy, kept as written.
- `DeleteRecoveryPoint`: refused with `AccessDeniedException` when the vault's access policy
  denies `backup:DeleteRecoveryPoint` to everyone (an explicit Deny wins over any Allow), and
  with `InvalidRequestException` while Vault Lock protects the vault (`Locked`: the
  PutBackupVaultLockConfiguration reference, "preventing attempts to delete any recovery point
  stored in or created in a backup vault"). Otherwise the recovery point is gone.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any
from urllib.parse import unquote

from moto.backup.exceptions import ResourceNotFoundException
from moto.backup.responses import BackupResponse
from moto.core.exceptions import JsonRESTError

from .recovery_points import _recovery_point_from_path
from .store import STORE, AccessDeniedException, InvalidRequestException, _vault

# (account, region, vault name) -> policy text
POLICIES: dict[tuple[str, str, str], str] = {}


def reset() -> None:
    POLICIES.clear()


def _vault_name(self: BackupResponse) -> str:
    return unquote(self.path.split("/backup-vaults/", 1)[1].split("/", 1)[0])


def put_backup_vault_access_policy(self: BackupResponse) -> str:
    name = _vault_name(self)
    _vault(self.current_account, self.region, name)
    policy = json.loads(self.body or "{}").get("Policy") or ""
    try:
        json.loads(policy)
    except ValueError:
        raise JsonRESTError("InvalidParameterValueException", "The policy is not valid JSON.") from None
    POLICIES[(self.current_account, self.region, name)] = policy
    return "{}"


def get_backup_vault_access_policy(self: BackupResponse) -> str:
    name = _vault_name(self)
    vault = _vault(self.current_account, self.region, name)
    policy = POLICIES.get((self.current_account, self.region, name))
    if policy is None:
        raise ResourceNotFoundException(f"Backup vault {name} has no access policy")
    return json.dumps({"BackupVaultName": name, "BackupVaultArn": vault.backup_vault_arn, "Policy": policy})


def delete_backup_vault_access_policy(self: BackupResponse) -> str:
    name = _vault_name(self)
    _vault(self.current_account, self.region, name)
    POLICIES.pop((self.current_account, self.region, name), None)
    return "{}"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def denies_to_everyone(policy: str, action: str, resource_arn: str) -> bool:
    """Whether `policy` has an unconditional Deny of `action` on `resource_arn` for all principals."""
    for statement in _listed(json.loads(policy).get("Statement", [])):
        if statement.get("Effect") != "Deny" or statement.get("Condition"):
            continue
        principal = statement.get("Principal")
        everyone = principal == "*" or (isinstance(principal, dict) and "*" in _listed(principal.get("AWS", [])))
        actions = [a.lower() for a in _listed(statement.get("Action", []))]
        resources = _listed(statement.get("Resource", "*"))
        if (
            everyone
            and any(fnmatch.fnmatchcase(action.lower(), a) for a in actions)
            and any(fnmatch.fnmatchcase(resource_arn, r) for r in resources)
        ):
            return True
    return False


def allows(policy: str, action: str, account: str) -> bool:
    """Whether `policy` allows `action` to `account` (by id, root ARN, or everyone) and no
    statement denies it to everyone."""
    if denies_to_everyone(policy, action, "*"):
        return False
    for statement in _listed(json.loads(policy).get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        principals = ["*"] if principal == "*" else _listed((principal or {}).get("AWS", []))
        named = any(p in ("*", account, f"arn:aws:iam::{account}:root") for p in principals)
        actions = [a.lower() for a in _listed(statement.get("Action", []))]
        if named and any(fnmatch.fnmatchcase(action.lower(), a) for a in actions):
            return True
    return False


def delete_recovery_point(self: BackupResponse) -> str:
    rp = _recovery_point_from_path(self)
    vault = _vault(self.current_account, self.region, rp.vault_name)
    policy = POLICIES.get((self.current_account, self.region, rp.vault_name))
    if policy and denies_to_everyone(policy, "backup:DeleteRecoveryPoint", vault.backup_vault_arn):
        raise AccessDeniedException(
            f"User is not authorized to perform: backup:DeleteRecoveryPoint on resource: {vault.backup_vault_arn} "
            "with an explicit deny in a resource-based policy"
        )
    if getattr(vault, "locked", False):
        raise InvalidRequestException(
            f"Backup vault {rp.vault_name} is locked by Vault Lock: its recovery points cannot be deleted"
        )
    with STORE.lock:
        STORE.recovery_points.pop(rp.arn, None)
    return "{}"


OPERATIONS = [
    put_backup_vault_access_policy,
    get_backup_vault_access_policy,
    delete_backup_vault_access_policy,
    delete_recovery_point,
]
URL_PATHS = ["{0}/backup-vaults/(?P<name>[^/]+)/access-policy$"]
