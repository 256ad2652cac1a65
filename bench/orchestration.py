#!/usr/bin/env python3
"""What a drill costs in orchestration, at N protected resources, on the local emulator.

    .venv/bin/python bench/orchestration.py [--sizes 1,10,100,1000] [--time-scale 0.01] [--mixed]

For each N: a fresh emulator, N EBS volumes in the primary region (sizes spread from 8 GiB to
2 TiB, so restores take AWS's 3 to 20 minutes), backed up and copied to the DR vault; the real
template deployed with the locally built handlers (`make build`; `--profile release`: the
release build, what Lambda runs and what `make bench` measures); the plan uploaded to the
run-state bucket (planObject); one drill through the real state machine (one instance from the
golden AMI, one drill DNS record, teardown, report; `--attached K`: the first K volumes attached
to it; `--mixed`: one resource in 20 an RDS database and one in 20 an EFS file system, at most
20 of each, the rest EBS volumes). Printed per N:

- recovered: execution start to the end of SwitchDns (the drill's RTO end); critical: the
  slowest restore (or the launch, if slower) + attach + DNS, as the run itself could not go
  faster; overhead = recovered / critical; order bound: the same with the restores run in the
  order they started on the run's slots (maxConcurrentRestores, every restore by default;
  `--slots K` caps them at K: what the cap and the order force);
  best bound: what a perfect scheduler could do on the same slots, at least (the longest
  restore, or all restores' time spread evenly over the slots, whichever is longer; + attach
  + DNS); vs best = recovered / best bound; total: to the end of the execution (teardown and
  report included). Real seconds at the time scale: the handlers' own compute is not scaled,
  so a small scale overstates it (at 0.05, the emulator's ~5 ms per call stands for ~100 ms).
- transitions (states entered), of which per restore round, history events, restore rounds;
- largest payload: the largest state input/output in the history, in bytes;
- AWS calls the handlers made (the emulator counts the Rust SDK's requests), per resource.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMULATOR_DIR = os.path.join(ROOT, "tests", "emulator")
PRIMARY, DR = "us-east-1", "us-west-2"
POLL_SECONDS = 30


class Emulator:
    def __init__(self, time_scale: float) -> None:
        self.log_dir = tempfile.mkdtemp(prefix="backstop-bench-")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backstop_emulator", "--port", "0", "--time-scale", str(time_scale), "--log-dir", self.log_dir],
            cwd=EMULATOR_DIR,
            stdout=subprocess.PIPE,
            stderr=open(os.path.join(self.log_dir, "stderr.log"), "wb"),
        )
        line = self.process.stdout.readline().decode()
        if not line.startswith("BACKSTOP_EMULATOR_READY port="):
            raise RuntimeError(f"the emulator did not start: {line!r}; see {self.log_dir}")
        self.endpoint = f"http://127.0.0.1:{int(line.strip().split('=', 1)[1])}"

    def client(self, service: str, region: str = DR):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"mode": "standard", "max_attempts": 5}, s3={"addressing_style": "path"}),
        )

    def control(self, method: str, route: str, body=None):
        request = urllib.request.Request(
            f"{self.endpoint}/backstop/{route}", data=json.dumps(body or {}).encode(), method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as answer:
            return json.load(answer)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def volume_sizes(n: int) -> list[int]:
    """GiB, spread geometrically from 8 to 2048: restores from ~3 to ~20 AWS minutes."""
    if n == 1:
        return [2048]
    return [round(8 * (2048 / 8) ** (i / (n - 1))) for i in range(n)]


def wait_all(what: str, check, timeout: float = 1800) -> None:
    deadline = time.time() + timeout
    while not check():
        if time.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.5)


def kind_of(i: int, mixed: bool) -> str:
    """The i-th resource's kind: all EBS, or (mixed) one in 20 RDS and one in 20 EFS, 20 each at most."""
    if mixed and i % 20 == 0 and i // 20 < 20:
        return "rds"
    if mixed and i % 20 == 1 and i // 20 < 20:
        return "efs"
    return "ebs"


