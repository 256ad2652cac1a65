"""The console input's JSON Schema (statemachine/input.schema.json) accepts exactly the example
inputs resolve-plan accepts (tests/inputs/valid) and refuses the ones it refuses
(tests/inputs/invalid); the Rust side checks the same files in shared/src/resolve.rs."""

import json
import os

import pytest
from jsonschema import Draft202012Validator

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCHEMA = json.load(open(os.path.join(ROOT, "statemachine", "input.schema.json")))


def _inputs(kind):
    folder = os.path.join(ROOT, "tests", "inputs", kind)
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".json"))


def test_the_schema_is_a_valid_schema():
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", _inputs("valid"), ids=os.path.basename)
def test_the_schema_accepts_what_resolve_plan_accepts(path):
    errors = list(Draft202012Validator(SCHEMA).iter_errors(json.load(open(path))))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("path", _inputs("invalid"), ids=os.path.basename)
def test_the_schema_refuses_what_resolve_plan_refuses(path):
    assert list(Draft202012Validator(SCHEMA).iter_errors(json.load(open(path)))), "accepted"


def test_the_reference_examples_follow_the_schema():
    reference = open(os.path.join(ROOT, "docs", "reference.md")).read()
    examples = [block.split("```", 1)[0] for block in reference.split("```json console-input\n")[1:]]
    assert len(examples) >= 4, "docs/reference.md shows the console inputs"
    for example in examples:
        errors = list(Draft202012Validator(SCHEMA).iter_errors(json.loads(example)))
        assert errors == [], (example, [e.message for e in errors])
