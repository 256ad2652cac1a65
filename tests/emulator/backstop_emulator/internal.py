"""Calls the emulator makes to itself, to build the real moto resources behind Backup jobs.

Public APIs over HTTP, whose shapes are stable, rather than moto's internals. Internal calls carry a user agent
that fault injection ignores, so an injected throttle hits Backstop, not the emulator.
"""

from __future__ import annotations

import os
import threading

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

INTERNAL_USER_AGENT = "backstop-emulator-internal"

# moto's default account: the one Backstop is deployed into and the tests' clients use
DEFAULT_ACCOUNT = "123456789012"

_clients: dict[tuple[str, str, str], object] = {}
_lock = threading.Lock()

__all__ = ["ClientError", "client", "error_text"]


def client(service: str, region: str, account: str | None = None):
    """A client of `account` (default: moto's default account), as that account's own
    credentials would reach it: moto serves each request from the account its header names."""
    account = account or DEFAULT_ACCOUNT
    key = (service, region, account)
    with _lock:
        if key not in _clients:
            made = boto3.client(
                service,
                region_name=region,
                endpoint_url=f"http://127.0.0.1:{os.environ['MOTO_PORT']}",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(
                    user_agent_extra=INTERNAL_USER_AGENT,
                    retries={"max_attempts": 1},
                ),
            )
            if account != DEFAULT_ACCOUNT:

                def in_account(request, **_):  # type: ignore[no-untyped-def]
                    request.headers["x-moto-account-id"] = account

                made.meta.events.register("before-sign.*.*", in_account)
            _clients[key] = made
        return _clients[key]


def error_text(err: ClientError) -> str:
    error = err.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', str(err))}"
