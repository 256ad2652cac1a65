"""Systems Manager Run Command as AWS runs it (moto answers every command `Success` at once,
for any instance, without running anything).

- Managed nodes: an EC2 instance registers with Systems Manager only when it runs with an IAM
  instance profile (the agent needs its credentials) and its agent has started
  (`ssm.agentRegistration` AWS seconds after the instance left `pending`).
  `DescribeInstanceInformation` lists registered nodes (`PingStatus` `Online`, or
  `ConnectionLost` once stopped). `SendCommand` to an instance that is not a registered node
  fails with `InvalidInstanceId`, as in AWS: nothing is queued for it.
- Documents: AWS's `AWS-RunShellScript` exists in every region (owner `Amazon`); documents an
  account creates are moto's. `SendCommand` refuses a missing document (`InvalidDocument`),
  parameters the document does not declare or required ones left out (`InvalidParameters`), a
  `TimeoutSeconds` outside 30-2592000 and a `Comment` over 100 characters (validation).
- Invocations: one per instance, not visible to `GetCommandInvocation` for a moment after
  `SendCommand` (`InvocationDoesNotExist`, which the SSM API reference says to expect), then
  `Pending` -> `InProgress` -> `Success` / `Failed` (the exit code as `ResponseCode`) /
  `TimedOut` (`ExecutionTimedOut` after the document's `executionTimeout`), or `Cancelled` by
  `CancelCommand`. The `aws:runShellScript` steps really run: their commands, with the
  document's `{{ parameters }}` put in, as a shell script in a directory of the instance's own
  under the log directory (its file system: what one command writes, the next one reads). Output is kept as AWS keeps it in the response
  (the first 24,000 characters of standard output, 8,000 of standard error). An instance that
  stops or terminates before the command reaches it: `Undeliverable`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import aws_time

STDOUT_CHARS = 24_000
STDERR_CHARS = 8_000
# AWS seconds before a new invocation is visible, and before the agent picks it up
VISIBLE_AFTER = 2.0
DELIVERED_AFTER = 3.0

RUN_SHELL_SCRIPT = {
    "schemaVersion": "2.2",
    "description": "Run a shell script or specify the commands to run.",
    "parameters": {
        "commands": {"type": "StringList", "description": "(Required) Specify a shell script or a command to run."},
        "workingDirectory": {"type": "String", "default": "", "description": "(Optional) The path to the working directory on your instance."},
        "executionTimeout": {
            "type": "String",
            "default": "3600",
            "description": "(Optional) The time in seconds for a command to complete before it is considered to have failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours).",
            "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)",
        },
    },
    "mainSteps": [
        {
            "precondition": {"StringEquals": ["platformType", "Linux"]},
            "action": "aws:runShellScript",
            "name": "runShellScript",
            "inputs": {
                "runCommand": "{{ commands }}",
                "workingDirectory": "{{ workingDirectory }}",
                "timeoutSeconds": "{{ executionTimeout }}",
            },
        }
    ],
}
AWS_DOCUMENTS = {"AWS-RunShellScript": RUN_SHELL_SCRIPT}

_lock = threading.Lock()
_log_dir = Path("/tmp")


@dataclass
class Invocation:
    command_id: str
    instance_id: str
    account: str
    region: str
    comment: str
    document_name: str
    script: list[str]
    working_directory: str
    execution_timeout: float  # AWS seconds
    requested: float
    status: str = "Pending"
    status_details: str = "Pending"
    response_code: int = -1
    stdout: str = ""
    stderr: str = ""
    started: float | None = None
    ended: float | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    cancelled: bool = False

    def describe(self) -> dict[str, Any]:
        def at(moment: float | None) -> str:
            if moment is None:
                return ""
            return datetime.fromtimestamp(moment, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        return {
            "CommandId": self.command_id,
            "InstanceId": self.instance_id,
            "Comment": self.comment,
            "DocumentName": self.document_name,
            "DocumentVersion": "$DEFAULT",
            "PluginName": "runShellScript",
            "ResponseCode": self.response_code,
            "ExecutionStartDateTime": at(self.started),
            "ExecutionElapsedTime": "" if self.started is None else f"PT{((self.ended or time.time()) - self.started) / aws_time.SCALE:.3f}S",
            "ExecutionEndDateTime": at(self.ended),
            "Status": self.status,
            "StatusDetails": self.status_details,
            "StandardOutputContent": self.stdout[:STDOUT_CHARS],
            "StandardOutputUrl": "",
            "StandardErrorContent": self.stderr[:STDERR_CHARS],
            "StandardErrorUrl": "",
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        }


@dataclass
class Command:
    command_id: str
    account: str
    region: str
    comment: str
    document_name: str
    parameters: dict[str, list[str]]
    instance_ids: list[str]
    timeout_seconds: int
    requested: float
    invocations: list[Invocation]

    def status(self) -> str:
        states = [i.status for i in self.invocations]
        if any(s in ("Pending", "InProgress", "Delayed") for s in states):
            return "InProgress"
        if all(s == "Success" for s in states):
            return "Success"
        if any(s == "Cancelled" for s in states):
            return "Cancelled"
        if any(s == "TimedOut" for s in states):
            return "TimedOut"
        return "Failed"

    def describe(self) -> dict[str, Any]:
        requested = datetime.fromtimestamp(self.requested, tz=timezone.utc)
        done = [i for i in self.invocations if i.status not in ("Pending", "InProgress", "Delayed")]
        return {
            "CommandId": self.command_id,
            "DocumentName": self.document_name,
            "DocumentVersion": "$DEFAULT",
            "Comment": self.comment,
            "ExpiresAfter": datetime.fromtimestamp(
                self.requested + self.timeout_seconds * aws_time.SCALE, tz=timezone.utc
            ),
            "Parameters": self.parameters,
            "InstanceIds": self.instance_ids,
            "Targets": [],
            "RequestedDateTime": requested,
            "Status": self.status(),
            "StatusDetails": self.status(),
            "MaxConcurrency": "50",
            "MaxErrors": "0",
            "TargetCount": len(self.invocations),
            "CompletedCount": len(done),
            "ErrorCount": sum(1 for i in done if i.status != "Success"),
            "DeliveryTimedOutCount": sum(1 for i in done if i.status_details == "DeliveryTimedOut"),
            "TimeoutSeconds": self.timeout_seconds,
        }


COMMANDS: dict[str, Command] = {}


def reset() -> None:
    with _lock:
        for command in COMMANDS.values():
            for invocation in command.invocations:
                _kill(invocation)
        COMMANDS.clear()


def _kill(invocation: Invocation) -> None:
    process = invocation.process
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _instance(account: str, region: str, instance_id: str) -> Any:
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account][region]
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            if instance.id == instance_id:
                return instance
    return None


def _registered_at(instance: Any) -> float | None:
    """When the instance's agent registered (real time), or None if it never will yet."""
    if instance is None or not getattr(instance, "iam_instance_profile", None):
        return None
    launched = getattr(instance, "_backstop_launched", None)
    if launched is None:
        return 0.0
    return launched + aws_time.lifecycle_seconds("ec2.pending") + aws_time.lifecycle_seconds("ssm.agentRegistration")


