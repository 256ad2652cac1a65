"""Lambda without Docker: an invocation runs the function's own `bootstrap` as a real
process speaking the Lambda Runtime API, like the `provided.al2023` runtime does.

The function's zip is unpacked once per code version; each execution environment
is one bootstrap process with its own Runtime API server on a loopback port. An
environment serves one invocation at a time and is kept warm for the next one;
concurrent invocations get more environments. Invocations come from
`lambda:Invoke` (and so from Step Functions tasks) and from EventBridge targets.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import aws_time, faults
from .events import aws_envelope

LOG = logging.getLogger("backstop.lambda")
API = "/2018-06-01/runtime"
# Lambda gives the Init phase (process start, static init) up to 10 s of its own; the function's
# Timeout starts with the Invoke phase. Process start here is real work on the host, not simulated
# time, so this limit is in real seconds and not scaled.
INIT_LIMIT_REAL = 10.0
# How often a running invocation's process is looked at (exited, over its MemorySize). An answer
# or a pick-up wakes the watcher at once, and a timeout or an injected kill is looked at on
# time; a look every 20 ms, at a thousand concurrent invocations (one per restore job's end),
# took the emulator's CPU from the calls it serves.
CHECK_INTERVAL = 0.1
# after a kill, the exit is looked for sooner
KILLED_LOOK = 0.02


class Invocation:
    def __init__(self, payload: bytes, timeout_real: float, function_arn: str) -> None:
        self.request_id = str(uuid.uuid4())
        self.payload = payload
        self.timeout_real = timeout_real
        self.deadline_ms = 0
        self.function_arn = function_arn
        self.done = threading.Event()
        # set when the bootstrap takes the event from /next: the Invoke phase starts there
        self.picked_up = threading.Event()
        self.picked_up_at = 0.0
        # set on either: the invocation's watcher looks again at once
        self.changed = threading.Event()
        self.error = False
        self.result = b""

    def pick_up(self) -> None:
        self.picked_up_at = time.time()
        self.deadline_ms = int((self.picked_up_at + self.timeout_real) * 1000)
        self.picked_up.set()
        self.changed.set()

    def finish(self, body: bytes, error: bool) -> None:
        self.result, self.error = body, error
        self.done.set()
        self.changed.set()


def _runtime_api_handler(env: "Environment"):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep the emulator log readable
            pass

        def _reply(self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != f"{API}/invocation/next":
                return self._reply(404)
            invocation = env.next_invocation()
            if invocation is None:  # environment shutting down
                return self._reply(410)
            self._reply(
                200,
                invocation.payload,
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
                },
            )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = self.path[len(API) :].strip("/").split("/")
            if parts[:1] == ["init"] and parts[1:] == ["error"]:
                env.init_error = body or b'{"errorType":"Runtime.InitError","errorMessage":"init failed"}'
                return self._reply(202)
            if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                env.complete(parts[1], body, parts[2] == "error")
                return self._reply(202)
            self._reply(404)

    return Handler


# A function's LoggingConfig (LogFormat, ApplicationLogLevel), by function ARN, as deployed.
LOGGING_CONFIG: dict[str, dict] = {}


def logging_config_problem(config: dict) -> str | None:
    """Why Lambda would refuse this LoggingConfig, if it would: the format is JSON or Text, and
    log levels are only for the JSON format (InvalidParameterValueException)."""
    log_format = config.get("LogFormat", "Text")
    if log_format not in ("JSON", "Text"):
        return f"LogFormat {log_format!r} is not JSON or Text"
    levels = sorted({"ApplicationLogLevel", "SystemLogLevel"} & set(config))
    if levels and log_format != "JSON":
        return f"{' and '.join(levels)} need LogFormat JSON"
    return None


def logging_variables(config: dict) -> dict[str, str]:
    """What Lambda sets from a function's logging configuration: the format (Text by default), and
    with the JSON format the application log level (INFO by default)."""
    log_format = config.get("LogFormat", "Text")
    variables = {"AWS_LAMBDA_LOG_FORMAT": log_format}
    if log_format == "JSON":
        variables["AWS_LAMBDA_LOG_LEVEL"] = config.get("ApplicationLogLevel", "INFO")
    return variables


class Environment:
    """One warm execution environment: a bootstrap process and its Runtime API."""

    def __init__(self, function: Any, code_dir: str, emulator_endpoint: str, log_dir: str) -> None:
        self.function_name = function.function_name
        self.inbox: "queue.Queue[Invocation | None]" = queue.Queue()
        self.current: Invocation | None = None
        self.init_error: bytes | None = None
        self.busy = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _runtime_api_handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        port = self.server.server_address[1]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LAMBDA_TASK_ROOT": code_dir,
            "_HANDLER": function.handler or "bootstrap",
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.function_name}",
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            # the function's AWS calls come back to this emulator
            "AWS_ENDPOINT_URL": emulator_endpoint,
            **(function.environment_vars or {}),
            **logging_variables(LOGGING_CONFIG.get(function.function_arn, {})),
        }
        log_path = os.path.join(log_dir, f"lambda-{function.function_name}.log")
        self.log = open(log_path, "ab", buffering=0)
        self.process = subprocess.Popen(
            [os.path.join(code_dir, "bootstrap")],
            cwd=code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def next_invocation(self) -> Invocation | None:
        invocation = self.inbox.get()
        self.current = invocation
        if invocation is not None:
            # the function's Timeout counts from here (the Invoke phase), not from process start
            invocation.pick_up()
        return invocation

    def complete(self, request_id: str, body: bytes, error: bool) -> None:
        invocation = self.current
        if invocation and invocation.request_id == request_id:
            self.current = None
            invocation.finish(body, error)

    def invoke(self, invocation: Invocation, limits: "Limits") -> None:
        """Runs one invocation within the function's Timeout and MemorySize, as Lambda does."""
        self.inbox.put(invocation)
        queued = time.time()
        kill_after = faults.STATE.handler_kill_after(self.function_name)
        out_of_memory = False
        while True:
            invocation.changed.clear()
            if invocation.done.is_set():
                return
            if self.process.poll() is not None:
                if self.init_error:
                    invocation.finish(self.init_error, True)
                    return
                code = self.process.returncode
                reason = f"signal: killed" if code in (-9, 137) else f"exit status {code}"
                error_type = "Runtime.OutOfMemory" if out_of_memory else "Runtime.ExitError"
                invocation.finish(_error(error_type, f"RequestId: {invocation.request_id} Error: Runtime exited with error: {reason}"), True)
                return
            now = time.time()
            picked_up = invocation.picked_up.is_set()
            if picked_up:
                deadline = invocation.picked_up_at + limits.timeout_real
            else:
                deadline = queued + INIT_LIMIT_REAL + limits.timeout_real
            if now > deadline:
                self.stop()
                invocation.finish(
                    _error(
                        "Sandbox.Timedout",
                        f"RequestId: {invocation.request_id} Error: Task timed out after {limits.timeout:.2f} seconds",
                    ),
                    True,
                )
                return
            next_look = min(now + CHECK_INTERVAL, deadline)
            if picked_up and kill_after is not None:
                if now - invocation.picked_up_at >= kill_after:
                    self.process.kill()  # an injected crash mid-invocation: reported on the next look
                    kill_after = None
                    next_look = min(next_look, now + KILLED_LOOK)
                else:
                    next_look = min(next_look, invocation.picked_up_at + kill_after)
            if _rss_mib(self.process.pid) > limits.memory_mib:
                out_of_memory = True
                self.process.kill()
                next_look = min(next_look, now + KILLED_LOOK)
            # a pick-up or an answer wakes this at once; a crash, a kill or a timeout is seen
            # at the next look
            invocation.changed.wait(max(0.0, next_look - time.time()) + 0.001)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.inbox.put(None)
        self.server.shutdown()
        self.server.server_close()
        self.log.close()


