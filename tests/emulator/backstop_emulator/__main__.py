"""Backstop's local AWS emulator: moto in server mode, completed where Backstop needs it.

    python -m backstop_emulator [--port 0] [--log-dir DIR] [--time-scale 0.05]

Binds a loopback port (a free one with --port 0), checks that it answers, then
prints `BACKSTOP_EMULATOR_READY port=N` on stdout. Logs go to DIR/emulator.log,
each Lambda function's output to DIR/lambda-<name>.log. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.request

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="backstop_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--log-dir", default=os.path.join(os.getcwd(), "emulator-logs"))
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="real seconds per AWS second: scales Step Functions Wait and Retry delays, job and resource "
        "durations, and Lambda timeouts alike (0.01 makes a 60 s wait 0.6 s)",
    )
    return parser.parse_args(argv)


def install_time_scale(scale: float) -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )

    original_wait = WaitFunction._wait_interval

    def scaled_wait(self, env, wait_seconds):  # type: ignore[no-untyped-def]
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * scale)

    class ScaledTime:
        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            import time

            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            import time

            time.sleep(seconds * scale)

    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import Timeout

    original_timeout_eval = getattr(Timeout, "_backstop_original_eval", Timeout.eval)
    Timeout._backstop_original_eval = original_timeout_eval

    def scaled_timeout_eval(self, env):  # type: ignore[no-untyped-def]
        # a Task's TimeoutSeconds(Path), e.g. how long a waitForTaskToken task waits
        original_timeout_eval(self, env)
        env.stack[-1] = env.stack[-1] * scale

    if scale != 1.0:
        WaitFunction._wait_interval = scaled_wait
        retrier_decl.time = ScaledTime()
        Timeout.eval = scaled_timeout_eval
    else:
        WaitFunction._wait_interval = original_wait
        Timeout.eval = original_timeout_eval


class ControlApp:
    """`/backstop/...` control endpoints in front of moto's own application."""

    def __init__(self, moto_app, runner, seed_module) -> None:  # type: ignore[no-untyped-def]
        self.moto_app = moto_app
        self.runner = runner
        self.seed = seed_module

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/backstop/"):
            return self.aws_call(environ, start_response)
        request = Request(environ)
        try:
            body = request.get_json(silent=True) or {}
            result = self.handle(request.method, path[len("/backstop/") :], body)
            response = Response(json.dumps(result), status=200, mimetype="application/json")
        except (KeyError, ValueError, TypeError) as err:
            response = Response(
                json.dumps({"error": f"{type(err).__name__}: {err}"}), status=400, mimetype="application/json"
            )
        except Exception as err:  # the test must see why, not a bare 500
            logging.getLogger("backstop.control").exception("control request failed")
            response = Response(
                json.dumps({"error": f"{type(err).__name__}: {err}"}), status=500, mimetype="application/json"
            )
        return response(environ, start_response)

    def aws_call(self, environ, start_response):  # type: ignore[no-untyped-def]
        from . import cbor_front, faults
        from .internal import INTERNAL_USER_AGENT

        headers = {"Authorization": environ.get("HTTP_AUTHORIZATION", "")}
        agent = environ.get("HTTP_USER_AGENT", "")
        external = INTERNAL_USER_AGENT not in agent
        handler_call = "aws-sdk-rust" in agent
        if handler_call:
            # what the handlers cost in AWS calls (a benchmark reads this)
            CALLS.count(faults.signing_service(headers))
        if external and faults.STATE.region_unreachable(faults.serving_region(headers)):
            faults.reset_connection(environ)
            return []
        faults.CURRENT.environ = environ
        began = time.perf_counter()
        try:
            target = cbor_front.operation(environ)
            if target is not None:
                return cbor_front.serve(environ, start_response, self.moto_app, target)
            return self.moto_app(environ, start_response)
        except faults.ConnectionResetByFault:
            return []
        finally:
            if handler_call:
                # where the emulator's own time goes, by call (a benchmark reads this)
                CALLS.spent(operation_of(environ, headers), time.perf_counter() - began)

    def handle(self, method: str, route: str, body: dict):  # type: ignore[no-untyped-def]
        from . import aws_time, faults

        if route == "health":
            return {"ok": True}
        if route == "faults" and method == "POST":
            faults.STATE.configure(body)
            return faults.STATE.report()
        if route == "faults" and method == "DELETE":
            faults.STATE.reset()
            return {}
        if route == "faults" and method == "GET":
            return faults.STATE.report()
        if route == "durations" and method == "POST":
            return aws_time.configure(body)
        if route == "durations" and method == "GET":
            return aws_time.configure({})
        if route == "durations/reset" and method == "POST":
            aws_time.reset()
            return aws_time.configure({})
        if route == "rates" and method == "POST":
            from . import request_rates

            return request_rates.configure(body)
        if route == "rates" and method == "GET":
            from . import request_rates

            return request_rates.configure({})
        if route == "seed" and method == "POST":
            return self.seed.seed_workload(
                primary_region=body.get("primaryRegion", "us-east-1"),
                dr_region=body.get("drRegion", "us-west-2"),
            )
        if route == "seed/production-account" and method == "POST":
            return self.seed.seed_production_account(
                body["account"], body.get("primaryRegion", "us-east-1"), body.get("drRegion", "us-west-2")
            )
        if route == "deploy" and method == "POST":
            from .deploy import deploy_template

            return deploy_template(body)
        if route == "functions" and method == "POST":
            return self.seed.deploy_functions(body["functions"])
        if route == "recovery-points/backdate" and method == "POST":
            from . import backup_jobs

            return backup_jobs.backdate_recovery_point(body["recoveryPointArn"], float(body["seconds"]))
        if route == "events/schedules" and method == "POST":
            # the scheduled rule that targets a function, read through EventBridge's own API
            # (the emulator does not fire schedules: a test delivers the rule's input itself)
            from .internal import client

            events = client("events", body.get("region", "us-west-2"))
            function = body["function"]
            if not function.startswith("arn:"):
                function = client("lambda", body.get("region", "us-west-2")).get_function(FunctionName=function)[
                    "Configuration"
                ]["FunctionArn"]
            for name in events.list_rule_names_by_target(TargetArn=function)["RuleNames"]:
                rule = events.describe_rule(Name=name)
                if rule.get("ScheduleExpression"):
                    target = next(
                        t for t in events.list_targets_by_rule(Rule=name)["Targets"] if t["Arn"] == function
                    )
                    return {"rule": name, "scheduleExpression": rule["ScheduleExpression"], "input": target.get("Input")}
            return {}
        if route == "sns/messages" and method == "POST":
            # what a subscriber of the topic would have received
            from moto.sns.models import sns_backends

            arn = body["topicArn"]
            _, _, _, region, account, _ = arn.split(":", 5)
            topic = sns_backends[account][region].topics[arn]
            return [{"messageId": m[0], "message": m[1], "subject": m[2]} for m in topic.sent_notifications]
        if route == "cloudwatch" and method == "POST":
            # the alarm calls a test makes (the SDK's CloudWatch protocol, rpcv2Cbor, is not one
            # moto serves); the alarm's events and actions then flow as from the real API
            from .internal import client

            cloudwatch = client("cloudwatch", body.get("region", "us-west-2"))
            operation = {"PutMetricAlarm": cloudwatch.put_metric_alarm, "SetAlarmState": cloudwatch.set_alarm_state, "DescribeAlarms": cloudwatch.describe_alarms}[body["action"]]
            return json.loads(json.dumps(operation(**body.get("params", {})), default=str))
        if route == "dns/resolve" and method == "POST":
            # what Route 53's data plane answers for the name now (failover routing included)
            from . import dns

            return dns.resolve(body["name"], body.get("type", "A"))
        if route == "calls" and method == "GET":
            return CALLS.snapshot()
        if route == "calls/time" and method == "GET":
            return CALLS.timings()
        if route == "calls" and method == "DELETE":
            CALLS.reset()
            return {}
        if route == "lambda/errors" and method == "GET":
            return {name: dict(counts) for name, counts in self.runner.errors.items()}
        if route == "lambda/invocations" and method == "GET":
            return dict(self.runner.invocations)
        if route == "lambda/finished" and method == "GET":
            return dict(self.runner.finished)
        raise KeyError(f"no control endpoint {method} /backstop/{route}")