def protect_volumes(emulator: Emulator, seed: dict, n: int, mixed: bool = False) -> list[str]:
    """N resources (volumes; with `mixed`, some databases and file systems) backed up in the
    primary region and copied to the DR vault, as a backup plan with a copy rule leaves them.
    Returns their ARNs."""
    ec2 = emulator.client("ec2", PRIMARY)
    rds = emulator.client("rds", PRIMARY)
    efs = emulator.client("efs", PRIMARY)
    backup = emulator.client("backup", PRIMARY)
    zone = seed["primary"]["subnets"][0]["availabilityZone"]
    role = seed["backupRoleArn"]
    arns = []
    for i, size in enumerate(volume_sizes(n)):
        kind = kind_of(i, mixed)
        if kind == "rds":
            db = rds.create_db_instance(
                DBInstanceIdentifier=f"db-{i:04d}", DBInstanceClass="db.t3.medium", Engine="postgres",
                AllocatedStorage=min(size, 1024), MasterUsername="bench", MasterUserPassword="not-a-real-secret",
                VpcSecurityGroupIds=[seed["primary"]["dbSecurityGroupId"]],
            )["DBInstance"]
            arns.append(db["DBInstanceArn"])
            continue
        if kind == "efs":
            fs = efs.create_file_system(CreationToken=f"bench-{i}", PerformanceMode="generalPurpose", Encrypted=True)
            arns.append(f"arn:aws:elasticfilesystem:{PRIMARY}:{seed['account']}:file-system/{fs['FileSystemId']}")
            continue
        volume = ec2.create_volume(AvailabilityZone=zone, Size=size, VolumeType="gp3")["VolumeId"]
        arns.append(f"arn:aws:ec2:{PRIMARY}:{seed['account']}:volume/{volume}")
    for arn in arns:
        backup.start_backup_job(BackupVaultName="backstop-primary", ResourceArn=arn, IamRoleArn=role)

    def jobs(kind: str) -> list[dict]:
        pages = backup.get_paginator(f"list_{kind}_jobs").paginate()
        key = "BackupJobs" if kind == "backup" else "CopyJobs"
        return [job for page in pages for job in page[key]]

    wait_all("backups", lambda: sum(j["State"] == "COMPLETED" for j in jobs("backup")) >= n)
    for job in jobs("backup"):
        backup.start_copy_job(
            RecoveryPointArn=job["RecoveryPointArn"], SourceBackupVaultName="backstop-primary",
            DestinationBackupVaultArn=seed["dr"]["backupVault"]["arn"], IamRoleArn=role,
        )
    wait_all("copies", lambda: sum(j["State"] == "COMPLETED" for j in jobs("copy")) >= n)
    return arns


def device(i: int) -> str:
    """The i-th EBS device name AWS recommends for data volumes (/dev/sdf to /dev/sdz)."""
    return f"/dev/sd{chr(ord('f') + i)}"


