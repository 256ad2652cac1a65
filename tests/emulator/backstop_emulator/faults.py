"""Fault injection, set per test through the control endpoint.

- job failures: a backup/copy/restore job for a resource ends FAILED with a message
- slow jobs: a resource's jobs take a given number of seconds
- throttling: an API operation answers ThrottlingException (or the service's own
  throttling code) with a probability, optionally for the next N calls only
- capacity: RunInstances of an instance type in an AZ fails with InsufficientInstanceCapacity
- API errors: an operation answers a 5xx (InternalFailure, ServiceUnavailable) or has its
  connection reset, with a probability, for the next N calls, or on every Nth call
- latency: an operation answers only after a delay
- unreachable regions: every call signed for a region has its connection reset, like an
  endpoint that cannot be reached (static stability tests)
- handler crashes: a function's process is killed mid-invocation
- stale listings: ListExecutions leaves out executions started in the last N seconds (Step
  Functions API reference: ListExecutions is eventually consistent, "may not reflect very
  recent updates and changes")
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
import uuid
from typing import Any

from moto.core.responses import BaseResponse

from . import request_rates
from .internal import INTERNAL_USER_AGENT

# The error code each service's SDK recognises as throttling, by signing name.
# Faults name services by signing name too: backup, ec2, rds, route53, ssm, states, lambda, elasticfilesystem.
THROTTLING_CODES = {"ec2": "RequestLimitExceeded", "rds": "Throttling", "route53": "Throttling"}


class FaultState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.job_failures: list[dict[str, Any]] = []
        self.slow: dict[str, float] = {}
        self.throttles: list[dict[str, Any]] = []
        self.capacity: list[dict[str, str]] = []
        self.throttled_calls: dict[str, int] = {}
        self.api_errors: list[dict[str, Any]] = []
        self.latency: list[dict[str, Any]] = []
        self.unreachable_regions: set[str] = set()
        self.handler_kills: list[dict[str, Any]] = []
        self.injected_calls: dict[str, int] = {}
        self.stale_executions_seconds = 0.0

    def configure(self, spec: dict[str, Any]) -> None:
        """Adds the faults in `spec` (see the README of tests/emulator)."""
        with self.lock:
            for failure in spec.get("failJobs", []):
                keys = {failure.get("resourceArn"), failure.get("recoveryPointArn")} - {None}
                if not keys:
                    raise KeyError("failJobs needs resourceArn or recoveryPointArn")
                self.job_failures.append(
                    {
                        "jobType": failure.get("jobType", "restore"),
                        "keys": keys,
                        "message": failure.get("message", "Injected failure"),
                    }
                )
            for slow in spec.get("slowJobs", []):
                key = slow.get("resourceArn") or slow["recoveryPointArn"]
                self.slow[key] = float(slow["seconds"])
            for error in spec.get("apiErrors", []):
                code = error.get("error", "InternalFailure")
                if code not in API_ERRORS:
                    raise ValueError(f"apiErrors error {code!r} is not one of {sorted(API_ERRORS)}")
                self.api_errors.append(
                    {
                        "service": error["service"],
                        "operation": error.get("operation", "*"),
                        "error": code,
                        "probability": float(error.get("probability", 1.0)),
                        "remaining": error.get("count"),
                        "everyNth": int(error.get("everyNth", 0)),
                        "seen": 0,
                    }
                )
            for delay in spec.get("latency", []):
                self.latency.append(
                    {
                        "service": delay["service"],
                        "operation": delay.get("operation", "*"),
                        "ms": float(delay["ms"]),
                        "remaining": delay.get("count"),
                        # Lambda Invoke of this function only (served by the Lambda runner)
                        "function": delay.get("function"),
                    }
                )
            self.unreachable_regions.update(spec.get("unreachableRegions", []))
            if "staleListExecutionsSeconds" in spec:
                self.stale_executions_seconds = float(spec["staleListExecutionsSeconds"])
            for kill in spec.get("killHandler", []):
                self.handler_kills.append(
                    {"function": kill["function"], "afterSeconds": float(kill.get("afterSeconds", 0.05)), "remaining": int(kill.get("count", 1))}
                )
            for throttle in spec.get("throttle", []):
                self.throttles.append(
                    {
                        "service": throttle["service"],
                        "operation": throttle["operation"],
                        "probability": float(throttle.get("probability", 1.0)),
                        "remaining": throttle.get("count"),
                    }
                )
            for capacity in spec.get("insufficientCapacity", []):
                self.capacity.append(
                    {"instanceType": capacity["instanceType"], "availabilityZone": capacity.get("availabilityZone", "*")}
                )

    def job_failure(self, job_type: str, *keys: str | None) -> str | None:
        """The injected failure of a job, matched by its source resource or recovery point ARN."""
        with self.lock:
            for failure in self.job_failures:
                if failure["jobType"] == job_type and failure["keys"] & set(keys):
                    return failure["message"]
        return None

    def slow_seconds(self, *keys: str | None) -> float | None:
        with self.lock:
            for key in keys:
                if key in self.slow:
                    return self.slow[key]
        return None

    def api_error(self, service: str, operation: str) -> str | None:
        with self.lock:
            for error in self.api_errors:
                if error["service"] != service or error["operation"] not in ("*", operation):
                    continue
                if error["remaining"] is not None and error["remaining"] <= 0:
                    continue
                error["seen"] += 1
                if error["everyNth"] and error["seen"] % error["everyNth"] != 0:
                    continue
                if random.random() < error["probability"]:
                    if error["remaining"] is not None:
                        error["remaining"] -= 1
                    key = f"{service}:{operation}:{error['error']}"
                    self.injected_calls[key] = self.injected_calls.get(key, 0) + 1
                    return error["error"]
        return None

    def latency_ms(self, service: str, operation: str, function: str | None = None) -> float:
        with self.lock:
            total = 0.0
            for delay in self.latency:
                if delay["service"] != service or delay["operation"] not in ("*", operation):
                    continue
                if delay.get("function") != function:
                    continue
                if delay["remaining"] is not None:
                    if delay["remaining"] <= 0:
                        continue
                    delay["remaining"] -= 1
                total += delay["ms"]
            return total

    def region_unreachable(self, region: str) -> bool:
        with self.lock:
            if region in self.unreachable_regions:
                key = f"unreachable:{region}"
                self.injected_calls[key] = self.injected_calls.get(key, 0) + 1
                return True
        return False

    def handler_kill_after(self, function_name: str) -> float | None:
        """Seconds into the next invocation of the function at which its process is killed, if injected."""
        with self.lock:
            for kill in self.handler_kills:
                if kill["function"] == function_name and kill["remaining"] > 0:
                    kill["remaining"] -= 1
                    return kill["afterSeconds"]
        return None

    def should_throttle(self, service: str, operation: str) -> bool:
        with self.lock:
            for throttle in self.throttles:
                if throttle["service"] != service or throttle["operation"] not in ("*", operation):
                    continue
                if throttle["remaining"] is not None and throttle["remaining"] <= 0:
                    continue
                if random.random() < throttle["probability"]:
                    if throttle["remaining"] is not None:
                        throttle["remaining"] -= 1
                    key = f"{service}:{operation}"
                    self.throttled_calls[key] = self.throttled_calls.get(key, 0) + 1
                    return True
        return False

    def no_capacity(self, instance_type: str, availability_zone: str) -> bool:
        with self.lock:
            return any(
                c["instanceType"] == instance_type and c["availabilityZone"] in ("*", availability_zone)
                for c in self.capacity
            )

    def count_injected(self, key: str) -> None:
        with self.lock:
            self.injected_calls[key] = self.injected_calls.get(key, 0) + 1

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {"throttledCalls": dict(self.throttled_calls), "injectedCalls": dict(self.injected_calls)}


STATE = FaultState()

# 5xx errors an injected fault can answer with: (HTTP status, fault side); "ConnectionReset" resets the connection
API_ERRORS = {
    "InternalFailure": (500, "Receiver"),
    "ServiceUnavailable": (503, "Receiver"),
    "InternalServerError": (500, "Receiver"),
    "ConnectionReset": (0, ""),
}

# The WSGI environ of the request a thread is serving, so a fault can reach its socket.
CURRENT = threading.local()


class ConnectionResetByFault(Exception):
    """Raised after an injected fault has reset the client's connection: nothing is answered."""


