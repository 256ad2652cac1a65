"""Errors as AWS returns them, in each service's protocol."""

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from conftest import DR, PRIMARY


def test_a_missing_required_parameter_is_missing_parameter_value_exception(emulator, world):
    """StartBackupJob without IamRoleArn: MissingParameterValueException (HTTP 400), not a 500 page."""
    backup = emulator.client("backup", PRIMARY, parameter_validation=False)
    with pytest.raises(ClientError) as refused:
        backup.start_backup_job(BackupVaultName="backstop-primary", ResourceArn=world["primary"]["db"]["arn"])
    assert refused.value.response["Error"]["Code"] == "MissingParameterValueException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "IamRoleArn" in refused.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "service, operation, call, code, status",
    [
        ("backup", "ListRestoreJobs", lambda c: c.list_restore_jobs(), "ThrottlingException", 429),
        ("ec2", "DescribeInstances", lambda c: c.describe_instances(), "RequestLimitExceeded", 503),
        ("rds", "DescribeDBInstances", lambda c: c.describe_db_instances(), "Throttling", 400),
        ("route53", "ListHostedZones", lambda c: c.list_hosted_zones(), "Throttling", 400),
        ("ssm", "GetParameter", lambda c: c.get_parameter(Name="/backstop/shop/golden-ami"), "ThrottlingException", 400),
    ],
)
def test_throttling_uses_each_services_own_code_and_status(emulator, world, service, operation, call, code, status):
    emulator.control("POST", "faults", {"throttle": [{"service": service, "operation": operation, "count": 1}]})
    client = emulator.client(service, DR)
    with pytest.raises(ClientError) as throttled:
        call(client)
    assert throttled.value.response["Error"]["Code"] == code
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    call(client)  # count 1: the next call goes through


@pytest.mark.parametrize("error, status", [("InternalFailure", 500), ("ServiceUnavailable", 503)])
@pytest.mark.parametrize(
    "service, operation, call",
    [
        ("backup", "ListRestoreJobs", lambda c: c.list_restore_jobs()),
        ("ec2", "DescribeInstances", lambda c: c.describe_instances()),
        ("rds", "DescribeDBInstances", lambda c: c.describe_db_instances()),
        ("states", "ListStateMachines", lambda c: c.list_state_machines()),
    ],
)
def test_server_errors_answer_in_each_protocol(emulator, world, error, status, service, operation, call):
    emulator.control("POST", "faults", {"apiErrors": [{"service": service, "operation": operation, "error": error, "count": 1}]})
    client = emulator.client(service if service != "states" else "stepfunctions", DR)
    with pytest.raises(ClientError) as failed:
        call(client)
    assert failed.value.response["Error"]["Code"] == error
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_every_nth_call_fails_and_the_report_counts_them(emulator, world):
    emulator.control("POST", "faults", {"apiErrors": [{"service": "ec2", "operation": "DescribeVolumes", "error": "InternalFailure", "everyNth": 3}]})
    ec2 = emulator.client("ec2", DR)
    outcomes = []
    for _ in range(6):
        try:
            ec2.describe_volumes()
            outcomes.append("ok")
        except ClientError:
            outcomes.append("failed")
    assert outcomes == ["ok", "ok", "failed", "ok", "ok", "failed"]
    report = emulator.control("GET", "faults")
    assert report["injectedCalls"]["ec2:DescribeVolumes:InternalFailure"] == 2


def test_a_reset_connection_reaches_the_client_as_a_connection_error(emulator, world):
    emulator.control("POST", "faults", {"apiErrors": [{"service": "backup", "operation": "ListBackupVaults", "error": "ConnectionReset", "count": 1}]})
    backup = emulator.client("backup", DR)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError, ConnectionError)):
        backup.list_backup_vaults()
    assert backup.list_backup_vaults()["BackupVaultList"]


def test_an_unreachable_region_fails_every_call_signed_for_it_and_only_those(emulator, world):
    """A regional outage: the primary region's endpoints cannot be reached; the DR region's can."""
    emulator.control("POST", "faults", {"unreachableRegions": [PRIMARY]})
    for service in ("backup", "ec2", "rds", "ssm"):
        client = emulator.client(service, PRIMARY)
        call = {
            "backup": lambda: client.list_backup_vaults(),
            "ec2": lambda: client.describe_instances(),
            "rds": lambda: client.describe_db_instances(),
            "ssm": lambda: client.describe_parameters(),
        }[service]
        with pytest.raises((ConnectionClosedError, EndpointConnectionError, ConnectionError)):
            call()
    assert emulator.client("ec2", DR).describe_instances() is not None
    assert emulator.client("backup", DR).list_backup_vaults()["BackupVaultList"]


