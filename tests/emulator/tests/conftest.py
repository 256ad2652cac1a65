"""The emulator's own suite: each test states the AWS behaviour the emulator mirrors.

One emulator process for the session (time scale 0.01: one AWS minute is 0.6 s); every test
starts from a reset, freshly seeded world.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
from botocore.config import Config

HERE = Path(__file__).resolve().parent
EMULATOR_DIR = HERE.parent
PRIMARY, DR = "us-east-1", "us-west-2"
TIME_SCALE = 0.01
# Jobs in these tests take a few AWS minutes: what they check does not depend on the realistic defaults.
QUICK_JOBS = {
    group: {kind: 60 for kind in ("EBS", "RDS", "EFS", "EC2")} for group in ("backup", "copy", "restore")
}


class Emulator:
    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backstop_emulator", "--port", "0", "--time-scale", str(TIME_SCALE), "--log-dir", log_dir],
            cwd=EMULATOR_DIR,
            stdout=subprocess.PIPE,
            stderr=open(os.path.join(log_dir, "stderr.log"), "wb"),
        )
        line = self.process.stdout.readline().decode()
        if not line.startswith("BACKSTOP_EMULATOR_READY port="):
            self.process.kill()
            raise RuntimeError(f"the emulator did not start: {line!r}; see {log_dir}")
        self.port = int(line.strip().split("=", 1)[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self, service: str, region: str = DR, **config: Any):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"total_max_attempts": 1}, **config),
        )

    def control(self, method: str, route: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{self.endpoint}/backstop/{route}",
            data=json.dumps(body or {}).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.load(answer)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=60).read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="session")
def emulator():
    log_dir = tempfile.mkdtemp(prefix="backstop-emulator-suite-")
    running = Emulator(log_dir)
    yield running
    running.stop()


@pytest.fixture
def world(emulator: Emulator) -> dict[str, Any]:
    """A freshly seeded primary workload and DR network."""
    emulator.reset()
    emulator.control("POST", "durations", QUICK_JOBS)
    return emulator.control("POST", "seed", {"primaryRegion": PRIMARY, "drRegion": DR})


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def finished(describe: Callable[[], dict], key: str) -> dict:
    return wait_for("the job to end", lambda: (lambda d: d if d[key] in ("COMPLETED", "FAILED", "ABORTED") else None)(describe()))


def back_up(emulator: Emulator, world: dict, resource_arn: str) -> str:
    """Backs a resource up in the primary vault; returns the recovery point's ARN."""
    backup = emulator.client("backup", PRIMARY)
    job = backup.start_backup_job(
        BackupVaultName="backstop-primary", ResourceArn=resource_arn, IamRoleArn=world["backupRoleArn"]
    )
    done = finished(lambda: backup.describe_backup_job(BackupJobId=job["BackupJobId"]), "State")
    assert done["State"] == "COMPLETED", done
    return done["RecoveryPointArn"]


def copy_to_dr(emulator: Emulator, world: dict, recovery_point: str) -> str:
    """Copies a primary recovery point to the DR vault; returns the DR copy's ARN."""
    backup = emulator.client("backup", PRIMARY)
    copy = backup.start_copy_job(
        RecoveryPointArn=recovery_point,
        SourceBackupVaultName="backstop-primary",
        DestinationBackupVaultArn=world["dr"]["backupVault"]["arn"],
        IamRoleArn=world["backupRoleArn"],
    )
    copied = finished(lambda: backup.describe_copy_job(CopyJobId=copy["CopyJobId"])["CopyJob"], "State")
    assert copied["State"] == "COMPLETED", copied
    return copied["DestinationRecoveryPointArn"]


def protect(emulator: Emulator, world: dict, resource_arn: str) -> str:
    """Backs a resource up in the primary vault and copies it to the DR vault; returns the DR copy's ARN."""
    return copy_to_dr(emulator, world, back_up(emulator, world, resource_arn))


def restore(emulator: Emulator, world: dict, recovery_point: str, metadata: dict[str, str]) -> dict:
    """Starts a restore in the DR region and waits for it to end; returns DescribeRestoreJob."""
    backup = emulator.client("backup", DR)
    job = backup.start_restore_job(RecoveryPointArn=recovery_point, Metadata=metadata, IamRoleArn=world["backupRoleArn"])
    return finished(lambda: backup.describe_restore_job(RestoreJobId=job["RestoreJobId"]), "Status")


def dr_metadata(emulator: Emulator, recovery_point: str) -> dict[str, str]:
    return emulator.client("backup", DR).get_recovery_point_restore_metadata(
        BackupVaultName="backstop-dr", RecoveryPointArn=recovery_point
    )["RestoreMetadata"]


def deploy_fake_function(emulator: Emulator, name: str, timeout: int = 60, memory: int = 128, environment: dict | None = None) -> str:
    deployed = emulator.control(
        "POST",
        "functions",
        {"functions": [{"name": name, "binary": str(HERE / "fake_function.py"), "region": DR, "timeout": timeout, "memory": memory, "environment": environment or {}}]},
    )
    return deployed[name]
