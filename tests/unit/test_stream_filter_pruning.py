"""The local runtime matches stream records against the template's filter patterns on the parts they name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
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


SIMPLE_PATTERNS: list[dict[str, Any]] = [
    PATTERNS[0],
    {"source": ["drwave", "aws.drs"], "detail": {"waveId": ["db", {"prefix": "web"}]}},
    {"detail": {"state": [{"prefix": "LAUNCH"}], "tags": {"team": ["blue"]}}},
]
_words = st.sampled_from(["db", "web", "web-2", "LAUNCHED", "LAUNCH", "blue", "EXEC#1", "VIEW#1", "INSERT", "drwave"])
_values = st.recursive(
    st.one_of(_words, st.integers(-2, 2), st.booleans(), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["S", "pk", "team", "waveId", "x"]), inner, max_size=3),
    ),
    max_leaves=8,
)


def _leaf(rule: list[Any]) -> st.SearchStrategy[Any]:
    """Values for one leaf: its own strings, strings that start with its prefixes, and anything else."""
    near = [v for v in rule if isinstance(v, str)] + [f"{v['prefix']}X" for v in rule if isinstance(v, dict)]
    near += [v[:-1] for v in near if v]
    return st.one_of(st.sampled_from(near), st.sampled_from(near), st.lists(st.sampled_from(near), max_size=2), _values)


def _shaped(pattern: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Events with the pattern's fields (each maybe missing, or of another kind) and leaves that may match."""
    fields = {
        key: st.one_of(_shaped(rule), _shaped(rule), _values) if isinstance(rule, dict) else _leaf(rule)
        for key, rule in pattern.items()
    }
    return st.one_of(st.fixed_dictionaries(fields), st.fixed_dictionaries({}, optional={**fields, "x": _values}))


@pytest.mark.parametrize("pattern", SIMPLE_PATTERNS, ids=lambda p: json.dumps(p)[:40])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_pattern_of_exact_strings_and_prefixes_is_judged_as_moto_judges_it(
    pattern: dict[str, Any], data: st.DataObject
) -> None:
    # GIVEN a pattern the runtime judges directly, WHEN it and moto judge any event of its shape, THEN they agree
    event = data.draw(_shaped(pattern))
    assert EventMatcher(pattern).matches(event) == EventPattern.load(json.dumps(pattern)).matches_event(event)


@pytest.mark.parametrize("pattern", SIMPLE_PATTERNS, ids=lambda p: json.dumps(p)[:40])
def test_events_of_a_pattern_s_shape_both_match_and_miss_it(pattern: dict[str, Any]) -> None:
    # GIVEN events drawn as the agreement test draws them, THEN some match and some do not (the test has teeth)
    moto = EventPattern.load(json.dumps(pattern))
    assert moto.matches_event(find(_shaped(pattern), moto.matches_event))
    assert not moto.matches_event(find(_shaped(pattern), lambda e: not moto.matches_event(e)))
