#!/usr/bin/env python3
"""Cold start of each Backstop handler: process spawn -> first `GET /invocation/next`
(SDK clients built, runtime ready), and the process's peak RSS at that point.

    python3 bench/handler_startup.py [--runs 20] [--profile debug|release]

Needs the binaries built (`cargo build --workspace --bins`, or `--release`). Prints one
line per handler: median and p90 milliseconds, peak RSS in MiB. No AWS call is made.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANDLERS = [
    "resolve-plan",
    "start-restore",
    "poll-restore",
    "launch-instances",
    "attach-volumes",
    "switch-dns",
]


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


def one_start(binary):
    api = FirstNext()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not api.arrived.wait(10):
            raise RuntimeError(f"{binary} never asked for an invocation")
        return (api.at - started) * 1000, peak_rss_mib(process.pid)
    finally:
        process.kill()
        process.wait()
        api.server.shutdown()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--profile", default="debug", choices=["debug", "release"])
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    print(f"handler cold start, {args.runs} runs each, {args.profile} build")
    print(f"{'handler':<18}{'median ms':>10}{'p90 ms':>9}{'peak RSS MiB':>14}{'size MiB':>10}")
    for name in HANDLERS:
        binary = os.path.join(target, args.profile, name)
        if not os.path.isfile(binary):
            print(f"{name:<18} missing: build it first", file=sys.stderr)
            continue
        samples = [one_start(binary) for _ in range(args.runs)]
        times = sorted(s[0] for s in samples)
        rss = max(s[1] for s in samples)
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
        size = os.path.getsize(binary) / 1024 / 1024
        print(f"{name:<18}{statistics.median(times):>10.1f}{p90:>9.1f}{rss:>14.1f}{size:>10.1f}")


if __name__ == "__main__":
    main()