def test_added_latency_delays_the_answer(emulator, world):
    import time

    emulator.control("POST", "faults", {"latency": [{"service": "ec2", "operation": "DescribeSubnets", "ms": 400}]})
    ec2 = emulator.client("ec2", DR)
    started = time.time()
    ec2.describe_subnets()
    assert time.time() - started >= 0.4
    started = time.time()
    ec2.describe_vpcs()
    assert time.time() - started < 0.4


def test_latency_with_a_count_delays_only_that_many_calls(emulator, world):
    emulator.control("POST", "faults", {"latency": [{"service": "ec2", "operation": "*", "ms": 5_000, "count": 1}]})
    ec2 = emulator.client("ec2", DR)
    # the first call is held (the client gives up first); the next one is not
    slow = emulator.client("ec2", DR, read_timeout=1)
    with pytest.raises(ReadTimeoutError):
        slow.describe_vpcs()
    assert ec2.describe_vpcs()["Vpcs"] is not None


def test_every_operation_of_a_service_can_be_throttled(emulator, world):
    emulator.control("POST", "faults", {"throttle": [{"service": "rds", "operation": "*", "probability": 1.0}]})
    rds = emulator.client("rds", DR)
    for call in (rds.describe_db_instances, rds.describe_db_subnet_groups):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "Throttling"
    assert emulator.client("ec2", DR).describe_vpcs()["Vpcs"] is not None


def test_a_job_failure_can_be_keyed_by_recovery_point(emulator, world):
    from conftest import dr_metadata, protect, restore

    copy = protect(emulator, world, world["primary"]["volumes"]["app-logs"]["arn"])
    emulator.control("POST", "faults", {"failJobs": [{"jobType": "restore", "recoveryPointArn": copy, "message": "Injected: snapshot unreadable"}]})
    job = restore(emulator, world, copy, {"availabilityZone": f"{DR}a"})
    assert job["Status"] == "FAILED" and job["StatusMessage"] == "Injected: snapshot unreadable"
    assert dr_metadata(emulator, copy)


_ = Config


def test_run_instances_honours_its_client_token(emulator, world):
    """EC2 "Ensuring idempotency": the same ClientToken returns the first launch, other
    parameters with it are IdempotentParameterMismatch, and a token is at most 64 characters."""
    ec2 = emulator.client("ec2", DR)
    dr = world["dr"]
    launch = dict(ImageId=dr["goldenAmiId"], MinCount=1, MaxCount=1, SubnetId=dr["subnets"][0]["id"])
    first = ec2.run_instances(InstanceType="m5.large", ClientToken="token-1", **launch)["Instances"][0]
    again = ec2.run_instances(InstanceType="m5.large", ClientToken="token-1", **launch)["Instances"][0]
    assert again["InstanceId"] == first["InstanceId"]
    with pytest.raises(ClientError) as mismatch:
        ec2.run_instances(InstanceType="m6i.large", ClientToken="token-1", **launch)
    assert mismatch.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    with pytest.raises(ClientError) as too_long:
        ec2.run_instances(InstanceType="m5.large", ClientToken="x" * 65, **launch)
    assert too_long.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_a_client_token_stays_bound_to_a_launch_that_failed_for_capacity(emulator, world):
    """A capacity fallback that reuses the failed attempt's token with another instance type is
    refused (IdempotentParameterMismatch): each attempt needs its own token."""
    ec2 = emulator.client("ec2", DR)
    dr = world["dr"]
    emulator.control("POST", "faults", {"insufficientCapacity": [{"instanceType": "m6i.large"}]})
    launch = dict(ImageId=dr["goldenAmiId"], MinCount=1, MaxCount=1, SubnetId=dr["subnets"][0]["id"], ClientToken="shared")
    with pytest.raises(ClientError) as no_capacity:
        ec2.run_instances(InstanceType="m6i.large", **launch)
    assert no_capacity.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"
    with pytest.raises(ClientError) as mismatch:
        ec2.run_instances(InstanceType="m5.large", **launch)
    assert mismatch.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