def reset_connection(environ) -> None:  # type: ignore[no-untyped-def]
    """Closes the request's socket with a TCP RST, as a dropped or unreachable endpoint looks to a client."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("the request's socket is not reachable: cannot reset the connection")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def signing_region(headers) -> str:  # type: ignore[no-untyped-def]
    """The region the SDK signed for (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`)."""
    authorization = headers.get("Authorization", "")
    try:
        return authorization.split("Credential=", 1)[1].split("/")[2]
    except IndexError:
        return ""


# Global services answer from one region whatever a client signs for: Route 53's control
# plane is in us-east-1 (an SDK given a custom endpoint signs it with its own region).
_HOME_REGIONS = {"route53": "us-east-1"}


def serving_region(headers) -> str:  # type: ignore[no-untyped-def]
    """The region whose endpoint answers the call: a global service's home, else the signed one."""
    return _HOME_REGIONS.get(signing_service(headers), signing_region(headers))


def signing_service(headers) -> str:
    """The service name the SDK signed for (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`)."""
    authorization = headers.get("Authorization", "")
    try:
        return authorization.split("Credential=", 1)[1].split("/")[3]
    except IndexError:
        return ""


def throttling_response(
    service: str, action: str, headers, why: str = "injected by the emulator"
) -> tuple[int, dict[str, str], str]:
    """A throttling error in the wire protocol of the service, as its SDK expects it."""
    code = THROTTLING_CODES.get(service, "ThrottlingException")
    message = f"Rate exceeded ({why}) for {action}"
    restjson = not headers.get("X-Amz-Target") and "x-www-form-urlencoded" not in headers.get("Content-Type", "")
    status = 503 if service == "ec2" else 429 if restjson and service != "route53" else 400
    return error_response(service, headers, code, message, status, "Sender")


def error_response(
    service: str, headers, code: str, message: str, status: int, side: str
) -> tuple[int, dict[str, str], str]:
    """An error in the wire protocol of the service, as its SDK parses it."""
    request_id = str(uuid.uuid4())
    content_type = headers.get("Content-Type", "")
    if headers.get("X-Amz-Target"):  # awsJson protocols (ssm, states, ...)
        body = json.dumps({"__type": code, "message": message})
        return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}, body
    if service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        return status, {"Content-Type": "text/xml"}, body
    if "x-www-form-urlencoded" in content_type or service == "route53":  # query and rest-xml protocols
        body = (
            f"<ErrorResponse><Error><Type>{side}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return status, {"Content-Type": "text/xml"}, body
    body = json.dumps({"message": message})  # restJson protocols (backup, lambda, efs)
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}, body


def _throttling_call_action(original):
    def call_action(self: BaseResponse):
        if INTERNAL_USER_AGENT not in self.headers.get("User-Agent", ""):
            service = signing_service(self.headers)
            action = self._get_action()
            delay = STATE.latency_ms(service, action)
            if delay:
                time.sleep(delay / 1000)
            if action and STATE.should_throttle(service, action):
                status, headers, body = throttling_response(service, action, self.headers)
                headers["status"] = str(status)
                return status, headers, body
            if action and service == "ec2" and "aws-sdk-rust" in self.headers.get("User-Agent", ""):
                account = getattr(self, "current_account", "") or ""
                if not request_rates.take(account, signing_region(self.headers), action):
                    status, headers, body = throttling_response(
                        service, action, self.headers, "EC2's request rate limit for the action"
                    )
                    headers["status"] = str(status)
                    return status, headers, body
            error = STATE.api_error(service, action) if action else None
            if error == "ConnectionReset":
                reset_connection(CURRENT.environ)
                raise ConnectionResetByFault(f"{service}:{action}")
            if error:
                status, side = API_ERRORS[error]
                message = f"{error} (injected by the emulator) for {action}"
                status, headers, body = error_response(service, self.headers, error, message, status, side)
                headers["status"] = str(status)
                return status, headers, body
        return original(self)

    return call_action


def _capacity_run_instances(original):
    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        from moto.ec2.exceptions import EC2ClientError

        instance_type = kwargs.get("instance_type", "m1.small")
        zone = kwargs.get("placement")
        if not zone and kwargs.get("subnet_id"):
            zone = self.get_subnet(kwargs["subnet_id"]).availability_zone
        if STATE.no_capacity(instance_type, zone or ""):
            raise EC2ClientError(
                "InsufficientInstanceCapacity",
                f"We currently do not have sufficient {instance_type} capacity in the "
                f"Availability Zone you requested ({zone}). Our system will be working on "
                "provisioning additional capacity.",
            )
        return original(self, image_id, count, user_data, security_group_names, **kwargs)

    return run_instances


def _stale_list_executions(original):
    """Wraps the backend's paginated ListExecutions: (executions, next token)."""

    def list_executions(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        executions, next_token = original(self, *args, **kwargs)
        with STATE.lock:
            lag = STATE.stale_executions_seconds
        if lag <= 0:
            return executions, next_token
        from datetime import datetime, timedelta, timezone

        newest = datetime.now(timezone.utc) - timedelta(seconds=lag)

        def started(execution) -> datetime:  # type: ignore[no-untyped-def]
            start = execution.start_date
            return start if start.tzinfo else start.replace(tzinfo=timezone.utc)

        visible = [e for e in executions if started(e) <= newest]
        if len(visible) < len(executions):
            STATE.count_injected("staleListExecutions")
        return visible, next_token

    return list_executions


def install() -> None:
    from moto.ec2.models.instances import InstanceBackend
    from moto.stepfunctions.models import StepFunctionBackend

    StepFunctionBackend.list_executions = _stale_list_executions(StepFunctionBackend.list_executions)

    BaseResponse.call_action = _throttling_call_action(BaseResponse.call_action)
    InstanceBackend.run_instances = _capacity_run_instances(InstanceBackend.run_instances)