def ping_status(account: str, region: str, instance_id: str, now: float) -> str | None:
    """`Online` / `ConnectionLost` for a registered node, None for an instance that is not one."""
    instance = _instance(account, region, instance_id)
    registered = _registered_at(instance)
    if registered is None or now < registered:
        return None
    if instance.state == "running":
        return "Online"
    if instance.state in ("stopping", "stopped"):
        return "ConnectionLost"
    return None


def _document(account: str, region: str, name: str) -> dict[str, Any]:
    if name in AWS_DOCUMENTS:
        return AWS_DOCUMENTS[name]
    from moto.ssm.models import ssm_backends

    documents = ssm_backends[account][region]._documents.get(name)
    if documents is None:
        raise _error("InvalidDocument", f"Document with name {name} does not exist.")
    document = documents.get_default_version()
    if document.document_type != "Command":
        raise _error("InvalidDocument", f"Document {name} is not of type Command.")
    return document.content_json


PARAMETER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


def _resolve(document: dict[str, Any], given: dict[str, list[str]]) -> dict[str, list[str]]:
    declared = document.get("parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise _error("InvalidParameters", f"Parameter \"{unknown[0]}\" is not defined in the document.")
    values: dict[str, list[str]] = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
        elif "default" in spec:
            default = spec["default"]
            value = default if isinstance(default, list) else [str(default)]
        else:
            raise _error("InvalidParameters", f"Parameter \"{name}\" is required but was not provided.")
        pattern = spec.get("allowedPattern")
        if pattern and not all(re.fullmatch(pattern, v) for v in value):
            raise _error("InvalidParameters", f"Parameter \"{name}\" \"{value}\" failed to satisfy constraint: allowedPattern {pattern}.")
        values[name] = value
    return values


