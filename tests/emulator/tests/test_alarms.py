"""Alarm state changes as CloudWatch delivers them (CloudWatch User Guide, "Alarm events and
EventBridge" and "Lambda alarm actions"): an event per change of state (none for a set to the same
state), and an asynchronous call of each Lambda action of the new state, only if the function's
resource policy lets lambda.alarms.cloudwatch.amazonaws.com invoke it."""

import json
import os
import re
import tempfile

from conftest import DR, wait_for


def _recorder(emulator, name):
    record = tempfile.mktemp(prefix=f"{name}-", suffix=".jsonl")
    deployed = emulator.control(
        "POST",
        "functions",
        {"functions": [{"name": name, "binary": os.path.join(os.path.dirname(__file__), "fake_function.py"), "region": DR, "timeout": 30, "environment": {"RECORD_FILE": record}}]},
    )

    def read():
        if not os.path.exists(record):
            return []
        with open(record) as lines:
            return [json.loads(line) for line in lines if line.strip()]

    return deployed[name], read


def _alarm(cloudwatch, name, actions):
    cloudwatch.put_metric_alarm(
        AlarmName=name, Namespace="Shop", MetricName="Down", Statistic="Maximum", Period=60,
        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=actions,
    )


CLOUDWATCH_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


def test_a_state_change_is_an_event_and_a_permitted_lambda_action(emulator):
    events_arn, events = _recorder(emulator, "alarm-events")
    action_arn, actions = _recorder(emulator, "alarm-action")
    refused_arn, refused = _recorder(emulator, "alarm-action-refused")
    lam = emulator.client("lambda", DR)
    lam.add_permission(FunctionName="alarm-action", StatementId="alarms", Action="lambda:InvokeFunction",
                       Principal="lambda.alarms.cloudwatch.amazonaws.com",
                       SourceArn=f"arn:aws:cloudwatch:{DR}:123456789012:alarm:*")
    bus = emulator.client("events", DR)
    bus.put_rule(Name="alarms", EventPattern=json.dumps({"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}))
    bus.put_targets(Rule="alarms", Targets=[{"Id": "recorder", "Arn": events_arn}])
    cloudwatch = emulator.client("cloudwatch", DR)
    _alarm(cloudwatch, "primary-down", [action_arn, refused_arn])

    cloudwatch.set_alarm_state(AlarmName="primary-down", StateValue="ALARM", StateReason="down")
    event = wait_for("the state change event", lambda: events())[0]
    assert event["source"] == "aws.cloudwatch" and event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == [f"arn:aws:cloudwatch:{DR}:123456789012:alarm:primary-down"]
    detail = event["detail"]
    assert detail["alarmName"] == "primary-down"
    # a new alarm starts in INSUFFICIENT_DATA (PutMetricAlarm, API reference)
    assert (detail["previousState"]["value"], detail["state"]["value"]) == ("INSUFFICIENT_DATA", "ALARM")
    assert CLOUDWATCH_TIME.match(detail["state"]["timestamp"]), detail["state"]["timestamp"]
    assert detail["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] == "Down"

    payload = wait_for("the alarm action", lambda: actions())[0]
    assert payload["source"] == "aws.cloudwatch"
    assert payload["alarmArn"] == event["resources"][0]
    assert payload["alarmData"]["state"] == detail["state"]
    assert "detail-type" not in payload

    # the same state again is no change: no event, no action
    cloudwatch.set_alarm_state(AlarmName="primary-down", StateValue="ALARM", StateReason="still down")
    cloudwatch.set_alarm_state(AlarmName="primary-down", StateValue="OK", StateReason="back")
    wait_for("the OK event", lambda: len(events()) == 2)
    assert [e["detail"]["state"]["value"] for e in events()] == ["ALARM", "OK"]
    # OK has no actions here, and the function without the alarms' permission was never called
    assert len(actions()) == 1
    assert refused() == []


def test_a_new_alarm_has_insufficient_data_and_an_update_keeps_its_state(emulator):
    cloudwatch = emulator.client("cloudwatch", DR)
    _alarm(cloudwatch, "state-kept", [])
    state = lambda: cloudwatch.describe_alarms(AlarmNames=["state-kept"])["MetricAlarms"][0]["StateValue"]
    assert state() == "INSUFFICIENT_DATA"
    cloudwatch.set_alarm_state(AlarmName="state-kept", StateValue="ALARM", StateReason="down")
    _alarm(cloudwatch, "state-kept", [])  # PutMetricAlarm again: the configuration changes, not the state
    assert state() == "ALARM"
