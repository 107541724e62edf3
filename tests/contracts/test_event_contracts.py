"""Event contracts: generated schemas and samples stay in sync, and the template routes each sample right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto.events.models import EventPattern

from drwave.models.events import BY_DETAIL_TYPE, parse_detail
from drwave_local import contracts
from drwave_local.template import DEFAULT_BUS, DRWAVE_BUS, load_template

AWS_SAMPLES = sorted((contracts.ROOT / "events" / "aws").glob("*.json"))
OUR_SAMPLES = sorted(contracts.EVENTS_DIR.glob("*.json"))

# Which function each event must reach; every other function's rules must ignore it.
EXPECTED_TARGETS = {
    "Execution Requested": {"StartExecutionFunction"},
    "Wave Start Requested": {"StartWaveFunction"},
    "Wave Actions Requested": {"RunWaveActionsFunction"},
    "DRS Job State Change": {"TrackLaunchFunction"},
    "Wave Completed": {"AdvancePlanFunction"},
    "Wave Failed": {"AdvancePlanFunction"},
    "Wave Gate Approved": {"AdvancePlanFunction"},
    "Execution Cancel Requested": {"AdvancePlanFunction"},
    "Execution Pause Requested": {"AdvancePlanFunction"},
    "Execution Resume Requested": {"AdvancePlanFunction"},
    "Execution Started": set(),
    "Wave Gate Waiting": set(),
    "DRS Job Started": set(),
    "Execution Finished": set(),
    "DRS Source Server Launch Result": {"TrackLaunchFunction"},
    "DRS Source Server Data Replication Stalled Change": set(),
    "EC2 Command Status-change Notification": {"RunWaveActionsFunction"},
    "EC2 Automation Execution Status-change Notification": {"RunWaveActionsFunction"},
    "Scheduled Event": set(),  # the tick reaches its function through the Schedule event source, not a rule
    "CloudWatch Alarm State Change": set(),
}


def _targets(event: dict, bus: str) -> set[str]:
    return {
        route.function
        for route in load_template().routes
        if route.bus == bus and EventPattern.load(json.dumps(route.pattern)).matches_event(event)  # type: ignore[arg-type]
    }


def test_committed_schemas_and_samples_match_the_models() -> None:
    # GIVEN the event models  WHEN the contracts are regenerated in memory  THEN the committed files are identical
    assert contracts.drift() == [], "run `drwave schemas` and commit the result"


def test_every_published_detail_type_has_a_schema_and_a_sample() -> None:
    # GIVEN every detail-type drwave publishes
    names = {f"{contracts.slug(t)}.v1.json" for t in BY_DETAIL_TYPE}
    # THEN each has a schema and a sample envelope
    assert names == {p.name for p in contracts.SCHEMAS_DIR.glob("*.json")}
    assert names == {p.name for p in OUR_SAMPLES}


@pytest.mark.parametrize("path", OUR_SAMPLES, ids=lambda p: p.stem)
def test_our_samples_validate_and_reach_exactly_their_handlers(path: Path) -> None:
    # GIVEN a sample envelope of one of our events
    event = json.loads(path.read_text())
    # WHEN it is validated against its model and matched against the template's rules on our bus
    parse_detail(event["detail-type"], event["detail"])
    # THEN exactly the expected functions receive it
    assert _targets(event, DRWAVE_BUS) == EXPECTED_TARGETS[event["detail-type"]]
    assert _targets(event, DEFAULT_BUS) == set()


@pytest.mark.parametrize("path", AWS_SAMPLES, ids=lambda p: p.stem)
def test_aws_samples_reach_exactly_their_handlers(path: Path) -> None:
    # GIVEN one of AWS's own events, as delivered on the default bus
    event = json.loads(path.read_text())
    # WHEN matched against the template's rules  THEN exactly the expected functions receive it
    assert _targets(event, DEFAULT_BUS) == EXPECTED_TARGETS[event["detail-type"]]
    assert _targets(event, DRWAVE_BUS) == set()


def test_a_launch_result_for_an_unknown_state_is_not_routed() -> None:
    # GIVEN a launch-result event with a state our rule does not list
    event = json.loads(
        AWS_SAMPLES[[p.name for p in AWS_SAMPLES].index("drs-source-server-launch-result.json")].read_text()
    )
    event["detail"]["state"] = "RECOVERY_LAUNCH_SOMETHING_NEW"
    # THEN no function receives it
    assert _targets(event, DEFAULT_BUS) == set()