def _script(document: dict[str, Any], values: dict[str, list[str]]) -> tuple[list[str], str, float]:
    """The shell lines of the document's `aws:runShellScript` steps, the working directory,
    and the execution timeout (AWS seconds)."""

    def text(template: Any) -> str:
        return PARAMETER.sub(lambda m: "\n".join(values.get(m.group(1), [m.group(0)])), str(template))

    lines: list[str] = []
    working_directory = ""
    timeout = 3600.0
    for step in document.get("mainSteps") or []:
        if step.get("action") != "aws:runShellScript":
            continue
        inputs = step.get("inputs") or {}
        run = inputs.get("runCommand", [])
        if isinstance(run, str):
            lines.extend(text(run).split("\n"))
        else:
            lines.extend(text(line) for line in run)
        working_directory = text(inputs.get("workingDirectory", "")) or working_directory
        if inputs.get("timeoutSeconds"):
            try:
                timeout = float(text(inputs["timeoutSeconds"]))
            except ValueError:
                pass
    return lines, working_directory, timeout


def send_command(account: str, region: str, request: dict[str, Any]) -> Command:
    comment = request.get("Comment") or ""
    if len(comment) > 100:
        raise _error("ValidationException", "1 validation error detected: Value at 'comment' failed to satisfy constraint: Member must have length less than or equal to 100")
    timeout_seconds = int(request.get("TimeoutSeconds") or 3600)
    if not 30 <= timeout_seconds <= 2_592_000:
        raise _error("ValidationException", "1 validation error detected: Value at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000")
    instance_ids = list(request.get("InstanceIds") or [])
    if not instance_ids or len(instance_ids) > 50:
        raise _error("ValidationException", "InstanceIds must name 1 to 50 managed nodes (this emulator has no Targets).")
    name = request.get("DocumentName") or ""
    document = _document(account, region, name)
    values = _resolve(document, request.get("Parameters") or {})
    script, working_directory, execution_timeout = _script(document, values)
    now = time.time()
    for instance_id in instance_ids:
        if ping_status(account, region, instance_id, now) != "Online":
            raise _error("InvalidInstanceId", "Instances not in a valid state for account")
    command_id = str(uuid.uuid4())
    invocations = [
        Invocation(
            command_id=command_id,
            instance_id=instance_id,
            account=account,
            region=region,
            comment=comment,
            document_name=name,
            script=script,
            working_directory=working_directory,
            execution_timeout=execution_timeout,
            requested=now,
        )
        for instance_id in sorted(set(instance_ids), key=instance_ids.index)
    ]
    command = Command(
        command_id=command_id,
        account=account,
        region=region,
        comment=comment,
        document_name=name,
        parameters=request.get("Parameters") or {},
        instance_ids=instance_ids,
        timeout_seconds=timeout_seconds,
        requested=now,
        invocations=invocations,
    )
    with _lock:
        COMMANDS[command_id] = command
    for invocation in invocations:
        threading.Thread(target=_run, args=(command, invocation), daemon=True).start()
    return command


