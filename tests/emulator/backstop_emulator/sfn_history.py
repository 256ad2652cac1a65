"""`GetExecutionHistory` as Step Functions answers it: pages of `maxResults` events (default
100, at most 1000) with a `nextToken`, `reverseOrder`, and `includeExecutionData=false`
leaving out every event's input and output. moto returns the whole history, with data, in one
page, which hides both a reader that never pages and one that asks for far more data than it
needs.
"""

from __future__ import annotations

import base64
import datetime
import json

DEFAULT_PAGE = 100
MAX_PAGE = 1000
_DATA_KEYS = ("input", "output", "inputDetails", "outputDetails")


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str) -> int:
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except Exception as err:  # noqa: BLE001 - any malformed token is the same error to a client
        raise InvalidToken(f"Invalid Token: {token!r}") from err


class InvalidToken(Exception):
    pass


def page(events: list[dict], max_results: int | None, reverse: bool, next_token: str | None, include_data: bool) -> dict:
    if max_results is not None and not 0 <= max_results <= MAX_PAGE:
        raise ValueError(f"maxResults must be between 0 and {MAX_PAGE}")
    size = max_results or DEFAULT_PAGE
    ordered = list(reversed(events)) if reverse else list(events)
    start = _offset(next_token) if next_token else 0
    chosen = ordered[start : start + size]
    if not include_data:
        chosen = [
            {
                key: (
                    {k: v for k, v in value.items() if k not in _DATA_KEYS}
                    if key.endswith("EventDetails") and isinstance(value, dict)
                    else value
                )
                for key, value in event.items()
            }
            for event in chosen
        ]
    answer: dict = {"events": chosen}
    if start + size < len(ordered):
        answer["nextToken"] = _token(start + size)
    return answer


def install() -> None:
    from moto.stepfunctions.responses import StepFunctionResponse

    def get_execution_history(self):  # type: ignore[no-untyped-def]
        execution_arn = self._get_param("executionArn")
        events = _events(self.stepfunction_backend, execution_arn)
        include = self._get_param("includeExecutionData")
        try:
            answer = page(
                list(events),
                self._get_param("maxResults"),
                bool(self._get_param("reverseOrder")),
                self._get_param("nextToken"),
                include is None or bool(include),
            )
        except InvalidToken as err:
            raise _error("InvalidToken", str(err)) from err
        except ValueError as err:
            raise _error("ValidationException", str(err)) from err
        # serialized directly: moto's model-driven serializer takes about a second per page of
        # a long history, where AWS answers in milliseconds
        answer["events"] = [_aws_seconds(_epoch_timestamp(event)) for event in answer["events"]]
        body = json.dumps(answer, default=_json_default)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    StepFunctionResponse.get_execution_history = get_execution_history
    _history_is_limited()
    _stop_is_synchronous()
    _log_unhandled_state_errors()
    _lambda_transport_errors_are_sdk_client_exceptions()


def _lambda_transport_errors_are_sdk_client_exceptions() -> None:
    """Step Functions reports a Lambda call that failed in transport (connection refused or
    reset, no response) as `Lambda.SdkClientException`, which a Retry can match; moto's own
    call to the emulator's Lambda (a fresh connection, no retries) turned it into an
    uncatchable `States.Runtime`."""
    import logging

    from botocore.exceptions import BotoCoreError, ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
        StateTaskServiceLambda,
    )

    log = logging.getLogger("backstop.sfn")
    original = StateTaskServiceLambda._from_error

    def from_error(self, env, ex):  # type: ignore[no-untyped-def]
        if isinstance(ex, BotoCoreError):
            log.warning("Lambda call from Step Functions failed in transport: %s", ex)
            ex = ClientError(
                {"Error": {"Code": "SdkClientException", "Message": str(ex)}, "ResponseMetadata": {"HTTPStatusCode": 0, "RequestId": ""}},
                "Invoke",
            )
        return original(self, env, ex)

    StateTaskServiceLambda._from_error = from_error


def _log_unhandled_state_errors() -> None:
    """moto turns any Python exception inside a state into the execution's `States.Runtime`
    error with one line of warning; the traceback says whether the emulator or the definition
    is at fault (a CI run once failed this way and could not be diagnosed)."""
    import logging

    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

    log = logging.getLogger("backstop.sfn")
    original = ExecutionState._from_error

    def from_error(self, env, ex):  # type: ignore[no-untyped-def]
        if not isinstance(ex, FailureEventException):
            log.error("state %s: unhandled %s becomes States.Runtime", getattr(self, "name", "?"), type(ex).__name__, exc_info=ex)
        return original(self, env, ex)

    ExecutionState._from_error = from_error


