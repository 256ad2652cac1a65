#!/usr/bin/env python3
"""How late the emulator records restore jobs' ends when thousands run at once.

    .venv/bin/python bench/emulator_lag.py [--n 3000] [--time-scale 0.05]

A fresh emulator, N EBS volumes backed up and copied to the DR vault (as `orchestration.py`
sets them up), then N restore jobs started straight from boto3, ten at a time, longest
first (as Backstop orders them). No handlers run: this measures the emulator alone. Printed:
how long the starts took, and each job's lag (its CompletionDate less its CreationDate less
the duration the emulator's model gives it), which the orchestration bench's critical path
includes. AWS ends each job on its own; a lag here is the emulator's, not Backstop's.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "emulator"))

import orchestration  # noqa: E402
from backstop_emulator.aws_time import DEFAULTS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--time-scale", type=float, default=0.05)
    args = parser.parse_args()
    model = DEFAULTS["restore"]["EBS"]
    emulator = orchestration.Emulator(args.time_scale)
    try:
        quick = {"EBS": 60, "RDS": 60, "EFS": 60}
        emulator.control("POST", "durations", {"backup": quick, "copy": quick})
        seed = emulator.control("POST", "seed", {"primaryRegion": orchestration.PRIMARY, "drRegion": orchestration.DR})
        orchestration.protect_volumes(emulator, seed, args.n)
        backup = emulator.client("backup")
        points = [
            point
            for page in backup.get_paginator("list_recovery_points_by_backup_vault").paginate(BackupVaultName=seed["dr"]["backupVault"]["name"])
            for point in page["RecoveryPoints"]
        ]
        points.sort(key=lambda point: -point["BackupSizeInBytes"])
        zone = seed["dr"]["subnets"][0]["availabilityZone"]

        def start(point: dict) -> str:
            return backup.start_restore_job(
                RecoveryPointArn=point["RecoveryPointArn"], IamRoleArn=seed["backupRoleArn"], ResourceType="EBS",
                Metadata={"availabilityZone": zone, "volumeType": "gp3"},
            )["RestoreJobId"]

        began = time.time()
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            list(pool.map(start, points))
        started = time.time() - began
        while True:
            jobs = [job for page in backup.get_paginator("list_restore_jobs").paginate() for job in page["RestoreJobs"]]
            if sum(job["Status"] in ("COMPLETED", "FAILED", "ABORTED") for job in jobs) >= args.n:
                break
            time.sleep(1)
        size = {point["RecoveryPointArn"]: point["BackupSizeInBytes"] / 1024**3 for point in points}
        expected = {job["RestoreJobId"]: (model["base"] + model["perGiB"] * size[job["RecoveryPointArn"]]) * args.time_scale for job in jobs}
        lags = sorted(
            (job["CompletionDate"] - job["CreationDate"]).total_seconds() - expected[job["RestoreJobId"]] for job in jobs
        )
        failed = sum(job["Status"] != "COMPLETED" for job in jobs)
        print(f"N={args.n} restores, time scale {args.time_scale}: started in {started:.1f} s (ten at a time); "
              f"{failed} did not complete")
        print(f"lag of a job's recorded end behind its model, s: median {lags[len(lags) // 2]:.2f}, "
              f"90th percentile {lags[int(len(lags) * 0.9)]:.2f}, max {lags[-1]:.2f}")
        print(f"slowest restore: recorded {max((j['CompletionDate'] - j['CreationDate']).total_seconds() for j in jobs):.1f} s, "
              f"model {max(expected.values()):.1f} s")
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
