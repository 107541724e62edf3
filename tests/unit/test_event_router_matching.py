"""The local event router delivers an event to exactly the rules whose patterns match it (as EventBridge does)."""

from __future__ import annotations

from typing import Any

from drwave_local.runtime.clock import VirtualClock
from drwave_local.runtime.router import EventRouter
from drwave_local.runtime.template import Route, Template

RULES = {
    "launch": {"source": ["aws.drs"], "detail-type": ["DRS Source Server Launch Result"]},
    "drs-any": {"source": ["aws.drs"]},
    "prefixed": {"detail-type": [{"prefix": "Wave "}]},
    "either": {"$or": [{"source": ["drwave"]}, {"detail-type": ["DRS Job State Change"]}]},
    "by-detail": {"source": ["drwave"], "detail": {"waveId": ["db"]}},
}


def deliveries(bus: str, source: str, detail_type: str, detail: dict[str, Any]) -> set[str]:
    clock = VirtualClock()
    template = Template({}, {}, routes=[Route(name, f"h.{name}", name, "drwave", p) for name, p in RULES.items()])
    reached: list[str] = []
    router = EventRouter(clock, template, lambda route, _: reached.append(route.function), account_id="1", region="r")
    router.put(bus, router.envelope(source, detail_type, detail, []))
    while clock.step():
        pass
    return set(reached)


def test_each_event_reaches_the_rules_whose_patterns_match_it_and_no_other():
    assert deliveries("drwave", "aws.drs", "DRS Source Server Launch Result", {}) == {"launch", "drs-any"}
    assert deliveries("drwave", "aws.drs", "DRS Job State Change", {}) == {"drs-any", "either"}
    assert deliveries("drwave", "drwave", "Wave Started", {"waveId": "db"}) == {"prefixed", "either", "by-detail"}
    assert deliveries("drwave", "drwave", "Execution Requested", {"waveId": "app"}) == {"either"}
    assert deliveries("drwave", "aws.ssm", "PIT Snapshot", {}) == set()


def test_an_event_on_another_bus_reaches_no_rule_of_this_one():
    assert deliveries("default", "aws.drs", "DRS Source Server Launch Result", {}) == set()
