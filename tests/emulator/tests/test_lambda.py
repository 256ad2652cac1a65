"""Lambda as AWS runs it: the configured Timeout and MemorySize are enforced, crashes are reported as
the Lambda service reports them, and a crashed environment starts cold."""

import json

import pytest

from conftest import DR, TIME_SCALE, deploy_fake_function


def invoke(emulator, name, payload):
    answer = emulator.client("lambda", DR).invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return answer.get("FunctionError"), json.loads(answer["Payload"].read() or b"null")


def test_an_invocation_past_its_timeout_is_killed_and_reported_as_sandbox_timedout(emulator, world):
    """Lambda reports `Sandbox.Timedout` / "Task timed out after N.00 seconds" with the configured Timeout."""
    deploy_fake_function(emulator, "slow", timeout=60)
    # 60 AWS seconds at the time scale; the function sleeps for 90
    error, body = invoke(emulator, "slow", {"sleepSeconds": 90 * TIME_SCALE})
    assert error == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 60.00 seconds" in body["errorMessage"]
    # within its timeout the same function answers
    error, body = invoke(emulator, "slow", {"sleepSeconds": 10 * TIME_SCALE})
    assert error is None and body["event"] == {"sleepSeconds": 10 * TIME_SCALE}


def test_the_timeout_counts_from_the_invoke_phase_not_from_a_slow_init(emulator, world):
    """Lambda's Init phase has its own limit (10 s); the function's Timeout starts with the Invoke
    phase. An init longer than the Timeout (here 0.5 s real against 30 AWS s = 0.3 s real) is fine."""
    deploy_fake_function(emulator, "slow-init", timeout=30, environment={"INIT_SECONDS": "0.5"})
    error, body = invoke(emulator, "slow-init", {"hello": 1})
    assert error is None and body["event"] == {"hello": 1}


def test_a_crashed_process_is_runtime_exit_error_and_the_next_invocation_starts_cold(emulator, world):
    deploy_fake_function(emulator, "crashy")
    _, first = invoke(emulator, "crashy", {"hello": 1})
    _, warm = invoke(emulator, "crashy", {"hello": 2})
    assert warm["pid"] == first["pid"]  # a warm environment is reused
    error, crash = invoke(emulator, "crashy", {"exitCode": 3})
    assert error == "Unhandled"
    assert crash["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in crash["errorMessage"]
    _, after = invoke(emulator, "crashy", {"hello": 3})
    assert after["pid"] != first["pid"]  # cold start after the crash


def test_a_function_over_its_memory_size_is_killed_as_out_of_memory(emulator, world):
    deploy_fake_function(emulator, "hungry", timeout=600, memory=128)
    error, body = invoke(emulator, "hungry", {"allocMiB": 256})
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory", body
    error, body = invoke(emulator, "hungry", {"allocMiB": 16})
    assert error is None, body


def test_a_handler_killed_mid_invocation_is_reported_as_an_exit_error(emulator, world):
    deploy_fake_function(emulator, "victim", timeout=600)
    emulator.control("POST", "faults", {"killHandler": [{"function": "victim", "afterSeconds": 0.2, "count": 1}]})
    error, body = invoke(emulator, "victim", {"sleepSeconds": 2})
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError" and "signal: killed" in body["errorMessage"], body
    error, body = invoke(emulator, "victim", {"sleepSeconds": 0})
    assert error is None


@pytest.mark.parametrize("timeout", [60])
def test_step_functions_sees_a_timed_out_task_under_lambdas_error_name(emulator, world, timeout):
    """A Task whose Lambda timed out fails with `Sandbox.Timedout`, which no `Backstop.*` Retry matches."""
    arn = deploy_fake_function(emulator, "slow-task", timeout=timeout)
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arn, "Payload": {"sleepSeconds": 2 * timeout * TIME_SCALE}},
                "Retry": [{"ErrorEquals": ["Backstop.Timeout"], "MaxAttempts": 3}],
                "End": True,
            }
        },
    }
    sfn = emulator.client("stepfunctions", DR)
    machine = sfn.create_state_machine(name="timeouts", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x")
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="run-1")["executionArn"]
    from conftest import wait_for

    described = wait_for("the execution to end", lambda: (lambda d: d if d["status"] != "RUNNING" else None)(sfn.describe_execution(executionArn=execution)))
    assert described["status"] == "FAILED"
    assert described["error"] == "Sandbox.Timedout", described


def test_the_log_format_and_level_come_from_the_logging_configuration_as_lambda_sets_them():
    from backstop_emulator.lambda_runner import logging_variables

    # Lambda's default is plain text, and it sets no level for it
    assert logging_variables({}) == {"AWS_LAMBDA_LOG_FORMAT": "Text"}
    assert logging_variables({"LogFormat": "JSON"}) == {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    debug = logging_variables({"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"})
    assert debug["AWS_LAMBDA_LOG_LEVEL"] == "DEBUG"


def test_a_logging_configuration_lambda_refuses_is_refused():
    from backstop_emulator.lambda_runner import logging_config_problem

    assert logging_config_problem({"LogFormat": "JSON", "ApplicationLogLevel": "INFO"}) is None
    assert logging_config_problem({}) is None
    assert "need LogFormat JSON" in logging_config_problem({"ApplicationLogLevel": "DEBUG"})
    assert "need LogFormat JSON" in logging_config_problem({"LogFormat": "Text", "SystemLogLevel": "WARN"})
    assert "not JSON or Text" in logging_config_problem({"LogFormat": "XML"})
