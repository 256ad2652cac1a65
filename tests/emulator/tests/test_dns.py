"""What a name resolves to, as Route 53's data plane answers it: simple records, and failover
routing whose PRIMARY health check follows a CloudWatch alarm in another region (the DNS switch
that needs no Route 53 control-plane call at failover)."""

import uuid

from conftest import DR, PRIMARY


def _resolve(emulator, name):
    return emulator.control("POST", "dns/resolve", {"name": name, "type": "A"})


def _failover_pair(emulator, zone_id, name, insufficient, alarm="shop-failover"):
    cloudwatch = {"region": DR}
    emulator.control("POST", "cloudwatch", {**cloudwatch, "action": "PutMetricAlarm", "params": {
        "AlarmName": alarm, "Namespace": "Backstop", "MetricName": "FailoverActive",
        "Dimensions": [{"Name": "Plan", "Value": "shop"}], "Statistic": "Maximum", "Period": 60,
        "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "ignore",
    }})
    route53 = emulator.client("route53", PRIMARY)
    check = route53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig={
        "Type": "CLOUDWATCH_METRIC",
        "AlarmIdentifier": {"Region": DR, "Name": alarm},
        "InsufficientDataHealthStatus": insufficient,
    })["HealthCheck"]
    changes = []
    for role, ip, health in (("PRIMARY", "198.51.100.10", check["Id"]), ("SECONDARY", "203.0.113.20", None)):
        record = {"Name": name, "Type": "A", "SetIdentifier": role.lower(), "Failover": role, "TTL": 60,
                  "ResourceRecords": [{"Value": ip}]}
        if health:
            record["HealthCheckId"] = health
        changes.append({"Action": "CREATE", "ResourceRecordSet": record})
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return check


def _set_alarm(emulator, state):
    emulator.control("POST", "cloudwatch", {"region": DR, "action": "SetAlarmState", "params": {
        "AlarmName": "shop-failover", "StateValue": state, "StateReason": "test"}})


def test_a_simple_record_answers_its_values(emulator, world):
    answer = _resolve(emulator, "app.shop.example.com")
    assert answer["record"] == "simple" and answer["answer"], answer
    assert _resolve(emulator, "nothing.shop.example.com")["answer"] == []


def test_failover_routing_follows_the_alarm_of_the_primary_health_check(emulator, world):
    zone = world["dns"]["hostedZoneId"]
    check = _failover_pair(emulator, zone, "www.shop.example.com", "Healthy")
    # the health check keeps its alarm, as Route 53's API shows it
    shown = emulator.client("route53", PRIMARY).get_health_check(HealthCheckId=check["Id"])["HealthCheck"]
    assert shown["HealthCheckConfig"]["AlarmIdentifier"] == {"Region": DR, "Name": "shop-failover"}

    # no data yet: healthy, as InsufficientDataHealthStatus says
    assert _resolve(emulator, "www.shop.example.com")["answer"] == ["198.51.100.10"]
    _set_alarm(emulator, "ALARM")
    answer = _resolve(emulator, "www.shop.example.com.")
    assert (answer["record"], answer["answer"]) == ("SECONDARY", ["203.0.113.20"]), answer
    _set_alarm(emulator, "OK")
    assert _resolve(emulator, "WWW.shop.example.com")["answer"] == ["198.51.100.10"]


def test_insufficient_data_can_count_as_unhealthy(emulator, world):
    _failover_pair(emulator, world["dns"]["hostedZoneId"], "api.shop.example.com", "Unhealthy", alarm="api-failover")
    answer = _resolve(emulator, "api.shop.example.com")
    assert answer["answer"] == ["203.0.113.20"], answer["why"]
