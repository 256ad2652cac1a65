"""Fault injection, set per test through the control endpoint.

- job failures: a backup/copy/restore job for a resource ends FAILED with a message
- slow jobs: a resource's jobs take a given number of seconds
- throttling: an API operation answers ThrottlingException (or the service's own
  throttling code) with a probability, optionally for the next N calls only
- capacity: RunInstances of an instance type in an AZ fails with InsufficientInstanceCapacity
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from typing import Any

from moto.core.responses import BaseResponse

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

    def configure(self, spec: dict[str, Any]) -> None:
        """Adds the faults in `spec` (see the README of tests/emulator)."""
        with self.lock:
            for failure in spec.get("failJobs", []):
                self.job_failures.append(
                    {
                        "jobType": failure.get("jobType", "restore"),
                        "resourceArn": failure["resourceArn"],
                        "message": failure.get("message", "Injected failure"),
                    }
                )
            for slow in spec.get("slowJobs", []):
                self.slow[slow["resourceArn"]] = float(slow["seconds"])
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

    def job_failure(self, job_type: str, resource_arn: str) -> str | None:
        with self.lock:
            for failure in self.job_failures:
                if failure["jobType"] == job_type and failure["resourceArn"] == resource_arn:
                    return failure["message"]
        return None

    def slow_seconds(self, resource_arn: str) -> float | None:
        with self.lock:
            return self.slow.get(resource_arn)

    def should_throttle(self, service: str, operation: str) -> bool:
        with self.lock:
            for throttle in self.throttles:
                if throttle["service"] != service or throttle["operation"] != operation:
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

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {"throttledCalls": dict(self.throttled_calls)}


STATE = FaultState()


def _signing_service(headers) -> str:
    """The service name the SDK signed for (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`)."""
    authorization = headers.get("Authorization", "")
    try:
        return authorization.split("Credential=", 1)[1].split("/")[3]
    except IndexError:
        return ""


def throttling_response(service: str, action: str, headers) -> tuple[int, dict[str, str], str]:
    """A throttling error in the wire protocol of the service, as its SDK expects it."""
    code = THROTTLING_CODES.get(service, "ThrottlingException")
    message = f"Rate exceeded (injected by the emulator) for {action}"
    request_id = str(uuid.uuid4())
    content_type = headers.get("Content-Type", "")
    if headers.get("X-Amz-Target"):  # awsJson protocols (ssm, states, ...)
        body = json.dumps({"__type": code, "message": message})
        return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}, body
    if service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        return 503, {"Content-Type": "text/xml"}, body
    if "x-www-form-urlencoded" in content_type or service == "route53":  # query and rest-xml protocols
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return 400, {"Content-Type": "text/xml"}, body
    body = json.dumps({"message": message})  # restJson protocols (backup, lambda, efs)
    return 429, {"Content-Type": "application/json", "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}, body


def _throttling_call_action(original):
    def call_action(self: BaseResponse):
        if INTERNAL_USER_AGENT not in self.headers.get("User-Agent", ""):
            service = _signing_service(self.headers)
            action = self._get_action()
            if action and STATE.should_throttle(service, action):
                status, headers, body = throttling_response(service, action, self.headers)
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


def install() -> None:
    from moto.ec2.models.instances import InstanceBackend

    BaseResponse.call_action = _throttling_call_action(BaseResponse.call_action)
    InstanceBackend.run_instances = _capacity_run_instances(InstanceBackend.run_instances)
