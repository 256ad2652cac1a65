"""Calls the emulator makes to itself, to build the real moto resources behind Backup jobs.

Public APIs, whose shapes are stable, rather than moto's internals. Internal calls carry a user agent
that fault injection ignores, so an injected throttle hits Backstop, not the emulator.

Once the emulator serves, a call is the same signed request handed to its WSGI application in
the calling thread, not sent over a socket: at 3,000 restores the completions' calls to
itself, each a new connection and server thread, slowed the jobs' recorded ends by seconds.
Nothing the application sees changes but the missing socket.
"""

from __future__ import annotations

import io
import os
import threading
from typing import Any, Callable
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from werkzeug.test import EnvironBuilder, run_wsgi_app

INTERNAL_USER_AGENT = "backstop-emulator-internal"

# moto's default account: the one Backstop is deployed into and the tests' clients use
DEFAULT_ACCOUNT = "123456789012"

_clients: dict[tuple[str, str, str], object] = {}
_lock = threading.Lock()
# the emulator's WSGI application, once it serves: calls go to it in process
_app: Callable[..., Any] | None = None


def serve_in_process(app: Callable[..., Any]) -> None:
    global _app
    _app = app


class _Body(io.BytesIO):
    def stream(self, **_: Any):  # what botocore reads a response's content with
        yield self.getvalue()


def _in_process(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
    """botocore's before-send hook: the application's answer, or None (then botocore sends it)."""
    app = _app
    if app is None:
        return None
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    url = urlsplit(request.url)
    headers = [(k, v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in request.headers.items()]
    # the environ werkzeug's server builds from the same request, without the socket
    environ = EnvironBuilder(
        path=url.path,
        base_url=f"{url.scheme}://{url.netloc}",
        query_string=url.query,
        method=request.method,
        headers=headers,
        input_stream=io.BytesIO(body),
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    ).get_environ()
    from . import faults

    # a call made while serving a request must not take that request's place in fault injection
    outer = getattr(faults.CURRENT, "environ", None)
    try:
        chunks, status, answered = run_wsgi_app(app, environ, buffered=True)
        content = b"".join(chunks)
    finally:
        faults.CURRENT.environ = outer
    return AWSResponse(request.url, int(status.split(" ", 1)[0]), dict(answered.items()), _Body(content))


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
            made.meta.events.register("before-send.*.*", _in_process)
            _clients[key] = made
        return _clients[key]


def error_text(err: ClientError) -> str:
    error = err.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', str(err))}"
