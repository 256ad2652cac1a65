"""GetExecutionHistory pages as Step Functions does (moto answers everything at once)."""

import json
import time

import pytest

from backstop_emulator import sfn_history
from conftest import DR, deploy_fake_function


def events(n):
    return [
        {"id": i, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": f"S{i}", "input": "{\"big\": 1}"}}
        for i in range(1, n + 1)
    ]


def test_pages_of_100_by_default_with_a_token_for_the_rest():
    first = sfn_history.page(events(250), None, False, None, True)
    assert [e["id"] for e in first["events"]] == list(range(1, 101))
    second = sfn_history.page(events(250), None, False, first["nextToken"], True)
    third = sfn_history.page(events(250), None, False, second["nextToken"], True)
    assert [e["id"] for e in third["events"]] == list(range(201, 251))
    assert "nextToken" not in third


def test_without_execution_data_no_event_carries_input_or_output():
    answer = sfn_history.page(events(3), 1000, True, None, False)
    assert [e["id"] for e in answer["events"]] == [3, 2, 1]
    assert all("input" not in e["stateEnteredEventDetails"] for e in answer["events"])
    assert all(e["stateEnteredEventDetails"]["name"] for e in answer["events"])


def test_a_page_above_1000_or_a_forged_token_is_refused():
    with pytest.raises(ValueError):
        sfn_history.page(events(3), 1001, False, None, True)
    with pytest.raises(sfn_history.InvalidToken):
        sfn_history.page(events(3), None, False, "not-a-token", True)


def test_the_history_of_a_real_execution_pages_through_the_api(emulator, world):
    import json

    from conftest import wait_for

    definition = {"StartAt": "A", "States": {f"{c}": {"Type": "Pass", "Result": {"big": "x" * 1000}, **({"Next": n} if n else {"End": True})} for c, n in [("A", "B"), ("B", "C"), ("C", None)]}}
    sfn = emulator.client("stepfunctions", "us-west-2")
    machine = sfn.create_state_machine(name="history", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x")
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="run-1")["executionArn"]
    wait_for("the execution to end", lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING")
    everything = sfn.get_execution_history(executionArn=execution)["events"]
    assert len(everything) == 8  # started, 3 x (entered, exited), succeeded
    first = sfn.get_execution_history(executionArn=execution, maxResults=3, includeExecutionData=False)
    assert [e["id"] for e in first["events"]] == [1, 2, 3]
    assert "input" not in first["events"][1]["stateEnteredEventDetails"]
    rest = sfn.get_execution_history(executionArn=execution, maxResults=1000, nextToken=first["nextToken"])
    assert [e["id"] for e in rest["events"]] == list(range(4, 9))
    assert "output" in rest["events"][1]["stateExitedEventDetails"]


def test_a_stopped_execution_is_aborted_as_soon_as_stop_execution_returns(emulator, world):
    """AWS: after StopExecution an execution is ABORTED, even while a task of it is running."""
    function = deploy_fake_function(emulator, "slow-stop", timeout=600)
    sfn = emulator.client("stepfunctions", DR)
    machine = sfn.create_state_machine(
        name="stop-me",
        roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({
            "StartAt": "Slow",
            "States": {"Slow": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                "Parameters": {"FunctionName": function, "Payload": {"sleepSeconds": 3}}, "End": True}},
        }),
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="stopped")["executionArn"]
    time.sleep(0.5)
    sfn.stop_execution(executionArn=execution)
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [e["status"] for e in listed] == ["ABORTED"]


def test_a_parked_lambda_task_times_out_on_the_scaled_clock_or_takes_its_token_back(emulator, world):
    """`lambda:invoke.waitForTaskToken` with a timeout, as Backstop's restore loop waits: the
    history gives the timeout in AWS seconds (a long), the wait ends with States.Timeout, which
    a Catch takes; SendTaskSuccess with the token ends it early, with the output sent."""
    arn = deploy_fake_function(emulator, "parker")
    sfn = emulator.client("stepfunctions", DR)
    role = emulator.client("iam", DR).create_role(RoleName="sfn-parker", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    def machine(name, timeout):
        park = {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            # the function answers after 0.3 s: a token handed back before it answers
            # (as Backstop's own park does when a restore ended meanwhile) still ends the wait
            "Parameters": {"FunctionName": arn, "Payload": {"token.$": "$$.Task.Token", "sleepSeconds": 0.3}},
            "TimeoutSeconds": timeout,
            "ResultPath": "$.wake",
            "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.wake", "Next": "Done"}],
            "Next": "Done",
        }
        definition = {"StartAt": "Park", "States": {"Park": park, "Done": {"Type": "Succeed"}}}
        made = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)
        return sfn.start_execution(stateMachineArn=made["stateMachineArn"], input="{}")["executionArn"]

    def ended(execution):
        for _ in range(300):
            described = sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.1)
        raise AssertionError("the execution did not end")

    timed_out = machine("parker-timeout", 2)
    assert ended(timed_out)["status"] == "SUCCEEDED"
    history = sfn.get_execution_history(executionArn=timed_out, includeExecutionData=False)["events"]
    scheduled = next(e for e in history if e["type"] == "TaskScheduled")
    assert scheduled["taskScheduledEventDetails"]["timeoutInSeconds"] == 2
    assert any(e["type"] == "TaskTimedOut" for e in history)

    woken = machine("parker-woken", 3000)  # 30 real seconds at the suite's time scale
    token = None
    for _ in range(100):
        events_now = sfn.get_execution_history(executionArn=woken)["events"]
        scheduled = next((e for e in events_now if e["type"] == "TaskScheduled"), None)
        if scheduled:
            token = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["Payload"]["token"]
            break
        time.sleep(0.05)
    sfn.send_task_success(taskToken=token, output=json.dumps({"wokenBy": "test"}))
    done = ended(woken)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"])["wake"] == {"wokenBy": "test"}
    types = [e["type"] for e in sfn.get_execution_history(executionArn=woken)["events"]]
    assert "TaskSucceeded" in types and "TaskTimedOut" not in types


def test_an_execution_whose_history_reaches_25000_events_fails_uncaught(emulator, world):
    """AWS: the 25,000th event of a history that goes on is ExecutionFailed, and no Catch sees it."""
    from conftest import wait_for

    # a loop of Pass states that would go on for ever (2 events a round); its Catch-all
    # Parallel around it never gets to recover
    loop = {"StartAt": "Again", "States": {"Again": {"Type": "Pass", "Next": "Again"}}}
    definition = {
        "StartAt": "Guarded",
        "States": {
            "Guarded": {"Type": "Parallel", "Branches": [loop], "End": True,
                        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "CleanUp"}]},
            "CleanUp": {"Type": "Pass", "End": True},
        },
    }
    sfn = emulator.client("stepfunctions", DR)
    machine = sfn.create_state_machine(name="endless", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x")
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="run-1")["executionArn"]
    wait_for("the execution to end", lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", timeout=300)
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "FAILED", described
    assert described["cause"] == sfn_history.HISTORY_LIMIT_CAUSE
    history = []
    token = None
    while True:
        page = sfn.get_execution_history(executionArn=execution, maxResults=1000, includeExecutionData=False, **({"nextToken": token} if token else {}))
        history += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    assert len(history) == sfn_history.HISTORY_EVENT_LIMIT
    assert history[-1]["type"] == "ExecutionFailed"
    assert not any(e.get("stateEnteredEventDetails", {}).get("name") == "CleanUp" for e in history)
