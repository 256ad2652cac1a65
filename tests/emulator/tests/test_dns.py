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


def _put_failover_datapoint(emulator, value):
    emulator.client("cloudwatch", DR).put_metric_data(Namespace="Backstop", MetricData=[
        {"MetricName": "FailoverActive", "Dimensions": [{"Name": "Plan", "Value": "shop"}], "Value": value}])


def _wait_for_answer(emulator, name, wanted, seconds=10.0):
    import time

    deadline = time.time() + seconds
    answer = _resolve(emulator, name)
    while answer["answer"] != wanted and time.time() < deadline:
        time.sleep(0.1)
        answer = _resolve(emulator, name)
    return answer


def test_a_datapoint_that_breaches_the_alarm_moves_the_answer_to_the_secondary_and_it_stays(emulator, world):
    import time

    _failover_pair(emulator, world["dns"]["hostedZoneId"], "pay.shop.example.com", "LastKnownStatus", alarm="pay-failover")
    emulator.control("POST", "cloudwatch", {"region": DR, "action": "PutMetricAlarm", "params": {
        "AlarmName": "pay-failover", "Namespace": "Backstop", "MetricName": "FailoverActive",
        "Dimensions": [{"Name": "Plan", "Value": "shop"}], "Statistic": "Maximum", "Period": 60,
        "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "ignore",
    }})
    # not at once: CloudWatch evaluates about once a minute
    _put_failover_datapoint(emulator, 1)
    assert _resolve(emulator, "pay.shop.example.com")["answer"] == ["198.51.100.10"]
    answer = _wait_for_answer(emulator, "pay.shop.example.com", ["203.0.113.20"])
    assert answer["record"] == "SECONDARY", answer["why"]
    # TreatMissingData ignore: minutes without data later, the alarm (and the answer) stay
    time.sleep(5 * 60 * 0.01)
    assert _resolve(emulator, "pay.shop.example.com")["answer"] == ["203.0.113.20"]
    # a datapoint within the threshold is the failback
    _put_failover_datapoint(emulator, 0)
    assert _wait_for_answer(emulator, "pay.shop.example.com", ["198.51.100.10"])["record"] == "PRIMARY"


def test_an_alarm_that_treats_missing_data_as_not_breaching_falls_back_to_ok(emulator, world):
    import time

    cloudwatch = emulator.client("cloudwatch", DR)
    emulator.control("POST", "cloudwatch", {"region": DR, "action": "PutMetricAlarm", "params": {
        "AlarmName": "flappy-failover", "Namespace": "Backstop", "MetricName": "FailoverActive",
        "Dimensions": [{"Name": "Plan", "Value": "flappy"}], "Statistic": "Maximum", "Period": 60,
        "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }})
    # the state before any data, read before the datapoint (a busy machine may evaluate it at once)
    seen = [cloudwatch.describe_alarms(AlarmNames=["flappy-failover"])["MetricAlarms"][0]["StateValue"]]
    cloudwatch.put_metric_data(Namespace="Backstop", MetricData=[
        {"MetricName": "FailoverActive", "Dimensions": [{"Name": "Plan", "Value": "flappy"}], "Value": 1}])
    deadline = time.time() + 10
    while time.time() < deadline and seen[-2:] != ["ALARM", "OK"]:
        state = cloudwatch.describe_alarms(AlarmNames=["flappy-failover"])["MetricAlarms"][0]["StateValue"]
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(0.05)
    # a new alarm has no data; the datapoint breaches; the next evaluation finds none
    assert seen == ["INSUFFICIENT_DATA", "ALARM", "OK"], seen