def plan_for(seed: dict, arns: list[str], attached: int = 0, mixed: bool = False) -> dict:
    """The drill plan: every resource restored, the first `attached` volumes attached to the
    instance (at most 21: /dev/sdf to /dev/sdz)."""
    dr = seed["dr"]
    zone = dr["subnets"][0]["availabilityZone"]

    def ebs(i: int) -> dict:
        settings = {"availabilityZone": zone, "volumeType": "gp3"}
        if i < attached:
            settings["attachTo"] = {"instance": "app", "device": device(i)}
        return settings

    def resource(i: int, arn: str) -> dict:
        kind = kind_of(i, mixed)
        if kind == "rds":
            return {"name": f"db-{i:04d}", "kind": "rds", "arn": arn, "rds": {
                "dbInstanceIdentifier": f"db-{i:04d}", "dbInstanceClass": "db.t3.medium",
                "dbSubnetGroupName": dr["dbSubnetGroup"], "vpcSecurityGroupIds": [dr["dbSecurityGroupId"]]}}
        if kind == "efs":
            return {"name": f"fs-{i:04d}", "kind": "efs", "arn": arn, "efs": {"performanceMode": "generalPurpose"}}
        return {"name": f"data-{i:04d}", "kind": "ebs", "arn": arn, "ebs": ebs(i)}

    return {
        "name": "bench",
        "primaryRegion": PRIMARY,
        "drRegion": DR,
        "backupVault": dr["backupVault"]["name"],
        "objectives": {"rtoMinutes": 240, "rpoMinutes": 240},
        "resources": [resource(i, arn) for i, arn in enumerate(arns)],
        "instances": [
            {
                "name": "app",
                "ami": {"ssmParameter": dr["goldenAmiParameter"]},
                "instanceTypes": ["m6i.large", "m5.large"],
                "subnetIds": [s["id"] for s in dr["subnets"]],
                "securityGroupIds": [dr["appSecurityGroupId"]],
            }
        ],
        "dns": [
            {
                "hostedZoneId": seed["dns"]["hostedZoneId"], "recordName": "app.shop.example.com", "recordType": "A",
                "ttl": 60, "drillRecordName": "drill.app.shop.example.com", "target": {"instance": "app"},
            }
        ],
    }


def history(sfn, arn: str) -> list[dict]:
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, includeExecutionData=True, **({"nextToken": token} if token else {}))
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events


def payload_bytes(event: dict) -> int:
    sizes = [0]
    for details in event.values():
        if isinstance(details, dict):
            for key in ("input", "output"):
                if isinstance(details.get(key), str):
                    sizes.append(len(details[key].encode()))
    return max(sizes)


def largest_in(events: list[dict]) -> str:
    """The event with the largest payload: its type, and its state's name when it has one."""
    event = max(events, key=payload_bytes)
    name = next((d.get("name") for d in event.values() if isinstance(d, dict) and d.get("name")), None)
    return f"{event['type']} {name}" if name else event["type"]


def spans(events: list[dict]) -> dict[str, tuple[float, float]]:
    """First entry and last exit of each state, in seconds since the epoch."""
    found: dict[str, list[float]] = {}
    for event in events:
        kind = event["type"]
        when = event["timestamp"].timestamp()
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            found.setdefault(name, [when, when])
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            found.setdefault(name, [when, when])[1] = when
    return {name: (a, b) for name, (a, b) in found.items()}


def first_passes(events: list[dict], until: float) -> list[tuple[str, float]]:
    """Each state's first pass that began before `until` (epoch seconds), and its seconds."""
    entered: dict[str, float] = {}
    passes: dict[str, float] = {}
    for event in events:
        kind = event["type"]
        when = event["timestamp"].timestamp()
        if kind.endswith("StateEntered") and when < until:
            entered.setdefault(event["stateEnteredEventDetails"]["name"], when)
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in entered and name not in passes:
                passes[name] = when - entered[name]
    return sorted(passes.items(), key=lambda kv: entered[kv[0]])


def passes_between(events: list[dict], start: float, end: float) -> list[tuple[str, int, float]]:
    """Each task state's passes that overlapped [start, end] (epoch seconds): how many, and
    their seconds inside it, in the order they first ran there."""
    entered: dict[str, float] = {}
    found: dict[str, list[float]] = {}
    for event in events:
        kind = event["type"]
        when = event["timestamp"].timestamp()
        if kind.endswith("StateEntered"):
            entered[event["stateEnteredEventDetails"]["name"]] = when
        elif kind.endswith("StateExited") and (name := event["stateExitedEventDetails"]["name"]) in entered:
            began = entered.pop(name)
            overlap = min(when, end) - max(began, start)
            if overlap >= 0 and when >= start:
                count, total = found.setdefault(name, [0, 0.0])
                found[name] = [count + 1, total + overlap]
    return [(name, int(count), total) for name, (count, total) in found.items() if total >= 0.05]


