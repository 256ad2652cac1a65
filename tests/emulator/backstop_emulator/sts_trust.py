"""AssumeRole as AWS answers it: the role must exist, and its trust policy must name the caller.

moto hands out credentials for any role ARN, existing or not, trusted or not: a Backstop that
assumed a production role no one trusted it with would pass here and fail in AWS. Here a role
that does not exist, or whose trust policy does not allow the caller (its account, its account's
root, or its own ARN, with an `sts:ExternalId` condition met when there is one), is refused with
AccessDenied, as STS refuses it. An explicit Deny wins; any other condition counts as not met.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse


class AccessDenied(STSClientError):
    def __init__(self, message: str) -> None:
        super().__init__("AccessDenied", message)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _names(statement: dict[str, Any], account: str, caller_arn: str) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return any(
        value in ("*", account, f"arn:aws:iam::{account}:root", caller_arn) for value in _listed(principal.get("AWS"))
    )


def _condition_met(statement: dict[str, Any], external_id: str | None) -> bool:
    condition = statement.get("Condition")
    if not condition:
        return True
    # only the one condition a cross-account trust commonly carries
    if set(condition) != {"StringEquals"} or set(condition["StringEquals"]) != {"sts:ExternalId"}:
        return False
    return external_id is not None and external_id in _listed(condition["StringEquals"]["sts:ExternalId"])


def trust_allows(policy: str, account: str, caller_arn: str, external_id: str | None) -> bool:
    """Whether the trust policy `policy` lets `caller_arn` (of `account`) assume the role."""
    try:
        statements = _listed(json.loads(policy).get("Statement"))
    except (TypeError, ValueError, AttributeError):
        return False
    applies = [
        s
        for s in statements
        if isinstance(s, dict)
        and _names(s, account, caller_arn)
        and any(fnmatch.fnmatchcase("sts:assumerole", a.lower()) for a in _listed(s.get("Action")))
    ]
    if any(s.get("Effect") == "Deny" and _condition_met(s, external_id) for s in applies):
        return False
    return any(s.get("Effect") == "Allow" and _condition_met(s, external_id) for s in applies)


def _caller_arn(response: TokenResponse) -> str:
    assumed = sts_backends[response.current_account]["aws"].get_assumed_role_from_access_key(
        response.get_access_key()
    )
    if assumed is not None:
        return assumed.role_arn
    return f"arn:aws:iam::{response.current_account}:root"


def install() -> None:
    original = TokenResponse.assume_role

    def assume_role(self: TokenResponse) -> Any:
        role_arn = self._get_param("RoleArn") or ""
        caller = _caller_arn(self)
        refused = AccessDenied(
            f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        )
        parts = role_arn.split(":")
        if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            raise refused
        try:
            role = iam_backends[parts[4]]["aws"].get_role_by_arn(role_arn)
        except Exception:  # moto's IAMNotFoundException: AWS does not tell the caller which
            raise refused from None
        if not trust_allows(role.assume_role_policy_document, self.current_account, caller, self._get_param("ExternalId")):
            raise refused
        return original(self)

    TokenResponse.assume_role = assume_role