def _run(command: Command, invocation: Invocation) -> None:
    time.sleep(DELIVERED_AFTER * aws_time.SCALE)
    if invocation.cancelled:
        return
    if ping_status(invocation.account, invocation.region, invocation.instance_id, time.time()) != "Online":
        with _lock:
            invocation.status, invocation.status_details = "Failed", "Undeliverable"
            invocation.ended = time.time()
        return
    # the instance's own directory stands in for its file system: what one command writes,
    # the next one on the instance reads
    workdir = _log_dir / "ssm" / invocation.region / invocation.instance_id
    (workdir / ".commands").mkdir(parents=True, exist_ok=True)
    script = workdir / ".commands" / f"{invocation.command_id}.sh"
    script.write_text("\n".join(invocation.script) + "\n")
    cwd = workdir
    if invocation.working_directory:
        cwd = workdir / invocation.working_directory.lstrip("/")
        cwd.mkdir(parents=True, exist_ok=True)
    with _lock:
        if invocation.cancelled:
            return
        invocation.status = invocation.status_details = "InProgress"
        invocation.started = time.time()
        invocation.process = subprocess.Popen(
            ["/bin/sh", str(script)],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", "HOME": str(workdir), "AWS_SSM_INSTANCE_ID": invocation.instance_id, "AWS_SSM_REGION_NAME": invocation.region},
            start_new_session=True,
        )
    timed_out = False
    try:
        out, err = invocation.process.communicate(timeout=invocation.execution_timeout * aws_time.SCALE)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(invocation)
        out, err = invocation.process.communicate()
    with _lock:
        invocation.stdout = out.decode(errors="replace")
        invocation.stderr = err.decode(errors="replace")
        invocation.ended = time.time()
        if invocation.cancelled:
            invocation.status = invocation.status_details = "Cancelled"
        elif timed_out:
            invocation.status, invocation.status_details = "TimedOut", "ExecutionTimedOut"
        else:
            code = invocation.process.returncode
            invocation.response_code = code
            invocation.status = invocation.status_details = "Success" if code == 0 else "Failed"


def get_invocation(account: str, region: str, command_id: str, instance_id: str) -> dict[str, Any]:
    with _lock:
        command = COMMANDS.get(command_id)
        if command is None or (command.account, command.region) != (account, region):
            raise _error("InvalidCommandId", f"Command {command_id} does not exist.")
        if time.time() - command.requested < VISIBLE_AFTER * aws_time.SCALE:
            raise _error("InvocationDoesNotExist", "")
        for invocation in command.invocations:
            if invocation.instance_id == instance_id:
                return invocation.describe()
    raise _error("InvocationDoesNotExist", "")


def cancel(account: str, region: str, command_id: str, instance_ids: list[str]) -> None:
    with _lock:
        command = COMMANDS.get(command_id)
        if command is None or (command.account, command.region) != (account, region):
            raise _error("InvalidCommandId", f"Command {command_id} does not exist.")
        for invocation in command.invocations:
            if instance_ids and invocation.instance_id not in instance_ids:
                continue
            if invocation.status in ("Pending", "InProgress", "Delayed"):
                invocation.cancelled = True
                invocation.status_details = "Cancelling"
                if invocation.process is None:
                    invocation.status = invocation.status_details = "Cancelled"
                    invocation.ended = time.time()
                else:
                    _kill(invocation)


