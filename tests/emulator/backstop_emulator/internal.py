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

_clients: dict[tuple[str, str], object] = {}
_lock = threading.Lock()

__all__ = ["ClientError", "client", "error_text"]


def client(service: str, region: str):
    key = (service, region)
    with _lock:
        if key not in _clients:
            _clients[key] = boto3.client(
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
        return _clients[key]


def error_text(err: ClientError) -> str:
    error = err.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', str(err))}"
