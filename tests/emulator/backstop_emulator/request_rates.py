"""EC2's request rate limits: one token bucket per account, Region and API action.

EC2 throttles each API action on its own (EC2 developer guide, "Request throttling for the
Amazon EC2 API"): a request takes one token from its action's bucket, a request that finds the
bucket empty is answered `RequestLimitExceeded`, and each bucket gets a set number of tokens
back every second up to its maximum. The guide's example is a non-mutating action
(`DescribeHosts`): 100 tokens, 20 a second. For mutating actions (`CreateTags`, `AttachVolume`,
`DeleteVolume`, ...) the figures here are 200 tokens and 5 a second, as the guide's table was
remembered: the page could not be read offline, so `DEFAULTS` is the one place to correct.
Not modelled: the guide's lower buckets for unfiltered, unpaginated Describe calls, and the
resource rate limits of RunInstances and the other instance-state actions.

Buckets refill in AWS seconds, at the emulator's time scale. Only the handlers' calls (the
Rust SDK's user agent) take tokens: a test's own set-up stands for activity outside the run.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from . import aws_time

NON_MUTATING_PREFIXES = ("Describe", "Get", "List", "Search")

DEFAULTS: dict[str, dict[str, float]] = {
    "nonMutating": {"capacity": 100, "refillPerSecond": 20},
    "mutating": {"capacity": 200, "refillPerSecond": 5},
}

_lock = threading.Lock()
_limits: dict[str, dict[str, float]] = copy.deepcopy(DEFAULTS)
# (account, region, action) -> [tokens, real time they were counted at]
_buckets: dict[tuple[str, str, str], list[float]] = {}
# one action's own bucket, set by a test (`{"actions": {"DeleteVolume": {...}}}`)
_actions: dict[str, dict[str, float]] = {}
_refused: dict[str, int] = {}
_taken: dict[str, int] = {}


def category(action: str) -> str:
    return "nonMutating" if action.startswith(NON_MUTATING_PREFIXES) else "mutating"


def take(account: str, region: str, action: str) -> bool:
    """Takes a token from the action's bucket: False when it is empty (the call is refused)."""
    with _lock:
        limit = _actions.get(action) or _limits[category(action)]
        now = time.monotonic()
        bucket = _buckets.setdefault((account, region, action), [limit["capacity"], now])
        aws_seconds = (now - bucket[1]) / aws_time.SCALE
        bucket[0] = min(limit["capacity"], bucket[0] + aws_seconds * limit["refillPerSecond"])
        bucket[1] = now
        if bucket[0] < 1:
            _refused[action] = _refused.get(action, 0) + 1
            return False
        bucket[0] -= 1
        _taken[action] = _taken.get(action, 0) + 1
        return True


def reset() -> None:
    global _limits
    with _lock:
        _limits = copy.deepcopy(DEFAULTS)
        _actions.clear()
        _buckets.clear()
        _refused.clear()
        _taken.clear()


def configure(spec: dict[str, Any]) -> dict[str, Any]:
    """Overrides a category's bucket, `{"mutating": {"capacity": 3, "refillPerSecond": 1}}`, or
    one action's, `{"actions": {"DeleteVolume": {"capacity": 1, "refillPerSecond": 0.1}}}` (null:
    its category's again); buckets start full again. Answers the limits, and the calls answered
    and refused so far by action."""
    with _lock:
        for action, values in spec.get("actions", {}).items():
            if values is None:
                _actions.pop(action, None)
            else:
                _actions[action] = {"capacity": float(values["capacity"]), "refillPerSecond": float(values["refillPerSecond"])}
        for name, values in spec.items():
            if name == "actions":
                continue
            if name not in _limits:
                raise KeyError(f"unknown request category {name!r}: one of {sorted(_limits)}")
            for key, value in values.items():
                if key not in _limits[name]:
                    raise KeyError(f"unknown bucket setting {key!r}: one of {sorted(_limits[name])}")
                _limits[name][key] = float(value)
        if spec:
            _buckets.clear()
        limits = {**copy.deepcopy(_limits), "actions": copy.deepcopy(_actions)}
        return {"limits": limits, "refused": dict(_refused), "answered": dict(_taken)}
