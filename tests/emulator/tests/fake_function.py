#!/usr/bin/env python3
"""A Lambda function for the emulator's own tests, speaking the Runtime API like any bootstrap.

With INIT_SECONDS set, init takes that long before the first event is asked for.
The payload says what to do: `{"sleepSeconds": s}`, `{"exitCode": n}`, `{"allocMiB": n}`,
`{"environment": [names]}` (their values are in the answer); every invocation answers
`{"pid": ..., "event": payload}` (the pid tells a cold start from a warm one) and,
with RECORD_FILE set, appends the payload to that file.
"""

import json
import os
import sys
import time
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
held = []
# a slow static init (INIT_SECONDS, real seconds) before the first poll of /next
time.sleep(float(os.environ.get("INIT_SECONDS", "0")))

while True:
    with urllib.request.urlopen(f"{API}/next") as request:
        request_id = request.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(request.read() or b"null")
    if os.environ.get("RECORD_FILE"):
        with open(os.environ["RECORD_FILE"], "a") as record:
            record.write(json.dumps(event) + "\n")
    if isinstance(event, dict):
        if "allocMiB" in event:
            held.append(b"\x01" * (event["allocMiB"] * 1024 * 1024))  # touched pages count in RSS
            time.sleep(1)
        if "sleepSeconds" in event:
            time.sleep(event["sleepSeconds"])
        if "exitCode" in event:
            sys.exit(event["exitCode"])
    answer = {"pid": os.getpid(), "event": event}
    if isinstance(event, dict) and "environment" in event:
        answer["environment"] = {name: os.environ.get(name) for name in event["environment"]}
    body = json.dumps(answer).encode()
    urllib.request.urlopen(urllib.request.Request(f"{API}/{request_id}/response", data=body, method="POST"))