class CallCounter:
    """AWS calls made by the handlers (the Rust SDK's user agent), per signing service."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_service: dict[str, int] = {}
        self.by_operation: dict[str, list[float]] = {}

    def count(self, service: str) -> None:
        with self.lock:
            self.by_service[service] = self.by_service.get(service, 0) + 1

    def spent(self, operation: str, seconds: float) -> None:
        with self.lock:
            calls, total = self.by_operation.get(operation, [0, 0.0])
            self.by_operation[operation] = [calls + 1, total + seconds]

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.by_service)

    def timings(self) -> dict[str, list[float]]:
        with self.lock:
            return {name: list(spent) for name, spent in self.by_operation.items()}

    def reset(self) -> None:
        with self.lock:
            self.by_service.clear()
            self.by_operation.clear()


def operation_of(environ, headers) -> str:  # type: ignore[no-untyped-def]
    """A call's service and operation, as far as the request shows it without its body: the
    JSON protocols' target, else the method and the path's first segment (REST)."""
    from . import faults

    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return f"{faults.signing_service(headers)} {target.rsplit('.', 1)[-1]}"
    query = environ.get("QUERY_STRING", "")
    action = [p.split("=", 1)[1] for p in query.split("&") if p.startswith("Action=")]
    if action:
        return f"{faults.signing_service(headers)} {action[0]}"
    segments = [s for s in environ.get("PATH_INFO", "").split("/") if s]
    return f"{faults.signing_service(headers)} {environ.get('REQUEST_METHOD', '')} /{segments[0] if segments else ''}"


CALLS = CallCounter()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    os.makedirs(args.log_dir, exist_ok=True)
    logging.basicConfig(
        filename=os.path.join(args.log_dir, "emulator.log"),
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    from moto.core.config import default_user_config
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from . import aws_time, backup_jobs, ec2_tokens, faults, lambda_runner, request_overhead, seed

    request_overhead.install()

    # Lambda runs our processes, not Docker; Step Functions really executes definitions.
    default_user_config["lambda"]["use_docker"] = False
    default_user_config["stepfunctions"]["execute_state_machine"] = True

    moto_app = DomainDispatcherApplication(create_backend_app)
    # The port is known only once bound; moto's Step Functions calls back to MOTO_PORT.
    holder: dict = {}
    server = make_server(args.host, args.port, lambda e, s: holder["app"](e, s), threaded=True)
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)
    endpoint = f"http://{args.host}:{port}"

    backup_jobs.install()
    faults.install()
    runner = lambda_runner.install(endpoint, args.log_dir)
    install_time_scale(args.time_scale)
    from backstop_emulator import sfn_history

    sfn_history.install()
    from backstop_emulator import alarms, cloudformation, dns, events

    alarms.install()
    cloudformation.install()
    cloudformation.install_lifecycle()
    dns.install()
    events.install()
    aws_time.install(args.time_scale)
    # outermost: a repeated token returns the first launch without touching its lifecycle
    ec2_tokens.install()
    from backstop_emulator import ec2_addresses, ec2_tags

    ec2_addresses.install()
    ec2_tags.install()
    from backstop_emulator import fast_snapshot_restore

    fast_snapshot_restore.install()
    from backstop_emulator import bucket_policies

    bucket_policies.install()
    from backstop_emulator import ssm_commands

    ssm_commands.install(args.log_dir)
    from backstop_emulator import kms_access

    kms_access.install()
    from backstop_emulator import sts_trust

    sts_trust.install()

    original_reset = MotoAPIBackend.reset

    def reset(self):  # type: ignore[no-untyped-def]
        original_reset(self)
        backup_jobs.STORE.reset()
        from backstop_emulator import storage_gateway

        storage_gateway.reset()
        faults.STATE.reset()
        aws_time.reset()
        ec2_tokens.reset()
        from backstop_emulator import request_rates

        request_rates.reset()
        fast_snapshot_restore.reset()
        ssm_commands.reset()
        from backstop_emulator.backup_jobs import air_gapped, vault_protection

        vault_protection.reset()
        air_gapped.reset()

    MotoAPIBackend.reset = reset
    holder["app"] = ControlApp(moto_app, runner, seed)
    from . import internal

    internal.serve_in_process(holder["app"])

    stop = threading.Event()
    threading.Thread(target=backup_jobs.scheduler_loop, args=(stop,), daemon=True).start()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()

    def shutdown(*_):  # type: ignore[no-untyped-def]
        stop.set()
        runner.stop()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)

    with urllib.request.urlopen(f"{endpoint}/backstop/health", timeout=10) as answer:
        assert json.load(answer)["ok"]
    logging.info("emulator ready on %s", endpoint)
    print(f"BACKSTOP_EMULATOR_READY port={port}", flush=True)

    serving.join()
    logging.info("emulator stopped")


if __name__ == "__main__":
    main()
