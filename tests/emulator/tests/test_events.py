"""Events as AWS Backup sends them (AWS Backup developer guide, "Monitoring AWS Backup events using
Amazon EventBridge"): `resources` names the recovery point, `time` is ISO-8601, backup and copy jobs
report `state`, restore jobs `status`; a failed copy's `destinationRecoveryPointArn` may be `{}`."""

import json
import os
import re
import tempfile
import time

from conftest import DR, PRIMARY, deploy_fake_function, dr_metadata, protect, restore, wait_for


def _record_events(emulator, region, detail_types):
    record = tempfile.mktemp(prefix="events-", suffix=".jsonl")
    # the function receives what EventBridge delivers to a Lambda target
    deploy = emulator.control(
        "POST",
        "functions",
        {"functions": [{"name": f"recorder-{region}", "binary": os.path.join(os.path.dirname(__file__), "fake_function.py"), "region": region, "timeout": 30, "environment": {"RECORD_FILE": record}}]},
    )
    events = emulator.client("events", region)
    events.put_rule(Name="backup-jobs", EventPattern=json.dumps({"source": ["aws.backup"], "detail-type": detail_types}))
    events.put_targets(Rule="backup-jobs", Targets=[{"Id": "recorder", "Arn": deploy[f"recorder-{region}"]}])

    def read():
        if not os.path.exists(record):
            return []
        with open(record) as lines:
            return [json.loads(line) for line in lines if line.strip()]

    return read


ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_backup_and_copy_events_carry_state_the_recovery_point_and_a_size(emulator, world):
    read = _record_events(emulator, PRIMARY, ["Backup Job State Change", "Copy Job State Change"])
    copy = protect(emulator, world, world["primary"]["volumes"]["app-data"]["arn"])
    events = wait_for(
        "completed backup and copy events",
        lambda: (lambda e: e if sum(x["detail"].get("state") == "COMPLETED" for x in e) >= 2 else None)(read()),
    )
    backup = next(e for e in events if e["detail-type"] == "Backup Job State Change" and e["detail"]["state"] == "COMPLETED")
    assert backup["source"] == "aws.backup" and backup["region"] == PRIMARY
    assert ISO.match(backup["time"]), backup["time"]
    assert "ingestion-time" not in backup
    assert backup["resources"][0] == backup["detail"]["recoveryPointArn"]
    assert backup["resources"][0].startswith("arn:aws:ec2:us-east-1::snapshot/")
    assert isinstance(backup["detail"]["percentDone"], float)
    assert int(backup["detail"]["backupSizeInBytes"]) == 50 * 1024**3
    assert "status" not in backup["detail"]
    copied = next(e for e in events if e["detail-type"] == "Copy Job State Change" and e["detail"]["state"] == "COMPLETED")
    assert copied["resources"][0] == copy == copied["detail"]["destinationRecoveryPointArn"]


def test_a_failed_copy_has_an_empty_object_for_its_destination_recovery_point(emulator, world):
    read = _record_events(emulator, PRIMARY, ["Copy Job State Change"])
    emulator.control("POST", "faults", {"failJobs": [{"jobType": "copy", "resourceArn": world["primary"]["volumes"]["app-logs"]["arn"], "message": "Copy failed: KMS key not usable"}]})
    try:
        protect(emulator, world, world["primary"]["volumes"]["app-logs"]["arn"])
    except AssertionError:
        pass
    failed = wait_for("a FAILED copy event", lambda: [e for e in read() if e["detail"]["state"] == "FAILED"])[0]
    assert failed["detail"]["destinationRecoveryPointArn"] == {}
    assert failed["detail"]["statusMessage"] == "Copy failed: KMS key not usable"


def test_restore_events_carry_status_and_a_numeric_percent(emulator, world):
    read = _record_events(emulator, DR, ["Restore Job State Change"])
    copy = protect(emulator, world, world["primary"]["volumes"]["app-logs"]["arn"])
    job = restore(emulator, world, copy, {"availabilityZone": f"{DR}a"})
    done = wait_for("a COMPLETED restore event", lambda: [e for e in read() if e["detail"].get("status") == "COMPLETED"])[0]
    assert done["detail"]["restoreJobId"] == job["RestoreJobId"]
    assert "state" not in done["detail"]
    assert done["detail"]["percentDone"] == 100.0
    assert done["detail"]["createdResourceArn"] == job["CreatedResourceArn"]
    assert done["resources"][0] == copy
    assert dr_metadata


def test_a_scheduled_rule_is_not_matched_by_events_on_its_bus(emulator, world):
    """EventBridge: a rule with a ScheduleExpression runs on its schedule only; the events put on
    the bus go to the rules whose pattern they match."""
    read = _record_events(emulator, DR, ["Backup Job State Change"])
    events = emulator.client("events", DR)
    recorder = events.list_targets_by_rule(Rule="backup-jobs")["Targets"][0]["Arn"]
    events.put_rule(Name="hourly", ScheduleExpression="rate(1 hour)")
    events.put_targets(Rule="hourly", Targets=[{"Id": "scheduled", "Arn": recorder, "Input": json.dumps({"scheduled": True})}])
    events.put_events(Entries=[{"Source": "aws.backup", "DetailType": "Backup Job State Change", "Detail": json.dumps({"state": "COMPLETED"})}])
    received = wait_for("the backup event", lambda: read())
    assert received[0]["source"] == "aws.backup", received
    time.sleep(1)  # what the same put would also have delivered
    assert [event.get("source") for event in read()] == ["aws.backup"], read()