# Step Functions' hard quota on one Standard execution's history (developer guide, "Avoid
# reaching the history quota"): when the 25,000th event would be anything but
# ExecutionSucceeded, ExecutionFailed is logged as that event and the execution fails. No Catch
# sees it: what the state machine would have done next (a drill's teardown) never runs.
HISTORY_EVENT_LIMIT = 25_000
HISTORY_LIMIT_ERROR = "States.Runtime"
HISTORY_LIMIT_CAUSE = f"The execution reached the maximum number of history events ({HISTORY_EVENT_LIMIT})."


def _history_is_limited() -> None:
    """moto records events without bound, so a loop that would fail on AWS ran on here."""
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramError
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original_environment = ExecutionWorker._get_evaluation_environment

    def environment(self):  # type: ignore[no-untyped-def]
        env = original_environment(self)
        # the execution's own environment (a Parallel branch's frame shares its events)
        env.event_manager._backstop_execution_env = env
        return env

    original_add = EventManager.add_event
    ends = {HistoryEventType.ExecutionSucceeded, HistoryEventType.ExecutionFailed}

    failure = ExecutionFailedEventDetails(error=HISTORY_LIMIT_ERROR, cause=HISTORY_LIMIT_CAUSE)

    def add_event(self, context, event_type, event_details=None, timestamp=None, update_source_event_id=True):  # type: ignore[no-untyped-def]
        recorded = len(self._history_event_list)
        env = getattr(self, "_backstop_execution_env", None)
        if recorded == HISTORY_EVENT_LIMIT - 1 and event_type in ends and not getattr(self, "_backstop_limit_reached", False):
            return original_add(self, context, event_type, event_details, timestamp, update_source_event_id)
        if recorded >= HISTORY_EVENT_LIMIT - 1:
            if env is not None and not getattr(self, "_backstop_limit_reached", False):
                self._backstop_limit_reached = True
                env.set_error(failure)
            if event_type == HistoryEventType.ExecutionFailed and recorded == HISTORY_EVENT_LIMIT - 1:
                # the states stopping on the way (a Parallel's branch, its Catch) may have
                # replaced the error: the execution fails for its history, nothing else
                env._program_state = ProgramError(error=failure)
                details = {"executionFailedEventDetails": failure}
                return original_add(self, context, event_type, details, timestamp, update_source_event_id)
            # not recorded: the execution ends with ExecutionFailed as its last event
            return recorded
        return original_add(self, context, event_type, event_details, timestamp, update_source_event_id)

    ExecutionWorker._get_evaluation_environment = environment
    EventManager.add_event = add_event


def _stop_is_synchronous() -> None:
    """StopExecution as AWS answers it: once it returns, the execution is ABORTED (moto marks it
    only when its worker finishes the state it is in, so a reader right after the stop, e.g.
    "is a failover of this plan running?", still saw it RUNNING)."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution.stop

    def stop(self, stop_date, error, cause):  # type: ignore[no-untyped-def]
        original(self, stop_date=stop_date, error=error, cause=cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date

    Execution.stop = stop


def _json_default(value):  # type: ignore[no-untyped-def]
    """Timestamps as the JSON protocol sends them: epoch seconds."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _epoch_timestamp(event: dict) -> dict:
    """moto keeps an event's timestamp as ISO text; the JSON protocol sends epoch seconds."""
    stamp = event.get("timestamp")
    if isinstance(stamp, str):
        parsed = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        event = {**event, "timestamp": parsed.timestamp()}
    return event


def _aws_seconds(event: dict) -> dict:
    """A task's `timeoutInSeconds` and `heartbeatInSeconds` as the definition gave them: whole
    AWS seconds (the emulator scales the wait itself, and moto recorded the scaled float, which
    an SDK reading the history as AWS types it, a long, cannot parse)."""
    from . import aws_time

    details = event.get("taskScheduledEventDetails")
    if not isinstance(details, dict):
        return event
    fixed = dict(details)
    for key in ("timeoutInSeconds", "heartbeatInSeconds"):
        if isinstance(fixed.get(key), float):
            fixed[key] = int(round(fixed[key] / aws_time.SCALE))
    return {**event, "taskScheduledEventDetails": fixed}


def _events(backend, execution_arn: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """The execution's events without moto's deep copy of the whole history on every call
    (seconds for a long run, where AWS answers a page in milliseconds); `page` copies what it
    changes."""
    execution = backend.describe_execution(execution_arn)
    env = getattr(getattr(execution, "exec_worker", None), "env", None)
    manager = getattr(env, "event_manager", None)
    if manager is None or not hasattr(manager, "_history_event_list"):
        return list(backend.get_execution_history(execution_arn)["events"])
    with manager._mutex:
        return list(manager._history_event_list)


def _error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)
