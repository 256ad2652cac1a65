"""The real template.yaml deploys into the emulator with its own settings, as `sam deploy` would."""

import json
import os
import shutil
import tempfile

import pytest
import yaml

from conftest import DR, HERE

REPO = HERE.parent.parent.parent
TEMPLATE = REPO / "template.yaml"
# the seeded world has its DR vault: the stack uses it instead of creating one
USE_SEEDED_VAULT = {"CreateBackupVault": "false"}


def _handler_binaries() -> str:
    """Stand-ins for the built handlers: every binary the template names runs the fake function."""
    directory = tempfile.mkdtemp(prefix="fake-handlers-")
    with open(TEMPLATE) as source:
        text = source.read()
    for line in text.splitlines():
        if line.strip().startswith("Binary:"):
            target = os.path.join(directory, line.split(":", 1)[1].strip())
            shutil.copy(HERE / "fake_function.py", target)
    return directory


def _declared_functions():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    with open(TEMPLATE) as source:
        template = yaml.load(source, Loader=Loader)
    globals_ = template.get("Globals", {}).get("Function", {})
    return {
        name: {**globals_, **resource["Properties"]}
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_every_function_of_the_template_is_deployed_with_its_timeout_memory_and_environment(emulator, world):
    deployed = emulator.control(
        "POST", "deploy", {"template": str(TEMPLATE), "region": DR, "stackName": "backstop", "parameters": USE_SEEDED_VAULT, "binaryDir": _handler_binaries()}
    )
    lam = emulator.client("lambda", DR)
    declared = _declared_functions()
    assert declared, "the template declares functions"
    for logical, properties in declared.items():
        name = deployed["resources"][logical]["ref"]
        config = lam.get_function_configuration(FunctionName=name)
        assert config["Timeout"] == properties["Timeout"], logical
        assert config["MemorySize"] == properties["MemorySize"], logical
        assert config["Environment"]["Variables"]["PLAN_PARAMETER"] == "/backstop/plan", logical
    start_restore = deployed["resources"]["StartRestoreFunction"]["ref"]
    variables = lam.get_function_configuration(FunctionName=start_restore)["Environment"]["Variables"]
    assert variables["BACKSTOP_RESTORE_ROLE_ARN"] == deployed["resources"]["RestoreRole"]["Arn"]
    # the logging configuration reaches the function as Lambda passes it on: JSON lines at INFO
    asked = {"environment": ["AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL"]}
    answer = lam.invoke(FunctionName=start_restore, Payload=json.dumps(asked).encode())
    logging = json.loads(answer["Payload"].read())["environment"]
    assert logging == {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}, logging

    machine = deployed["outputs"]["RecoveryStateMachineArn"]
    definition = emulator.client("stepfunctions", DR).describe_state_machine(stateMachineArn=machine)["definition"]
    assert "${" not in definition
    assert deployed["resources"]["ResolvePlanFunction"]["Arn"] in definition

    # as after `sam deploy`, the stack and its outputs are what describe-stacks shows
    stack = emulator.client("cloudformation", DR).describe_stacks(StackName="backstop")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    shown = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert shown == {k: str(v) for k, v in deployed["outputs"].items()}
    described = {o["OutputKey"]: o.get("Description", "") for o in stack["Outputs"]}
    assert "backupVault must be this name" in described["BackupVaultName"]


def test_a_template_resource_the_emulator_cannot_create_is_refused_by_type(emulator, world, tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Cluster:\n    Type: AWS::EKS::Cluster\n    Properties: {}\n"
    )
    with pytest.raises(Exception) as refused:
        emulator.control("POST", "deploy", {"template": str(template), "region": DR, "binaryDir": "/nonexistent"})
    body = json.loads(refused.value.read())
    assert "AWS::EKS::Cluster" in body["error"]


def test_an_undeclared_parameter_is_refused(emulator, world):
    with pytest.raises(Exception) as refused:
        emulator.control(
            "POST", "deploy", {"template": str(TEMPLATE), "region": DR, "parameters": {**USE_SEEDED_VAULT, "NoSuchParameter": "x"}, "binaryDir": _handler_binaries()}
        )
    assert "NoSuchParameter" in json.loads(refused.value.read())["error"]


@pytest.mark.parametrize("interval, schedule, period", [("Hourly", "rate(1 hour)", 3600), ("Daily", "rate(1 day)", 86400)])
def test_the_readiness_schedule_and_its_alarms_follow_the_interval_parameter(emulator, world, interval, schedule, period):
    """Fn::FindInMap as CloudFormation resolves it: the schedule and the alarms' period agree."""
    deployed = emulator.control(
        "POST",
        "deploy",
        {"template": str(TEMPLATE), "region": DR, "stackName": "backstop", "parameters": {**USE_SEEDED_VAULT, "ReadinessInterval": interval}, "binaryDir": _handler_binaries()},
    )
    function = deployed["resources"]["PreflightFunction"]["ref"]
    found = emulator.control("POST", "events/schedules", {"function": function})
    assert found["scheduleExpression"] == schedule
    assert json.loads(found["input"]) == {"planParameter": "/backstop/plan"}
    alarms = emulator.client("cloudwatch", DR).describe_alarms()["MetricAlarms"]
    by_metric = {a["MetricName"]: a for a in alarms}
    for metric in ("Ready", "StaleOrMissingCopies"):
        assert by_metric[metric]["Period"] == period, by_metric[metric]
        assert by_metric[metric]["TreatMissingData"] == "breaching"
        assert by_metric[metric]["AlarmActions"] == [deployed["outputs"]["NoticeTopicArn"]]


def test_an_unknown_mapping_key_is_refused(emulator, world):
    with pytest.raises(Exception) as refused:
        emulator.control(
            "POST", "deploy", {"template": str(TEMPLATE), "region": DR, "parameters": {**USE_SEEDED_VAULT, "ReadinessInterval": "Weekly"}, "binaryDir": _handler_binaries()}
        )
    assert "Weekly" in json.loads(refused.value.read())["error"]


def test_the_stack_creates_the_dr_vault_with_its_key_and_refuses_one_that_exists(emulator, world):
    key = emulator.client("kms", DR).create_key()["KeyMetadata"]["Arn"]
    deployed = emulator.control(
        "POST",
        "deploy",
        {"template": str(TEMPLATE), "region": DR, "stackName": "backstop",
         "parameters": {"BackupVaultName": "backstop-dr-new", "BackupVaultKeyArn": key, "KmsKeyArns": key},
         "binaryDir": _handler_binaries()},
    )
    vault = emulator.client("backup", DR).describe_backup_vault(BackupVaultName="backstop-dr-new")
    assert vault["BackupVaultArn"] == deployed["resources"]["DrBackupVault"]["BackupVaultArn"]
    restore_role = deployed["resources"]["RestoreRole"]["ref"]
    attached = emulator.client("iam", DR).list_attached_role_policies(RoleName=restore_role)["AttachedPolicies"]
    assert any(p["PolicyArn"] == deployed["resources"]["KmsKeyUse"]["ref"] for p in attached), attached
    assert deployed["outputs"]["BackupVaultName"] == "backstop-dr-new"
    assert "start-execution" in deployed["outputs"]["StartDrillCommand"]

    with pytest.raises(Exception) as refused:
        emulator.control(
            "POST", "deploy", {"template": str(TEMPLATE), "region": DR, "stackName": "again", "binaryDir": _handler_binaries()}
        )
    assert "already exists" in json.loads(refused.value.read())["error"]


def test_evidence_cannot_be_deleted_and_alerts_are_encrypted_but_runs_still_write_their_state(emulator, world):
    deployed = emulator.control(
        "POST",
        "deploy",
        {"template": str(TEMPLATE), "region": DR, "stackName": "backstop",
         "parameters": {**USE_SEEDED_VAULT, "EvidenceRetentionDays": "30"}, "binaryDir": _handler_binaries()},
    )
    s3 = emulator.client("s3", DR)
    evidence = deployed["outputs"]["EvidenceBucketName"]
    # reports are written (over TLS, as the SDK always is) and then locked: S3 refuses to delete
    s3.put_object(Bucket=evidence, Key="runs/shop/drill-1/report.json", Body=b"{}")
    lock = s3.get_object_lock_configuration(Bucket=evidence)["ObjectLockConfiguration"]
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("GOVERNANCE", 30), retention
    with pytest.raises(Exception) as denied:
        s3.delete_object(Bucket=evidence, Key="runs/shop/drill-1/report.json")
    assert "AccessDenied" in str(denied.value) or "403" in str(denied.value)
    # the run-state bucket's TLS-only policy lets the SDK's requests through
    state = deployed["outputs"]["RunStateBucketName"]
    s3.put_object(Bucket=state, Key="state/drill-1/run.json", Body=b"{}")
    assert s3.get_object(Bucket=state, Key="state/drill-1/run.json")["Body"].read() == b"{}"
    # the notice topic is encrypted with the stack's own key
    topic = deployed["outputs"]["NoticeTopicArn"]
    attributes = emulator.client("sns", DR).get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes.get("KmsMasterKeyId") == deployed["resources"]["NoticeKey"]["ref"], attributes


def test_a_vault_the_stack_creates_can_be_locked(emulator, world):
    deployed = emulator.control(
        "POST",
        "deploy",
        {"template": str(TEMPLATE), "region": DR, "stackName": "backstop",
         "parameters": {"BackupVaultName": "backstop-dr-locked", "VaultLock": "governance",
                        "VaultLockMinRetentionDays": "7", "VaultLockMaxRetentionDays": "90"},
         "binaryDir": _handler_binaries()},
    )
    vault = emulator.client("backup", DR).describe_backup_vault(BackupVaultName="backstop-dr-locked")
    assert vault["BackupVaultArn"] == deployed["resources"]["DrBackupVault"]["BackupVaultArn"]
    assert vault.get("Locked") is True or vault.get("MinRetentionDays") == 7, vault
