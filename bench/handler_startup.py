#!/usr/bin/env python3
"""Cold start of each Backstop handler: process spawn -> first `GET /invocation/next`
(SDK clients built, runtime ready), and the process's peak RSS at that point; side by side,
in the same run, with a Python reference handler (bench/reference_handler.py) that builds the
same boto3 clients at init.

    .venv/bin/python bench/handler_startup.py [--runs 20] [--profile release|debug] [--handlers a,b] [--no-python]

Needs the binaries built (`cargo build --release --bins`, or the debug build) and boto3 (the
project's .venv). Prints one line per handler: binary size, median and max milliseconds and
peak RSS in MiB of the Rust handler and of the Python reference, and the ratios. No AWS call
is made.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# each handler and the AWS clients it builds at init (boto3 names)
HANDLERS = {
    "resolve-plan": "ssm,backup,route53,stepfunctions,cloudformation,s3",
    "preflight": "backup,ec2,rds,route53,ssm,kms,cloudwatch,cloudformation,s3",
    "start-restore": "backup,ec2,cloudformation,s3",
    "poll-restore": "backup,ec2,rds,efs,s3",
    "launch-instances": "ec2,ssm,cloudformation,s3",
    "attach-volumes": "ec2,s3",
    "switch-dns": "route53,ec2,rds,cloudwatch,s3",
    "teardown": "backup,ec2,rds,efs,route53,cloudformation,s3",
    "report": "stepfunctions,s3",
    "start-failover": "stepfunctions,s3",
    "on-backup-event": "ssm,backup,stepfunctions,sns",
}
REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_handler.py")


class FirstNext:
    """A Runtime API that records when the first /next arrives and then holds it open."""

    def __init__(self):
        self.arrived = threading.Event()
        self.at = 0.0
        bench = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                bench.at = time.perf_counter()
                bench.arrived.set()
                time.sleep(0.2)  # the process is killed meanwhile

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_address[1]}"


def peak_rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def one_start(command, clients):
    api = FirstNext()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-west-2",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        # what the stack sets: the run-state bucket, the trigger's settings
        "RUN_STATE_BUCKET": "bench-run-state",
        "STATE_MACHINE_ARN": "arn:aws:states:us-west-2:123456789012:stateMachine:backstop-recovery",
        "PLAN_PARAMETER": "/backstop/plan",
        "FAILOVER_ALARMS": "primary-down",
        "NOTICE_TOPIC_ARN": "arn:aws:sns:us-west-2:123456789012:backstop-notices",
        "BACKUP_VAULT_NAME": "backstop-dr",
        "BENCH_CLIENTS": clients,
    }
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not api.arrived.wait(20):
            raise RuntimeError(f"{command} never asked for an invocation")
        return (api.at - started) * 1000, peak_rss_mib(process.pid)
    finally:
        process.kill()
        process.wait()
        api.server.shutdown()


def summary(samples):
    """(median ms, max ms, peak RSS MiB) of cold starts."""
    times = [sample[0] for sample in samples]
    return statistics.median(times), max(times), max(sample[1] for sample in samples)


def measure(command, clients, runs):
    return summary([one_start(command, clients) for _ in range(runs)])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--profile", default="release", choices=["debug", "release"])
    parser.add_argument("--handlers", default=",".join(HANDLERS), help="comma-separated subset")
    parser.add_argument("--no-python", action="store_true", help="skip the Python reference")
    args = parser.parse_args()
    chosen = [name for name in args.handlers.split(",") if name]
    unknown = sorted(set(chosen) - set(HANDLERS))
    if unknown:
        parser.error(f"unknown handlers {unknown}; known: {', '.join(HANDLERS)}")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    floor_binary = os.path.join(target, args.profile, "floor")
    if not os.path.isfile(floor_binary):
        parser.error(f"{floor_binary} is missing: build it first (cargo build --{args.profile} -p floor)")
    print(f"handler cold start (spawn -> first /next), {args.runs} cold starts each, Rust {args.profile} build; "
          f"floor: a hello-world lambda_runtime function (bench/floor) with the same profile, measured beside each handler"
          + ("" if args.no_python else f"; Python {sys.version.split()[0]} + boto3 reference"))
    print(f"{'handler':<17}{'size MiB':>9} | {'Rust med ms':>11}{'max':>7}{'RSS MiB':>8} | {'floor ms':>8}{'RSS MiB':>8}{'x time':>7}{'x RSS':>6}"
          + ("" if args.no_python else f" | {'Py med ms':>9}{'RSS MiB':>8}"))
    for name in chosen:
        clients = HANDLERS[name]
        binary = os.path.join(target, args.profile, name)
        if not os.path.isfile(binary):
            print(f"{name:<17} missing: build it first", file=sys.stderr)
            continue
        size = os.path.getsize(binary) / 1024 / 1024
        # alternated, so a busy moment of the machine weighs on both alike
        rust_samples, floor_samples = [], []
        for _ in range(args.runs):
            rust_samples.append(one_start([binary], clients))
            floor_samples.append(one_start([floor_binary], clients))
        rust = summary(rust_samples)
        floor = summary(floor_samples)
        line = (f"{name:<17}{size:>9.1f} | {rust[0]:>11.1f}{rust[1]:>7.1f}{rust[2]:>8.1f} | {floor[0]:>8.1f}{floor[2]:>8.1f}"
                f"{rust[0] / floor[0]:>7.1f}{rust[2] / floor[2]:>6.1f}")
        if not args.no_python:
            python = measure([sys.executable, REFERENCE], clients, args.runs)
            line += f" | {python[0]:>9.1f}{python[2]:>8.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
