#!/usr/bin/env python3
"""A Python reference for the cold-start benchmark: what a Backstop handler written in Python
would do at init - import boto3 and build the same clients the Rust handler builds (named in
BENCH_CLIENTS, comma-separated boto3 service names) - then ask the Runtime API for the first
event, as the Rust handlers do once they are ready.
"""

import os
import urllib.request

import boto3

clients = [boto3.client(name) for name in os.environ["BENCH_CLIENTS"].split(",") if name]
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next").read()
