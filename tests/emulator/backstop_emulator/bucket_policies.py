"""Bucket policy conditions, as S3 evaluates them for the SDK's requests.

moto applies every statement of a bucket policy whose principal is `*` and ignores its
`Condition` block, so a common guard such as "deny s3:* when aws:SecureTransport is false"
denies everything, which S3 does not. Here a statement applies only when its conditions hold
in the request's context. The emulator's endpoint stands in for S3's HTTPS endpoint, which the
SDK always uses: `aws:SecureTransport` is "true". A condition on any other key is left as moto
treats it (the statement applies), so an unconditional Deny (e.g. of s3:DeleteObject) still
denies.
"""

from __future__ import annotations

import json
from typing import Any

# what S3 knows of a request the SDK sends it
_CONTEXT = {"aws:securetransport": "true"}


def _holds(condition: dict[str, Any]) -> bool:
    """Whether every known condition holds; unknown keys count as holding (moto's behaviour)."""
    for operator, tests in condition.items():
        for key, expected in tests.items():
            actual = _CONTEXT.get(key.lower())
            if actual is None:
                continue
            values = expected if isinstance(expected, list) else [expected]
            values = [str(v).lower() for v in values]
            if operator in ("Bool", "StringEquals", "StringEqualsIgnoreCase"):
                if actual not in values:
                    return False
            elif operator in ("StringNotEquals",):
                if actual in values:
                    return False
    return True


def install() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self, action: str, resource: str) -> Any:  # type: ignore[no-untyped-def]
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
        statements = policy.get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        applying = [s for s in statements if _holds(s.get("Condition") or {})]
        for statement in applying:
            statement.pop("Condition", None)
        return IAMPolicy(json.dumps({**policy, "Statement": applying})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission
