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
import time
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
        self.backstop_created = time.time()

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
    _evaluate_on_metric_data()


# Metric alarms evaluated on the data put to their metric (CloudWatch user guide, "Evaluating
# an alarm"): about once a minute (scaled), over the last EvaluationPeriods x Period; a
# breach sets ALARM, data within the threshold sets OK, and no data in the window does what
# TreatMissingData says (missing: INSUFFICIENT_DATA, breaching: ALARM, notBreaching: OK,
# ignore: the state is kept). Only alarms whose metric has received data are evaluated, so an
# alarm a test sets with SetAlarmState keeps that state (AWS would re-evaluate it).
_DATA: dict[tuple, list[tuple[float, float]]] = {}
_DATA_LOCK = threading.Lock()
_EVALUATOR: list[threading.Thread] = []
_LAST_EVALUATION: dict[str, float] = {}
EVALUATION_INTERVAL_SECONDS = 60.0

_COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
_STATISTIC = {
    "Maximum": max,
    "Minimum": min,
    "Sum": sum,
    "SampleCount": len,
    "Average": lambda values: sum(values) / len(values),
}


def _metric_key(account: str, region: str, namespace: str, name: str, dimensions: Any) -> tuple:
    dims = frozenset((d["Name"], d["Value"]) if isinstance(d, dict) else (d.name, d.value) for d in dimensions or [])
    return (account, region, namespace, name, dims)


def _evaluate_on_metric_data() -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.put_metric_data

    def put_metric_data(self, namespace, metric_data):  # type: ignore[no-untyped-def]
        original(self, namespace, metric_data)
        now = time.time()
        with _DATA_LOCK:
            for datum in metric_data:
                values = datum.get("Values") or ([datum["Value"]] if datum.get("Value") is not None else [])
                key = _metric_key(self.account_id, self.region_name, namespace, datum["MetricName"], datum.get("Dimensions"))
                _DATA.setdefault(key, []).extend((now, float(v)) for v in values)
        with _DATA_LOCK:
            if not _EVALUATOR:
                thread = threading.Thread(target=_evaluate_forever, daemon=True)
                _EVALUATOR.append(thread)
                thread.start()

    CloudWatchBackend.put_metric_data = put_metric_data


def _evaluate_forever() -> None:
    from . import aws_time

    while True:
        time.sleep(EVALUATION_INTERVAL_SECONDS * aws_time.SCALE)
        try:
            evaluate_alarms()
        except Exception:  # the evaluator must outlive one bad alarm
            LOG.exception("alarm evaluation failed")


def evaluate_alarms() -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    from . import aws_time

    now = time.time()
    with _DATA_LOCK:
        metrics = {key: list(points) for key, points in _DATA.items()}
    for account, region, namespace, name, dims in metrics:
        backend = cloudwatch_backends[account][region]
        for alarm in list(backend.alarms.values()):
            if getattr(alarm, "rule", None) or alarm.namespace != namespace or alarm.metric_name != name:
                continue
            if _metric_key(account, region, namespace, name, alarm.dimensions) != (account, region, namespace, name, dims):
                continue
            window = float(alarm.period or 60) * int(alarm.evaluation_periods or 1) * aws_time.SCALE
            # every datapoint is seen by at least one evaluation, however late the tick
            last = _LAST_EVALUATION.get(alarm.alarm_arn, getattr(alarm, "backstop_created", now))
            since = min(now - window, last)
            _LAST_EVALUATION[alarm.alarm_arn] = now
            values = [v for at, v in metrics[(account, region, namespace, name, dims)] if at > since]
            compare = _COMPARE.get(alarm.comparison_operator)
            if compare is None:
                continue  # anomaly-detection bands are not evaluated
            if values:
                statistic = _STATISTIC.get(alarm.statistic or "Average", _STATISTIC["Average"])
                value = float(statistic(values))
                breached = compare(value, float(alarm.threshold))
                state = "ALARM" if breached else "OK"
                reason = (
                    f"Threshold Crossed: 1 datapoint [{value}] was "
                    f"{'' if breached else 'not '}{alarm.comparison_operator} the threshold ({alarm.threshold})."
                )
            else:
                missing = alarm.treat_missing_data or "missing"
                state = {"breaching": "ALARM", "notBreaching": "OK", "missing": "INSUFFICIENT_DATA"}.get(missing)
                if state is None:  # ignore: the alarm keeps its state
                    continue
                reason = f"no datapoints in the evaluation window (TreatMissingData: {missing})"
            if state != alarm.state_value:
                alarm.update_state(reason, json.dumps({"version": "1.0", "evaluatedDatapoints": len(values)}), state)
