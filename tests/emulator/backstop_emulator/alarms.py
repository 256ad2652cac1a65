"""CloudWatch alarm state changes as AWS delivers them (CloudWatch user guide: "Alarm events and
EventBridge" and "Lambda alarm actions"):

- every change of an alarm's state (never a set to the state it is already in) puts a
  `CloudWatch Alarm State Change` event (source `aws.cloudwatch`) on the alarm region's default
  bus, `resources` the alarm ARN, `detail` its name, `state`, `previousState` and `configuration`;
- if the alarm's actions are enabled, each Lambda function among the actions of the new state
  (`AlarmActions` for ALARM, `OKActions`, `InsufficientDataActions`) is invoked asynchronously
  with the alarm action payload (`source`, `alarmArn`, `accountId`, `time`, `region`,
  `alarmData`) - only if the function's resource policy lets `lambda.alarms.cloudwatch.amazonaws.com`
  invoke it, as AWS checks.

A new alarm starts in INSUFFICIENT_DATA, and PutMetricAlarm on an existing one keeps its state,
as the API reference says. Timestamps are as CloudWatch writes them: `2019-10-02T17:04:40.985+0000`.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from typing import Any

LOG = logging.getLogger("backstop.alarms")
ALARM_PRINCIPAL = "lambda.alarms.cloudwatch.amazonaws.com"


def _cloudwatch_time(when: datetime) -> str:
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def _state(value: str, reason: str, reason_data: str | None, timestamp: datetime) -> dict[str, Any]:
    state = {"value": value, "reason": reason, "timestamp": _cloudwatch_time(timestamp)}
    if reason_data and reason_data != "{}":
        state["reasonData"] = reason_data
    return state


def _configuration(alarm: Any) -> dict[str, Any]:
    if getattr(alarm, "rule", None):
        # a composite alarm: its rule instead of metrics
        return {"alarmRule": alarm.rule, "actionsSuppressor": None, "description": alarm.description or ""}
    metric = {
        "id": "m1",
        "metricStat": {
            "metric": {
                "namespace": alarm.namespace,
                "name": alarm.metric_name,
                "dimensions": {d.name: d.value for d in alarm.dimensions},
            },
            "period": alarm.period,
            "stat": alarm.statistic,
        },
        "returnData": True,
    }
    return {"description": alarm.description or "", "metrics": [metric]}


def _function_allows_alarms(function: Any, alarm_arn: str) -> bool:
    policy = getattr(function, "policy", None)
    for statement in getattr(policy, "statements", None) or []:
        principal = statement.get("Principal", {})
        service = principal.get("Service") if isinstance(principal, dict) else principal
        services = service if isinstance(service, list) else [service]
        if ALARM_PRINCIPAL not in services:
            continue
        condition = statement.get("Condition") or statement.get("SourceArn") or {}
        source = (condition.get("ArnLike") or {}).get("AWS:SourceArn")
        if source is None or _arn_like(alarm_arn, source):
            return True
    return False


def _arn_like(arn: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(arn, pattern)


def _deliver(alarm: Any, account: str, previous: dict[str, Any], current: dict[str, Any]) -> None:
    from moto.events.models import events_backends

    region = alarm.region_name
    data = {"alarmName": alarm.name, "state": current, "previousState": previous, "configuration": _configuration(alarm)}
    try:
        events_backends[account][region].put_events(
            [
                {
                    "Source": "aws.cloudwatch",
                    "DetailType": "CloudWatch Alarm State Change",
                    "Detail": json.dumps(data),
                    "Resources": [alarm.alarm_arn],
                }
            ]
        )
    except Exception:  # an event must never break SetAlarmState itself
        LOG.exception("could not put the state change event of alarm %s", alarm.name)
    if not alarm.actions_enabled:
        return
    actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions, "INSUFFICIENT_DATA": alarm.insufficient_data_actions}
    payload = {
        "source": "aws.cloudwatch",
        "alarmArn": alarm.alarm_arn,
        "accountId": account,
        "time": current["timestamp"],
        "region": region,
        "alarmData": data,
    }
    for action in actions.get(current["value"]) or []:
        if ":lambda:" not in action:
            continue
        _invoke_action(action, alarm.alarm_arn, payload)


def _invoke_action(function_arn: str, alarm_arn: str, payload: dict[str, Any]) -> None:
    from moto.awslambda.utils import get_backend

    from .lambda_runner import _run_detached

    parts = function_arn.split(":")
    try:
        function = get_backend(parts[4], parts[3]).get_function(parts[6], None)
    except Exception:
        LOG.warning("alarm %s: its Lambda action %s does not exist", alarm_arn, function_arn)
        return
    if not _function_allows_alarms(function, alarm_arn):
        LOG.warning(
            "alarm %s: Lambda action %s refused: the function's resource policy does not allow %s",
            alarm_arn,
            function_arn,
            ALARM_PRINCIPAL,
        )
        return
    threading.Thread(target=_run_detached, args=(function, json.dumps(payload).encode()), daemon=True).start()


def install() -> None:
    from moto.cloudwatch.models import Alarm, CloudWatchBackend

    # PutMetricAlarm (API reference): a new alarm starts in INSUFFICIENT_DATA (moto: OK); an
    # update "completely overwrites the previous configuration" but leaves the state unchanged
    # (moto: replaces the alarm, state and all)
    original_init = Alarm.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_init(self, *args, **kwargs)
        self.state_value = "INSUFFICIENT_DATA"

    Alarm.__init__ = init
    original_put = CloudWatchBackend.put_metric_alarm

    def put_metric_alarm(self, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        existing = self.alarms.get(name)
        alarm = original_put(self, name, *args, **kwargs)
        if existing is not None:
            for kept in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp", "history"):
                setattr(alarm, kept, getattr(existing, kept))
        return alarm

    CloudWatchBackend.put_metric_alarm = put_metric_alarm

    original = Alarm.update_state

    def update_state(self, reason, reason_data, state_value):  # type: ignore[no-untyped-def]
        before = (self.state_value, self.state_reason, self.state_reason_data, self.state_updated_timestamp)
        original(self, reason, reason_data, state_value)
        if before[0] == state_value:
            return  # not a change: no event, no action
        account = self.alarm_arn.split(":")[4]
        previous = _state(before[0], before[1], before[2], before[3])
        current = _state(self.state_value, self.state_reason, self.state_reason_data, self.state_updated_timestamp)
        _deliver(self, account, previous, current)

    Alarm.update_state = update_state