def time_in(events: list[dict], names: set[str]) -> dict[str, tuple[int, float]]:
    """(times entered, seconds spent) of each named state, whichever round."""
    spent: dict[str, tuple[int, float]] = {}
    entered: dict[str, float] = {}
    for event in events:
        kind = event["type"]
        when = event["timestamp"].timestamp()
        if kind.endswith("StateEntered") and (name := event["stateEnteredEventDetails"]["name"]) in names:
            entered[name] = when
        elif kind.endswith("StateExited") and (name := event["stateExitedEventDetails"]["name"]) in entered:
            count, total = spent.get(name, (0, 0.0))
            spent[name] = (count + 1, total + when - entered.pop(name))
    return spent


def run_one(n: int, time_scale: float, binary_dir: str, attached: int = 0, mixed: bool = False, cap: int | None = None) -> dict:
    # the run's slots: its maxConcurrentRestores, or every restore (the run's default)
    slot_count = cap or n
    emulator = Emulator(time_scale)
    try:
        # setup is not what is measured: backups and copies finish in a minute
        quick = {"EBS": 60, "RDS": 60, "EFS": 60}
        emulator.control("POST", "durations", {"backup": quick, "copy": quick})
        seed = emulator.control("POST", "seed", {"primaryRegion": PRIMARY, "drRegion": DR})
        arns = protect_volumes(emulator, seed, n, mixed)
        deployed = emulator.control(
            "POST", "deploy",
            {"template": os.path.join(ROOT, "template.yaml"), "region": DR, "stackName": "backstop", "parameters": {"CreateBackupVault": "false"}, "binaryDir": binary_dir},
        )
        bucket = deployed["outputs"]["RunStateBucketName"]
        machine = deployed["outputs"]["RecoveryStateMachineArn"]
        plan = plan_for(seed, arns, min(attached, n), mixed)
        emulator.client("s3").put_object(Bucket=bucket, Key="plans/bench.json", Body=json.dumps(plan).encode())
        emulator.control("DELETE", "calls")
        sfn = emulator.client("stepfunctions")
        execution = sfn.start_execution(
            stateMachineArn=machine, name=f"drill-bench-{n}",
            input=json.dumps({
                "mode": "drill", "planObject": f"s3://{bucket}/plans/bench.json",
                "settings": {"pollIntervalSeconds": POLL_SECONDS, **({"maxConcurrentRestores": cap} if cap else {})},
            }),
        )["executionArn"]
        while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            time.sleep(1)
        calls = emulator.control("GET", "calls")
        spent = emulator.control("GET", "calls/time")
        # calls EC2's request rate limits refused, by action (the handlers' SDK retried them)
        rates = emulator.control("GET", "rates")
        refused, answered = rates["refused"], rates["answered"]
        events = history(sfn, execution)
        restores = [
            job for page in emulator.client("backup").get_paginator("list_restore_jobs").paginate() for job in page["RestoreJobs"]
        ]
        timeline = spans(events)
        # what the drill left behind: volumes still in the DR region, and whether its teardown
        # and report finished (their time, and how many times each state was entered)
        left_volumes = sum(
            len(page["Volumes"]) for page in emulator.client("ec2").get_paginator("describe_volumes").paginate(
                Filters=[{"Name": "tag-key", "Values": ["backstop:run-id"]}])
        )
        cleanup = time_in(events, {"Teardown", "Report"})
        # task failures and timeouts by the state they happened in (a retried step shows here):
        # followed back through previousEventId, as the parallel branches interleave
        failures: dict[str, int] = {}
        first_failure: dict[str, str] = {}
        by_id = {e["id"]: e for e in events if "id" in e}

        def state_of(event: dict) -> str | None:
            seen = 0
            while event is not None and seen < 50:
                if event["type"].endswith("StateEntered"):
                    return event["stateEnteredEventDetails"]["name"]
                event = by_id.get(event.get("previousEventId"))
                seen += 1
            return None

        for event in events:
            if event["type"] in ("TaskFailed", "TaskTimedOut", "LambdaFunctionFailed", "LambdaFunctionTimedOut"):
                current = state_of(event)
                key = f"{current} {event['type']}"
                if key not in failures:
                    details = next((d for k, d in event.items() if k.endswith("EventDetails")), {})
                    first_failure[key] = f"{details.get('error', '')}: {str(details.get('cause', ''))[:300]}"
                failures[key] = failures.get(key, 0) + 1
        if described["status"] != "SUCCEEDED":
            print(f"      N={n}: the drill ended {described['status']}: {described.get('error')}: {described.get('cause', '')[:500]}", flush=True)
        slowest = max([(j["CompletionDate"] - j["CreationDate"]).total_seconds() for j in restores if "CompletionDate" in j] or [0])
        launch = timeline.get("LaunchInstances", (0, 0))
        critical = max(slowest, launch[1] - launch[0])
        # what maxConcurrentRestores alone forces: the jobs, in the order they started, on
        # that many slots
        durations = [(j["CompletionDate"] - j["CreationDate"]).total_seconds() for j in sorted(restores, key=lambda j: j["CreationDate"]) if "CompletionDate" in j]
        slots = [0.0] * slot_count
        for duration in durations:
            slots.sort()
            slots[0] += duration
        capped = max(max(slots), launch[1] - launch[0])
        # no scheduler on these slots finishes before the longest restore, nor before all the
        # restores' time spread evenly over them
        best = max(max(durations or [0]), sum(durations) / slot_count, launch[1] - launch[0])
        tail = 0.0
        for step in ("AttachVolumes", "SwitchDns"):
            if step in timeline:
                tail += timeline[step][1] - timeline[step][0]
        critical += tail
        capped += tail
        best += tail
        total = (described["stopDate"] - described["startDate"]).total_seconds()
        started = described["startDate"].timestamp()
        recovered = timeline["SwitchDns"][1] - started if "SwitchDns" in timeline else math.nan
        entered = [e for e in events if e["type"].endswith("StateEntered")]
        rounds = sum(1 for e in entered if e["stateEnteredEventDetails"]["name"] == "PollRestores")
        loop = {"StartRestores", "WaitForRestores", "PollRestores", "RestoresFinished?"}
        in_loop = sum(1 for e in entered if e["stateEnteredEventDetails"]["name"] in loop)
        attach = timeline.get("AttachVolumes", (0, 0))
        # where the time beyond the best bound goes: before the first restore starts (resolve
        # and the first round), after the last ends (its poll, attach, DNS), and in between
        # the slots' idle time (a slot free while restores still wait to start)
        created = sorted(j["CreationDate"].timestamp() for j in restores)
        ended = [j["CompletionDate"].timestamp() for j in restores if "CompletionDate" in j]
        before_first = created[0] - started if created else math.nan
        # what ran before the first restore started (the task states' first passes)
        first_steps = [(name, secs) for name, secs in first_passes(events, created[0] if created else math.inf) if secs >= 0.05]
        after_last = started + recovered - max(ended) if ended else math.nan
        # what ran from the last restore's end to the DNS switch (the run's tail)
        tail_steps = passes_between(events, max(ended), started + recovered) if ended else []
        # each restore that ended while others still waited to start: how long until the
        # next round began (StartRestores entered) and until the next restore started
        polls = sorted(e["timestamp"].timestamp() for e in events if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == "StartRestores")
        seen_after, next_after = [], []
        for end in ended:
            later = [c for c in created if c >= end]
            poll = [p for p in polls if p >= end]
            if later and poll:
                seen_after.append(poll[0] - end)
                next_after.append(later[0] - end)
        # slot-seconds left idle while restores still waited to start: the loop's own cost
        marks = sorted([(j["CreationDate"].timestamp(), 1) for j in restores] + [(j["CompletionDate"].timestamp(), -1) for j in restores if "CompletionDate" in j])
        idle, running, begun, last = 0.0, 0, 0, None
        for when, change in marks:
            if last is not None and begun < len(restores):
                idle += (slot_count - running) * (when - last)
            running += change
            begun += change > 0
            last = when
        filled = created[min(slot_count, len(created)) - 1] - created[0] if created else math.nan
        # a wait handed back by a restore's end: from the job's CompletionDate to the task's
        # success (the event, wake-restores, SendTaskSuccess); and a wait that found the end
        # already missed (it ended while no wait was parked)
        completion = {j["RestoreJobId"]: j["CompletionDate"].timestamp() for j in restores if "CompletionDate" in j}
        woken_after, missed = [], 0
        # the wait's phases: entered, the park invocation scheduled, started, submitted, the
        # token handed back, exited (mean seconds from each event to the one it follows,
        # by previousEventId: the launch branch's events interleave)
        phases: dict[str, list[float]] = {}
        for event in events:
            if state_of(event) != "WaitForRestores" or event["type"].endswith("StateEntered"):
                continue
            before = by_id.get(event.get("previousEventId"))
            if before is not None:
                phases.setdefault(f"{before['type']}->{event['type']}", []).append(event["timestamp"].timestamp() - before["timestamp"].timestamp())
            if event["type"] == "TaskSucceeded":
                woken = json.loads(event["taskSucceededEventDetails"].get("output") or "{}").get("wokenBy", {})
                if "missedAt" in woken:
                    missed += 1
                elif woken.get("restoreJobId") in completion:
                    woken_after.append(event["timestamp"].timestamp() - completion[woken["restoreJobId"]])
        return {
            "leftVolumes": left_volumes,
            "failures": failures,
            "firstFailure": first_failure,
            "cleanup": cleanup,
            "waitPhases": {k: (len(v), statistics.mean(v)) for k, v in phases.items()},
            "wokenAfter": statistics.mean(woken_after) if woken_after else math.nan,
            "woken": len(woken_after),
            "missed": missed,
            "idle": idle / slot_count,
            "spent": spent,
            "filled": filled,
            "seenAfter": statistics.mean(seen_after) if seen_after else math.nan,
            "nextAfter": statistics.mean(next_after) if next_after else math.nan,
            "loopStates": time_in(events, loop),
            "beforeFirst": before_first,
            "firstSteps": first_steps,
            "afterLast": after_last,
            "tailSteps": tail_steps,
            "restoring": (max(ended) - created[0]) if ended and created else math.nan,
            "n": n,
            "attached": min(attached, n),
            "attach": attach[1] - attach[0],
            "status": described["status"],
            "recovered": recovered,
            "total": total,
            "critical": critical,
            "overhead": recovered / critical if critical else math.nan,
            "capped": capped,
            "best": best,
            "vsBest": recovered / best if best else math.nan,
            "transitions": len(entered),
            "perRound": in_loop / rounds if rounds else math.nan,
            "rounds": rounds,
            "events": len(events),
            "payload": max(payload_bytes(e) for e in events),
            "payloadIn": largest_in(events),
            "calls": sum(calls.values()),
            "callsPerResource": sum(calls.values()) / n,
            "byService": calls,
            "refused": refused,
            "ec2Calls": answered,
        }
    finally:
        emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10,100,1000")
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--profile", default="debug", choices=["debug", "release"])
    parser.add_argument("--mixed", action="store_true", help="one resource in 20 an RDS database, one in 20 an EFS file system (20 each at most)")
    parser.add_argument("--attached", type=int, default=0, choices=range(0, 22), metavar="0-21",
                        help="attach the first K volumes to the instance (the AttachVolumes step's time is printed)")
    parser.add_argument("--slots", type=int, default=None, metavar="K",
                        help="the run's maxConcurrentRestores (default: left out, so every restore starts at once)")
    args = parser.parse_args()
    binary_dir = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), args.profile)
    print(f"drill orchestration on the emulator, time scale {args.time_scale} (1 AWS hour = {3600 * args.time_scale:.0f} s), "
          f"{args.profile} handlers, maxConcurrentRestores {args.slots or 'left out (no cap)'}, poll every {POLL_SECONDS} AWS s")
    header = f"{'N':>5} {'status':>9} {'recovered s':>12} {'critical s':>11} {'overhead':>9} {'order bound s':>14} {'best bound s':>13} {'vs best':>8} {'total s':>8} {'transitions':>12} {'per round':>10} {'rounds':>7} {'events':>7} {'max payload B':>14} {'AWS calls':>10} {'per resource':>13}"
    print(header)
    for n in [int(x) for x in args.sizes.split(",")]:
        r = run_one(n, args.time_scale, binary_dir, args.attached, args.mixed, args.slots)
        print(f"{r['n']:>5} {r['status']:>9} {r['recovered']:>12.1f} {r['critical']:>11.1f} {r['overhead']:>9.2f} {r['capped']:>14.1f} {r['best']:>13.1f} {r['vsBest']:>8.2f} {r['total']:>8.1f} {r['transitions']:>12} "
              f"{r['perRound']:>10.1f} {r['rounds']:>7} {r['events']:>7} {r['payload']:>14} {r['calls']:>10} {r['callsPerResource']:>13.1f}",
              flush=True)
        print(f"      AWS calls by service: {json.dumps(r['byService'], sort_keys=True)}; largest payload in: {r['payloadIn']}", flush=True)
        print(f"      EC2 calls answered, by action (to the run's end): {json.dumps(r['ec2Calls'], sort_keys=True)}", flush=True)
        print(f"      refused by EC2's request rate limits: {json.dumps(r['refused'], sort_keys=True)}", flush=True)
        print(f"      first restore started {r['beforeFirst']:.1f} s after the execution ("
              + ", ".join(f"{name} {secs:.2f} s" for name, secs in r["firstSteps"])
              + f"); restores ran {r['restoring']:.1f} s; DNS switched {r['afterLast']:.1f} s after the last ended ("
              + ", ".join(f"{name} {secs:.2f} s in {count}" for name, count, secs in r["tailSteps"]) + ")", flush=True)
        top = sorted(r["spent"].items(), key=lambda kv: -kv[1][1])[:8]
        print("      the emulator's own time on the handlers' calls, s (calls): " + ", ".join(f"{name} {total:.1f} ({calls})" for name, (calls, total) in top), flush=True)
        print(f"      waits handed back by a restore's end: {r['woken']}, {r['wokenAfter']:.2f} s after it ended (mean); waits that found an end missed: {r['missed']}", flush=True)
        print("      the wait's phases, mean s (count): " + ", ".join(f"{k} {m:.3f} ({n})" for k, (n, m) in sorted(r["waitPhases"].items(), key=lambda kv: -kv[1][0] * kv[1][1])[:6]), flush=True)
        print(f"      slots idle while restores waited to start: {r['idle']:.1f} s per slot", flush=True)
        print(f"      the first {args.slots or n} restores (or all) started within {r['filled']:.2f} s of the first", flush=True)
        print(f"      a restore's end (while others waited): the next round began after {r['seenAfter']:.2f} s, the next restore started after {r['nextAfter']:.2f} s (means)", flush=True)
        print("      restore loop, mean s per entry: " + ", ".join(f"{name} {total / count:.2f} ({count}x)" for name, (count, total) in sorted(r["loopStates"].items())), flush=True)
        # a state entered again is a new pass (teardown's loop); a retry stays in one entry
        print("      after recovery: " + ", ".join(f"{step} {total:.1f} s, entered {count}x" for step, (count, total) in sorted(r["cleanup"].items()))
              + f"; volumes tagged with a run id left in the DR region: {r['leftVolumes']}; task failures: {json.dumps(r['failures'], sort_keys=True)}", flush=True)
        for key, why in sorted(r["firstFailure"].items()):
            if "TimedOut" not in key or "WaitForRestores" not in key:
                print(f"      first {key}: {why}", flush=True)
        if r["attached"]:
            print(f"      AttachVolumes: {r['attached']} volumes attached in {r['attach']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
