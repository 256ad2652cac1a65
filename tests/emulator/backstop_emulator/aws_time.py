"""Time as AWS takes it: how long things take, in AWS seconds, run at the emulator's time scale.

Every duration here is what AWS typically takes (figures and sources in the README), and the
emulator waits `aws_seconds * SCALE` real seconds. The same scale shortens Step Functions Wait and
Retry delays and Lambda timeouts, so a handler that waits longer than its function's Timeout on
AWS does so here too.

Lifecycles added to moto (which makes everything ready at once):
- EC2 instance `pending` -> `running`, then instance and system status `initializing` -> `ok`
  (a stopped instance started again too, its LaunchTime then the start's)
- EBS attachment `attaching` -> `attached` (volume `in-use` from the start, as AWS reports)
- an RDS instance restored by AWS Backup `creating` -> `backing-up` -> `available`
- a Route 53 change `PENDING` -> `INSYNC`
- a CloudFormation stack `CREATE_IN_PROGRESS` -> `CREATE_COMPLETE` (no outputs before), and
  `DELETE_IN_PROGRESS` -> `DELETE_COMPLETE` (see cloudformation.py)
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from typing import Any

SCALE = 1.0

DEFAULTS: dict[str, Any] = {
    # job type -> resource type -> {"base": AWS seconds, "perGiB": AWS seconds per GiB of the backup}
    "backup": {
        "Storage Gateway": {"base": 300, "perGiB": 2.0},
        "EBS": {"base": 300, "perGiB": 2.0},
        "RDS": {"base": 600, "perGiB": 3.0},
        "EFS": {"base": 600, "perGiB": 4.0},
        "EC2": {"base": 420, "perGiB": 2.0},
    },
    "copy": {
        "Storage Gateway": {"base": 600, "perGiB": 6.0},
        "EBS": {"base": 600, "perGiB": 6.0},
        "RDS": {"base": 900, "perGiB": 6.0},
        "EFS": {"base": 900, "perGiB": 8.0},
        "EC2": {"base": 720, "perGiB": 6.0},
    },
    "restore": {
        "Storage Gateway": {"base": 180, "perGiB": 0.5},
        "EBS": {"base": 180, "perGiB": 0.5},
        "RDS": {"base": 900, "perGiB": 3.0},
        "EFS": {"base": 600, "perGiB": 6.0},
        "EC2": {"base": 420, "perGiB": 1.0},
    },
    # resource lifecycles, AWS seconds
    "lifecycle": {
        "ec2.pending": 30,  # pending -> running
        "ec2.statusChecks": 150,  # running -> instance/system status ok
        "ebs.attaching": 8,  # attaching -> attached
        # the SSM agent starts at boot and registers the instance as a managed node
        "ssm.agentRegistration": 60,
        # fast snapshot restore (EBS user guide): enabling -> optimizing, 60 minutes per TiB of
        # the snapshot -> enabled; disabling -> disabled
        "ebs.fsrEnabling": 60,
        "ebs.fsrOptimizingPerTiB": 3600,
        "ebs.fsrDisabling": 60,
        "rds.creating": 240,  # restored DB: creating -> backing-up
        "rds.backingUp": 180,  # backing-up -> available
        "route53.propagation": 45,  # PENDING -> INSYNC
        # a VPC, two subnets, two security groups and a DB subnet group: about two minutes
        "cloudformation.create": 120,  # CREATE_IN_PROGRESS -> CREATE_COMPLETE
        "cloudformation.delete": 90,  # DELETE_IN_PROGRESS -> DELETE_COMPLETE
    },
}

_lock = threading.Lock()
_durations: dict[str, Any] = copy.deepcopy(DEFAULTS)


def reset() -> None:
    global _durations
    with _lock:
        _durations = copy.deepcopy(DEFAULTS)


def configure(spec: dict[str, Any]) -> dict[str, Any]:
    """Overrides durations: `{"restore": {"RDS": 120 | {"base":..,"perGiB":..}}, "lifecycle": {...}}`."""
    with _lock:
        for group, values in spec.items():
            if group not in _durations:
                raise KeyError(f"unknown duration group {group!r}: one of {sorted(_durations)}")
            for key, value in values.items():
                if group == "lifecycle":
                    if key not in _durations[group]:
                        raise KeyError(f"unknown lifecycle {key!r}: one of {sorted(_durations[group])}")
                    _durations[group][key] = float(value)
                elif isinstance(value, dict):
                    _durations[group][key] = {"base": float(value.get("base", 0)), "perGiB": float(value.get("perGiB", 0))}
                else:
                    _durations[group][key] = {"base": float(value), "perGiB": 0.0}
        return copy.deepcopy(_durations)


def job_seconds(job_type: str, resource_type: str, size_bytes: int) -> float:
    """Real seconds a job takes: (base + perGiB * size) AWS seconds at the time scale."""
    with _lock:
        spec = _durations[job_type].get(resource_type, {"base": 300, "perGiB": 0})
    return (spec["base"] + spec["perGiB"] * size_bytes / 1024**3) * SCALE


def lifecycle_seconds(name: str) -> float:
    with _lock:
        return float(_durations["lifecycle"][name]) * SCALE


def _elapsed(obj: Any, attribute: str) -> float | None:
    started = getattr(obj, attribute, None)
    return None if started is None else time.time() - started


def _install_ec2() -> None:
    from moto.ec2.models.elastic_block_store import EBSBackend, VolumeAttachment
    from moto.ec2.models.instances import Instance, InstanceBackend, InstanceState
    from moto.ec2.exceptions import EC2ClientError

    original_run = InstanceBackend.run_instances

    def run_instances(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        reservation = original_run(self, *args, **kwargs)
        now = time.time()
        for instance in reservation.instances:
            instance._backstop_launched = now
        return reservation

    def phase(instance: Instance) -> str:
        """pending | initializing | ok, for an instance moto calls running."""
        elapsed = _elapsed(instance, "_backstop_launched")
        if elapsed is None:
            return "ok"
        pending = lifecycle_seconds("ec2.pending")
        if elapsed < pending:
            return "pending"
        if elapsed < pending + lifecycle_seconds("ec2.statusChecks"):
            return "initializing"
        return "ok"

    def get_state(self):  # type: ignore[no-untyped-def]
        state = self.__dict__["_state"]
        if state.name == "running" and phase(self) == "pending":
            return InstanceState("pending", 0)
        return state

    def set_state(self, value):  # type: ignore[no-untyped-def]
        self.__dict__["_state"] = value

    def status(kind: str):  # type: ignore[no-untyped-def]
        def getter(self):  # type: ignore[no-untyped-def]
            if self.state_code != 16:
                return {"Status": "not-applicable"}
            current = phase(self)
            detail = "passed" if current == "ok" else "initializing"
            return {"Details": [{"Name": "reachability", "Status": detail}], "Status": current}

        return property(getter)

    Instance._state = property(get_state, set_state)

    original_terminate = Instance.terminate

    def terminate(self):  # type: ignore[no-untyped-def]
        # moto sets the state object's name in place: while `pending` is shown, that object is
        # a stand-in and the instance would stay as it was. EC2 terminates a pending instance.
        previous = get_state(self)
        self.__dict__.pop("_backstop_launched", None)
        original_terminate(self)
        return previous

    Instance.terminate = terminate

    def refused_while_pending(original, verb: str):  # type: ignore[no-untyped-def]
        # moto would change the stand-in `pending` state object and keep the instance as it
        # was, silently; EC2 refuses to stop (or start) an instance that is still pending
        def change(self):  # type: ignore[no-untyped-def]
            if self.__dict__["_state"].name == "running" and phase(self) == "pending":
                raise EC2ClientError(
                    "IncorrectInstanceState",
                    f"This instance '{self.id}' is not in a state from which it can be {verb}.",
                )
            return original(self)

        return change

    Instance.stop = refused_while_pending(Instance.stop, "stopped")
    pending_start = refused_while_pending(Instance.start, "started")

    def start(self):  # type: ignore[no-untyped-def]
        # EC2 API reference, Instance: LaunchTime is "the time that the instance was last
        # launched"; a stopped instance started again is `pending` first (moto keeps the first
        # launch time and runs at once)
        was_stopped = self.__dict__["_state"].name == "stopped"
        previous = pending_start(self)
        if was_stopped:
            from moto.core.utils import utcnow

            self.launch_time = utcnow()
            self._backstop_launched = time.time()
        return previous

    Instance.start = start
    Instance.instance_status = status("instance")
    Instance.system_status = status("system")
    InstanceBackend.run_instances = run_instances

    original_attach = EBSBackend.attach_volume

    def attach_volume(self, volume_id, instance_id, device_path, *args, **kwargs):  # type: ignore[no-untyped-def]
        instance = self.get_instance(instance_id)
        if instance.state not in ("running", "stopped"):
            raise EC2ClientError(
                "IncorrectState",
                f"Instance '{instance_id}' is not 'running'.",
            )
        attachment = original_attach(self, volume_id, instance_id, device_path, *args, **kwargs)
        attachment._backstop_attached = time.time()
        return attachment

    def attachment_status(self):  # type: ignore[no-untyped-def]
        stored = self.__dict__.get("_backstop_status", "attached")
        elapsed = _elapsed(self, "_backstop_attached")
        if stored == "attached" and elapsed is not None and elapsed < lifecycle_seconds("ebs.attaching"):
            return "attaching"
        return stored

    def set_attachment_status(self, value):  # type: ignore[no-untyped-def]
        self.__dict__["_backstop_status"] = value

    VolumeAttachment.status = property(attachment_status, set_attachment_status)
    EBSBackend.attach_volume = attach_volume


def mark_restored_db_instance(account: str, region: str, identifier: str) -> None:
    """A DB instance AWS Backup restores goes through creating and backing-up before available."""
    from moto.rds.models import rds_backends

    db = rds_backends[account][region].databases.get(identifier)
    if db is not None:
        db._backstop_created = time.time()


def _install_rds() -> None:
    from moto.rds.models import DBInstance

    def get_status(self):  # type: ignore[no-untyped-def]
        stored = self.__dict__.get("_backstop_status", "available")
        elapsed = _elapsed(self, "_backstop_created")
        if stored == "available" and elapsed is not None:
            creating = lifecycle_seconds("rds.creating")
            if elapsed < creating:
                return "creating"
            if elapsed < creating + lifecycle_seconds("rds.backingUp"):
                return "backing-up"
        return stored

    def set_status(self, value):  # type: ignore[no-untyped-def]
        self.__dict__["_backstop_status"] = value

    DBInstance.status = property(get_status, set_status)


_changes: dict[str, float] = {}


def _install_route53() -> None:
    from moto.route53.exceptions import Route53ClientError
    from moto.route53.responses import Route53

    original_change = Route53.change_resource_record_sets

    def change_resource_record_sets(self):  # type: ignore[no-untyped-def]
        result = original_change(self)
        change_id = f"C{uuid.uuid4().hex[:20].upper()}"
        _changes[change_id] = time.time()
        info = result.result["ChangeInfo"] if hasattr(result, "result") else None
        if info is not None:
            info["Id"] = f"/change/{change_id}"
            info["Status"] = "PENDING"
        return result

    original_get = Route53.get_change

    def get_change(self):  # type: ignore[no-untyped-def]
        result = original_get(self)
        change_id = self._get_param("Id").rsplit("/", 1)[-1]
        submitted = _changes.get(change_id)
        if submitted is None:
            raise Route53ClientError("NoSuchChange", f"A change with the specified change ID does not exist: {change_id}")
        info = result.result["ChangeInfo"]
        info["Id"] = f"/change/{change_id}"
        info["Status"] = "INSYNC" if time.time() - submitted >= lifecycle_seconds("route53.propagation") else "PENDING"
        return result

    Route53.change_resource_record_sets = change_resource_record_sets
    Route53.get_change = get_change


def settle() -> None:
    """Makes everything that exists now long settled: the seeded world was built before the disaster."""
    from moto.ec2.models import ec2_backends
    from moto.rds.models import rds_backends

    for backend in _all_backends(ec2_backends):
        for reservation in backend.reservations.values():
            for instance in reservation.instances:
                instance.__dict__.pop("_backstop_launched", None)
        for volume in backend.volumes.values():
            if volume.attachment is not None:
                volume.attachment.__dict__.pop("_backstop_attached", None)
    for backend in _all_backends(rds_backends):
        for db in backend.databases.values():
            db.__dict__.pop("_backstop_created", None)
    for change in list(_changes):
        _changes[change] = 0.0


def _all_backends(backends):  # type: ignore[no-untyped-def]
    for account in list(backends.keys()):
        for region in list(backends[account].keys()):
            yield backends[account][region]


def install(scale: float) -> None:
    global SCALE
    SCALE = scale
    _install_ec2()
    _install_rds()
    _install_route53()


def describe() -> str:
    return json.dumps({"scale": SCALE, "durations": _durations})
