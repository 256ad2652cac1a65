"""Another account's KMS key, used as AWS lets it be used: only when the key's policy allows.

moto keeps each account's keys in that account's backend: a request naming another account's key
ARN is answered NotFound, whatever the key policy says. AWS evaluates the owner's key policy
(AWS KMS Developer Guide, "Allowing users in other accounts to use a KMS key"): an Allow
statement whose principal is the calling account (`arn:aws:iam::<account>:root` or the bare id),
or the calling role, lets that account use the key, and an explicit Deny wins. The emulator does
not evaluate the caller's IAM policies, nor policy conditions: a statement with a Condition is
taken as not met, so it neither allows nor denies.

Used by DescribeKey across accounts (what Backstop's preflight reads), by restore jobs (the
recovery point's key and the planned kmsKeyId) and by cross-account copy jobs (the source key).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.kms.models import Key, kms_backends
from moto.kms.responses import KmsResponse

# what EBS and AWS Backup need of a key to create a volume or copy encrypted with it
# (Amazon EBS User Guide, "Permissions for IAM users": CreateGrant, Decrypt, DescribeKey,
# GenerateDataKeyWithoutPlaintext, ReEncrypt)
USE_ACTIONS = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
)


def key_account(key_id: str) -> str | None:
    """The account of a key ARN (None for a bare key id or alias: the caller's own)."""
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id.split(":")[4]
    return None


def find_key(key_id: str, region: str, account: str) -> Key | None:
    """The key a key id, alias or ARN names, seen from `account` in `region`."""
    owner = key_account(key_id) or account
    if key_id.startswith("arn:"):
        region = key_id.split(":")[3]
    backend = kms_backends[owner][region]
    try:
        return backend.keys.get(backend.any_id_to_key_id(key_id))
    except Exception:  # an alias that names no key
        return None


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _names(statement: dict[str, Any], account: str, role_arn: str | None) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _listed(principal.get("AWS")):
        if value in ("*", account, f"arn:aws:iam::{account}:root") or (role_arn and value == role_arn):
            return True
    return False


def _covers(statement: dict[str, Any], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _listed(statement.get("Action")))


def policy_allows(key: Key, account: str, action: str, role_arn: str | None = None) -> bool:
    """Whether the key policy lets `account` (or its role `role_arn`) perform `action`."""
    try:
        statements = _listed(json.loads(key.policy).get("Statement"))
    except (TypeError, ValueError, AttributeError):
        return False
    applies = [
        s
        for s in statements
        if isinstance(s, dict) and "Condition" not in s and _names(s, account, role_arn) and _covers(s, action)
    ]
    if any(s.get("Effect") == "Deny" for s in applies):
        return False
    return any(s.get("Effect") == "Allow" for s in applies)


def refusal(key_id: str, account: str, region: str, actions: tuple[str, ...], role_arn: str | None = None) -> str | None:
    """Why `account` cannot use the key for `actions` in `region`, or None when it can."""
    key = find_key(key_id, region, account)
    if key is None:
        return f"KMS key {key_id} does not exist or is not visible to account {account}"
    if key.region != region:
        return f"KMS key {key_id} is a key of {key.region}, not of {region}"
    if key.key_state != "Enabled":
        return f"KMS key {key_id} is {key.key_state}"
    if key.account_id != account:
        denied = [a for a in actions if not policy_allows(key, account, a, role_arn)]
        if denied:
            return (
                f"the key policy of KMS key {key.arn} (account {key.account_id}) does not allow account "
                f"{account} {', '.join(denied)}"
            )
    return None


def install() -> None:
    """DescribeKey of another account's key ARN is answered from the owner's keys when its
    policy allows the caller, and AccessDenied otherwise, as AWS answers it."""
    original = KmsResponse.describe_key

    def describe_key(self: KmsResponse) -> str:
        key_id = self._get_param("KeyId") or ""
        owner = key_account(key_id)
        if owner is None or owner == self.current_account:
            return original(self)
        key = find_key(key_id, self.region, self.current_account)
        if key is None or not policy_allows(key, self.current_account, "kms:DescribeKey"):
            # moto's own AccessDeniedException drops its message from the body
            raise JsonRESTError(
                "AccessDeniedException",
                f"User: arn:aws:iam::{self.current_account}:root is not authorized to perform: kms:DescribeKey "
                f"on resource: {key_id} because no resource-based policy allows the kms:DescribeKey action"
            )
        return json.dumps(key.to_dict())

    KmsResponse.describe_key = describe_key