class LambdaRunner:
    def __init__(self, emulator_endpoint: str, log_dir: str) -> None:
        self.endpoint = emulator_endpoint
        self.log_dir = log_dir
        self.lock = threading.Lock()
        self.unpack_lock = threading.Lock()
        self.idle: dict[str, list[Environment]] = {}
        self.all: list[Environment] = []
        self.code_root = tempfile.mkdtemp(prefix="backstop-lambda-")
        self.invocations: dict[str, int] = {}
        # function -> invocations that have returned (successfully or not)
        self.finished: dict[str, int] = {}
        # function -> errorType -> count: what each function failed with (Sandbox.Timedout, ...)
        self.errors: dict[str, dict[str, int]] = {}

    def _code_dir(self, function: Any) -> str:
        digest = getattr(function, "code_digest", None) or uuid.uuid4().hex
        path = os.path.join(self.code_root, f"{function.function_name}-{digest[:16]}")
        with self.unpack_lock:  # two cold starts at once must not see a half-unpacked zip
            return self._unpack(function, path)

    def _unpack(self, function: Any, path: str) -> str:
        if not os.path.isdir(path):
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                archive.extractall(path)
            bootstrap = os.path.join(path, "bootstrap")
            if not os.path.isfile(bootstrap):
                raise FunctionError("Runtime.InvalidEntrypoint", "the function's zip has no bootstrap file")
            os.chmod(bootstrap, os.stat(bootstrap).st_mode | stat.S_IXUSR | stat.S_IXGRP)
        return path

    def invoke(self, function: Any, payload: bytes) -> tuple[bytes, bool]:
        """Runs one invocation; returns (body, is_error)."""
        # a new configuration gets new environments, as on Lambda
        configuration = json.dumps([function.environment_vars, function.memory_size, function.timeout], sort_keys=True, default=str)
        key = f"{function.function_arn}:{getattr(function, 'code_digest', '')}:{configuration}"
        with self.lock:
            self.invocations[function.function_name] = self.invocations.get(function.function_name, 0) + 1
            pool = self.idle.setdefault(key, [])
            env = None
            while pool:
                candidate = pool.pop()
                if candidate.alive():
                    env = candidate
                    break
        if env is None:
            env = Environment(function, self._code_dir(function), self.endpoint, self.log_dir)
            with self.lock:
                self.all.append(env)
        limits = Limits(float(function.timeout or 3), int(function.memory_size or 128))
        invocation = Invocation(payload or b"{}", limits.timeout_real, function.function_arn)
        env.invoke(invocation, limits)
        if env.alive():
            with self.lock:
                self.idle.setdefault(key, []).append(env)
        with self.lock:
            self.finished[function.function_name] = self.finished.get(function.function_name, 0) + 1
        if invocation.error:
            try:
                error_type = json.loads(invocation.result).get("errorType", "Unknown")
            except (ValueError, AttributeError):
                error_type = "Unknown"
            with self.lock:
                counts = self.errors.setdefault(function.function_name, {})
                counts[error_type] = counts.get(error_type, 0) + 1
        return invocation.result, invocation.error

    def stop(self) -> None:
        with self.lock:
            envs, self.all = self.all, []
            self.idle.clear()
        for env in envs:
            try:
                env.stop()
            except Exception:
                pass
        shutil.rmtree(self.code_root, ignore_errors=True)


