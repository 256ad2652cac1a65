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
import sys
import threading
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

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


def _environ(request: AWSPreparedRequest, body: bytes) -> dict[str, Any]:
    """The WSGI environ werkzeug's server would build for this request."""
    url = urlsplit(request.url)
    host, _, port = url.netloc.partition(":")
    target = url.path + (f"?{url.query}" if url.query else "")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(url.path).encode().decode("latin-1"),
        "QUERY_STRING": url.query,
        "REQUEST_URI": target,
        "RAW_URI": target,
        "SERVER_NAME": host,
        "SERVER_PORT": port or "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "HTTP_HOST": url.netloc,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ[f"HTTP_{key}"] = value
    return environ


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
    answered: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):  # type: ignore[no-untyped-def]
        answered["status"], answered["headers"] = status, headers
        return lambda _data: None

    from . import faults

    # a call made while serving a request must not take that request's place in fault injection
    outer = getattr(faults.CURRENT, "environ", None)
    try:
        chunks = app(_environ(request, body), start_response)
        try:
            content = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
    finally:
        faults.CURRENT.environ = outer
    status = int(answered["status"].split(" ", 1)[0])
    return AWSResponse(request.url, status, dict(answered["headers"]), _Body(content))

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
