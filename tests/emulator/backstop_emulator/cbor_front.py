"""CloudWatch over Smithy RPC v2 CBOR, the protocol the AWS SDK for Rust speaks to it.

moto serves CloudWatch's JSON 1.0 protocol (what botocore picks) but not RPC v2 CBOR
(`POST /service/GraniteServiceVersion20100801/operation/<Operation>`, `smithy-protocol:
rpc-v2-cbor`, CBOR bodies). This front decodes such a request into the same operation in JSON
1.0, lets moto answer it, and encodes the answer back as RPC v2 CBOR (Smithy's "RPC v2 CBOR
protocol" page): timestamps as CBOR tag 1 (epoch seconds), errors with `__type` and the
`smithy-protocol` header on every response.
"""

from __future__ import annotations

import datetime
import gzip
import io
import json
from typing import Any, Callable

import cbor2

PREFIX = "/service/"
# the services this front serves, by their target prefix
_SERVICES = {"GraniteServiceVersion20100801"}


def operation(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(target prefix, operation) of an RPC v2 CBOR request this front serves, else None."""
    path = environ.get("PATH_INFO", "")
    if not path.startswith(PREFIX) or environ.get("HTTP_SMITHY_PROTOCOL") != "rpc-v2-cbor":
        return None
    parts = path[len(PREFIX) :].split("/")
    if len(parts) != 3 or parts[1] != "operation" or parts[0] not in _SERVICES:
        return None
    return parts[0], parts[2]


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        return float(value.value)
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    return value


def _to_cbor(value: Any, key: str = "") -> Any:
    # JSON 1.0 sends timestamps as epoch numbers; CBOR marks them with tag 1
    if key.endswith("Timestamp") and isinstance(value, (int, float)):
        return cbor2.CBORTag(1, value)
    if isinstance(value, dict):
        return {k: _to_cbor(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cbor(item, key) for item in value]
    return value


def serve(environ: dict[str, Any], start_response: Callable, app: Callable, target: tuple[str, str]):
    prefix, name = target
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        raw = gzip.decompress(raw)
    request = cbor2.loads(raw) if raw else {}
    body = json.dumps(_to_json(request)).encode()
    inner = dict(environ)
    inner.update(
        {
            "PATH_INFO": "/",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_AMZ_TARGET": f"{prefix}.{name}",
            "wsgi.input": io.BytesIO(body),
        }
    )
    inner.pop("HTTP_CONTENT_ENCODING", None)
    captured: dict[str, Any] = {}

    def capture(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
        captured["status"] = status
        captured["headers"] = headers
        return lambda data: None

    answer = b"".join(app(inner, capture))
    status = captured.get("status", "500 Internal Server Error")
    try:
        document = json.loads(answer) if answer.strip() else {}
    except ValueError:
        document = {"__type": "InternalFailure", "message": answer.decode(errors="replace")}
    if not status.startswith("2"):
        code = str(document.get("__type") or document.get("Error", {}).get("Code") or "InternalFailure")
        document = {"__type": code.split("#")[-1], "message": document.get("message") or document.get("Message", "")}
    payload = cbor2.dumps(_to_cbor(document))
    start_response(
        status,
        [
            ("Content-Type", "application/cbor"),
            ("Content-Length", str(len(payload))),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("x-amzn-RequestId", dict(captured.get("headers", [])).get("x-amzn-RequestId", "0")),
        ],
    )
    return [payload]