class Limits:
    """A function's configured Timeout (AWS seconds, run at the time scale) and MemorySize."""

    def __init__(self, timeout: float, memory_mib: int) -> None:
        self.timeout = timeout
        self.timeout_real = timeout * aws_time.SCALE
        self.memory_mib = memory_mib


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _rss_mib(pid: int) -> float:
    # statm's second field is VmRSS in pages: one short read, where status is forty lines
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


class FunctionError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


RUNNER: LambdaRunner | None = None


def _invoke(self, function_name, qualifier, body, headers, response_headers):
    function = self.get_function(function_name, qualifier)
    payload = body.encode() if isinstance(body, str) else (body or b"")
    # a `latency` fault naming this function: the invocation answers that much later
    delay = faults.STATE.latency_ms("lambda", "Invoke", function.function_name)
    if delay:
        time.sleep(delay / 1000)
    if headers.get("X-Amz-Invocation-Type") == "Event":
        threading.Thread(target=_run_detached, args=(function, payload), daemon=True).start()
        return b""
    try:
        result, error = RUNNER.invoke(function, payload)
    except FunctionError as err:
        result, error = json.dumps({"errorType": err.error_type, "errorMessage": str(err)}).encode(), True
    if error:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-executed-version"] = "$LATEST"
    return result


_RESERVED: dict[str, threading.Semaphore] = {}
_RESERVED_LOCK = threading.Lock()


def _reserved_slots(function: Any) -> threading.Semaphore | None:
    """A function with reserved concurrency N runs at most N invocations at once; Lambda holds
    further asynchronous events in its queue until one finishes (as here: they wait)."""
    reserved = getattr(function, "reserved_concurrency", None)
    if reserved in (None, ""):
        return None
    with _RESERVED_LOCK:
        key = f"{function.function_arn}:{reserved}"
        if key not in _RESERVED:
            _RESERVED[key] = threading.Semaphore(max(int(reserved), 0) or 1)
        return _RESERVED[key]


def _run_detached(function: Any, payload: bytes) -> None:
    slots = _reserved_slots(function)
    if slots is not None:
        with slots:
            _run_detached_now(function, payload)
    else:
        _run_detached_now(function, payload)


def _run_detached_now(function: Any, payload: bytes) -> None:
    try:
        result, error = RUNNER.invoke(function, payload)
        if error:
            LOG.warning("async invocation of %s failed: %s", function.function_name, result[:500])
    except Exception:
        LOG.exception("async invocation of %s failed", function.function_name)


def invoke_target_arn(function_arn: str, payload: bytes) -> None:
    """An EventBridge target: an asynchronous invocation."""
    from moto.awslambda.utils import get_backend

    parts = function_arn.split(":")
    region, account, name = parts[3], parts[4], parts[6]
    function = get_backend(account, region).get_function(name, None)
    threading.Thread(target=_run_detached, args=(function, payload), daemon=True).start()


def _send_to_targets(original):
    def send_to_targets(self, original_event, transform_input=True):
        lambda_targets = [t for t in self.targets if ":lambda:" in t["Arn"]]
        if lambda_targets and self.event_pattern.matches_event(original_event):
            for target in lambda_targets:
                payload = target.get("Input") or json.dumps(aws_envelope(original_event))
                invoke_target_arn(target["Arn"], payload.encode())
        others = [t for t in self.targets if t not in lambda_targets]
        if others:
            saved = self.targets
            self.targets = others
            try:
                original(self, original_event, transform_input)
            finally:
                self.targets = saved

    return send_to_targets


def install(emulator_endpoint: str, log_dir: str) -> LambdaRunner:
    global RUNNER
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.events.models import Rule

    RUNNER = LambdaRunner(emulator_endpoint, log_dir)
    LambdaSimpleBackend.invoke = _invoke
    Rule.send_to_targets = _send_to_targets(Rule.send_to_targets)
    return RUNNER
