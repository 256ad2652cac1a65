"""RunInstances' ClientToken as AWS honours it (moto stores it but never checks it).

EC2 API reference, "Ensuring idempotency": a ClientToken is at most 64 ASCII characters; a
repeated request with the same token returns the instances of the first one and launches
nothing; the same token with different parameters fails with IdempotentParameterMismatch.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
# (account, region, token) -> (the parameters of the first request, its reservation; None when
# it failed, e.g. for capacity: the token is taken by those parameters all the same)
_launches: dict[tuple[str, str, str], tuple[tuple, Any]] = {}


def reset() -> None:
    with _lock:
        _launches.clear()


def _parameters(image_id: str, count: int, kwargs: dict[str, Any]) -> tuple:
    return (
        image_id,
        count,
        kwargs.get("instance_type"),
        kwargs.get("subnet_id"),
        tuple(sorted(kwargs.get("security_group_ids") or [])),
    )


def install() -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.instances import InstanceBackend

    original = InstanceBackend.run_instances

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):  # type: ignore[no-untyped-def]
        token = kwargs.get("client_token")
        # moto's default when the request has none
        if not token or token == "ABCDE":
            return original(self, image_id, count, user_data, security_group_names, **kwargs)
        if len(token) > 64 or not token.isascii():
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Value ({token}) for parameter clientToken is invalid. It must be at most 64 ASCII characters.",
            )
        key = (self.account_id, self.region_name, token)
        parameters = _parameters(image_id, count, kwargs)
        with _lock:
            if key in _launches:
                first, reservation = _launches[key]
                if first != parameters:
                    raise EC2ClientError(
                        "IdempotentParameterMismatch",
                        "The client token you have provided is associated with a resource that is already deleted, "
                        "or the request parameters differ from the original request. Please use a different client token.",
                    )
                if reservation is not None:
                    return reservation
            _launches[key] = (parameters, None)
            reservation = original(self, image_id, count, user_data, security_group_names, **kwargs)
            _launches[key] = (parameters, reservation)
            return reservation

    InstanceBackend.run_instances = run_instances
