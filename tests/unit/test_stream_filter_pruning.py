"""The local runtime matches stream records against the template's filter patterns on the parts they name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from drwave_local.runtime.router import EventMatcher, pruned

PATTERNS: list[dict[str, Any]] = [
    {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "EXEC#"}]}}}},
    {"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": "DONE"}]}}}},
    {"dynamodb": {"OldImage": {"status": {"S": [{"exists": False}]}}}},
    {"$or": [{"eventName": ["REMOVE"]}, {"dynamodb": {"Keys": {"pk": {"S": ["VIEW#1"]}}}}]},
]


def record(event: str, pk: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> dict[str, Any]:
    dynamodb: dict[str, Any] = {"Keys": {"pk": {"S": pk}, "sk": {"S": "STATE"}}, "SequenceNumber": "1"}
    if new is not None:
        dynamodb["NewImage"] = new
    if old is not None:
        dynamodb["OldImage"] = old
    return {"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


RECORDS = [
    record("INSERT", "EXEC#1", {"status": {"S": "RUNNING"}, "doc": {"S": "x" * 50}}, None),
    record("MODIFY", "EXEC#1", {"status": {"S": "DONE"}}, {"status": {"S": "RUNNING"}}),
    record("MODIFY", "VIEW#1", {"status": {"S": "RUNNING"}}, {"other": {"S": "y"}}),
    record("REMOVE", "EXEC#2", None, {"status": {"S": "DONE"}}),
]


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: json.dumps(p)[:40])
def test_a_pruned_record_matches_a_pattern_exactly_when_the_whole_record_does(pattern: dict[str, Any]) -> None:
    # GIVEN moto's matcher for one pattern
    matcher = EventPattern.load(json.dumps(pattern))
    # WHEN each record is matched whole and pruned to what the pattern names
    whole = [matcher.matches_event(r) for r in RECORDS]
    parts = [matcher.matches_event(pruned(r, pattern)) for r in RECORDS]
    # THEN the answers are the same (and the runtime's matcher gives them too), and the patterns tell records apart
    assert parts == whole
    assert [EventMatcher(pattern).matches(r) for r in RECORDS] == whole
    assert True in whole and False in whole


def test_pruning_keeps_only_what_the_pattern_names() -> None:
    kept = pruned(RECORDS[0], PATTERNS[0])
    assert kept == {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "EXEC#1"}}}}