def list_commands(account: str, region: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    command_id = request.get("CommandId")
    instance_id = request.get("InstanceId")
    filters = {f["key"] if "key" in f else f["Key"]: f.get("value", f.get("Value")) for f in request.get("Filters") or []}
    with _lock:
        commands = [
            c
            for c in COMMANDS.values()
            if (c.account, c.region) == (account, region)
            and (not command_id or c.command_id == command_id)
            and (not instance_id or instance_id in c.instance_ids)
            and (not filters.get("DocumentName") or c.document_name == filters["DocumentName"])
        ]
        return [c.describe() for c in sorted(commands, key=lambda c: -c.requested)]


def describe_instance_information(account: str, region: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    from moto.ec2.models import ec2_backends

    wanted: set[str] | None = None
    for spec in (request.get("Filters") or []) + (request.get("InstanceInformationFilterList") or []):
        key = spec.get("Key") or spec.get("key")
        if key in ("InstanceIds", "InstanceId"):
            values = spec.get("Values") or spec.get("valueSet") or []
            wanted = set(values) if wanted is None else wanted & set(values)
    now = time.time()
    nodes = []
    for reservation in ec2_backends[account][region].reservations.values():
        for instance in reservation.instances:
            if wanted is not None and instance.id not in wanted:
                continue
            status = ping_status(account, region, instance.id, now)
            if status is None:
                continue
            nodes.append(
                {
                    "InstanceId": instance.id,
                    "PingStatus": status,
                    "LastPingDateTime": datetime.fromtimestamp(now, tz=timezone.utc),
                    "AgentVersion": "3.3.0.0",
                    "IsLatestVersion": True,
                    "PlatformType": "Linux",
                    "PlatformName": "Amazon Linux",
                    "ResourceType": "EC2Instance",
                    "IPAddress": instance.private_ip,
                    "ComputerName": f"ip-{instance.private_ip.replace('.', '-')}",
                }
            )
    return nodes


def install(log_dir: str) -> None:
    global _log_dir
    _log_dir = Path(log_dir)
    from moto.core.responses import ActionResult
    from moto.ssm.models import Document, Documents, SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse as Response

    original_get_documents = SimpleSystemManagerBackend._get_documents

    def get_documents(self, name):  # type: ignore[no-untyped-def]
        # AWS's own documents exist in every region, owned by Amazon
        if name in AWS_DOCUMENTS and name not in self._documents:
            document = Document(
                account_id="Amazon",
                name=name,
                version_name="",
                content=json.dumps(AWS_DOCUMENTS[name]),
                document_type="Command",
                document_format="JSON",
                requires=[],
                attachments=[],
                target_type="/AWS::EC2::Instance",
            )
            self._documents[name] = Documents(document)
        return original_get_documents(self, name)

    SimpleSystemManagerBackend._get_documents = get_documents

    def request(self):  # type: ignore[no-untyped-def]
        return json.loads(self.body or "{}")

    def send(self):  # type: ignore[no-untyped-def]
        command = send_command(self.current_account, self.region, request(self))
        return ActionResult({"Command": command.describe()})

    def invocation(self):  # type: ignore[no-untyped-def]
        body = request(self)
        return ActionResult(get_invocation(self.current_account, self.region, body.get("CommandId", ""), body.get("InstanceId", "")))

    def cancel_command(self):  # type: ignore[no-untyped-def]
        body = request(self)
        cancel(self.current_account, self.region, body.get("CommandId", ""), body.get("InstanceIds") or [])
        return ActionResult({})

    def commands(self):  # type: ignore[no-untyped-def]
        return ActionResult({"Commands": list_commands(self.current_account, self.region, request(self))})

    def information(self):  # type: ignore[no-untyped-def]
        nodes = describe_instance_information(self.current_account, self.region, request(self))
        return ActionResult({"InstanceInformationList": nodes})

    Response.send_command = send
    Response.get_command_invocation = invocation
    Response.cancel_command = cancel_command
    Response.list_commands = commands
    Response.describe_instance_information = information
