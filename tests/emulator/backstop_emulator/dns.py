"""What a name resolves to now, as Route 53's data plane would answer it.

moto keeps record sets and health checks but answers no DNS queries, and drops a CloudWatch
health check's `AlarmIdentifier` and `InsufficientDataHealthStatus`. This module keeps both
(create and get show them, as in Route 53's API) and answers `POST /backstop/dns/resolve
{"name", "type"}` with the records Route 53 would serve:

- a simple record: its values;
- failover routing (Route 53 developer guide, "Failover routing"): the PRIMARY record while it
  is healthy, else the SECONDARY. A record without a health check is healthy. A
  `CLOUDWATCH_METRIC` health check is healthy while its alarm (in the alarm's own region) is OK,
  unhealthy in ALARM, and in INSUFFICIENT_DATA as `InsufficientDataHealthStatus` says (Healthy,
  Unhealthy, or LastKnownStatus: healthy until it has seen a state). Other health check types
  probe endpoints the emulator cannot reach; they are reported as not evaluated (healthy).
"""

from __future__ import annotations

from typing import Any

from .internal import client

# health check id -> {"AlarmIdentifier": {...}, "InsufficientDataHealthStatus": ...}
_ALARM_SETTINGS: dict[str, dict[str, Any]] = {}
# health check id -> last healthy state seen from its alarm (for LastKnownStatus)
_LAST_KNOWN: dict[str, bool] = {}


def install() -> None:
    from moto.route53 import models, responses

    original_create = responses.Route53.create_health_check

    def create_health_check(self):  # type: ignore[no-untyped-def]
        result = original_create(self)
        config = self._get_param("HealthCheckConfig") or {}
        settings = {
            key: config[key] for key in ("AlarmIdentifier", "InsufficientDataHealthStatus") if config.get(key)
        }
        if settings:
            health_check = self.backend.health_checks[_created_id(self.backend, self._get_param("CallerReference"))]
            _ALARM_SETTINGS[health_check.id] = settings
        return result

    responses.Route53.create_health_check = create_health_check

    original_config = models.HealthCheck.health_check_config

    def health_check_config(self) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        return {**original_config.fget(self), **_ALARM_SETTINGS.get(self.id, {})}

    models.HealthCheck.health_check_config = property(health_check_config)


def _created_id(backend: Any, caller_reference: str) -> str:
    return next(h.id for h in backend.health_checks.values() if h.caller_reference == caller_reference)


def _healthy(health_check_id: str | None) -> tuple[bool, str]:
    """Whether Route 53 would see the health check healthy now, and why."""
    if not health_check_id:
        return True, "no health check"
    check = client("route53", "us-east-1").get_health_check(HealthCheckId=health_check_id)["HealthCheck"]
    config = check["HealthCheckConfig"]
    if config["Type"] != "CLOUDWATCH_METRIC":
        return True, f"{config['Type']} health check not evaluated by the emulator"
    alarm_id = config["AlarmIdentifier"]
    alarms = client("cloudwatch", alarm_id["Region"]).describe_alarms(AlarmNames=[alarm_id["Name"]])["MetricAlarms"]
    if not alarms:
        # Route 53: a health check whose alarm is gone reports its InsufficientData status
        state = "INSUFFICIENT_DATA"
    else:
        state = alarms[0]["StateValue"]
    if state in ("OK", "ALARM"):
        healthy = state == "OK"
        _LAST_KNOWN[health_check_id] = healthy
        return healthy, f"alarm {alarm_id['Name']} is {state}"
    status = config.get("InsufficientDataHealthStatus", "LastKnownStatus")
    if status == "LastKnownStatus":
        healthy = _LAST_KNOWN.get(health_check_id, True)
    else:
        healthy = status == "Healthy"
    return healthy, f"alarm {alarm_id['Name']} has insufficient data ({status})"


def _dns(name: str) -> str:
    return name.rstrip(".").lower() + "."


def resolve(name: str, record_type: str = "A") -> dict[str, Any]:
    route53 = client("route53", "us-east-1")
    wanted = _dns(name)
    zones = [
        zone
        for zone in route53.list_hosted_zones()["HostedZones"]
        if not zone.get("Config", {}).get("PrivateZone") and (wanted == zone["Name"] or wanted.endswith("." + zone["Name"]))
    ]
    if not zones:
        return {"name": wanted, "type": record_type, "answer": [], "why": "no public hosted zone holds the name"}
    zone = max(zones, key=lambda z: len(z["Name"]))  # the most specific zone answers
    records = [
        record
        for record in route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
        if _dns(record["Name"]) == wanted and record["Type"] == record_type
    ]
    answer: dict[str, Any] = {"name": wanted, "type": record_type, "hostedZoneId": zone["Id"]}

    def values(record: dict[str, Any]) -> list[str]:
        if "AliasTarget" in record:
            return [record["AliasTarget"]["DNSName"]]
        return [r["Value"] for r in record.get("ResourceRecords", [])]

    by_role = {record.get("Failover"): record for record in records}
    if "PRIMARY" in by_role or "SECONDARY" in by_role:
        primary, secondary = by_role.get("PRIMARY"), by_role.get("SECONDARY")
        healthy, why = _healthy(primary.get("HealthCheckId")) if primary else (False, "no PRIMARY record")
        chosen = primary if healthy else secondary
        role = "PRIMARY" if healthy else "SECONDARY"
        return {**answer, "answer": values(chosen) if chosen else [], "record": role, "why": why}
    if records:
        return {**answer, "answer": values(records[0]), "record": "simple", "why": "a simple record"}
    return {**answer, "answer": [], "why": "no such record"}
