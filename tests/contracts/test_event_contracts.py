"""Event contracts: generated schemas and samples stay in sync, and the template routes each sample right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from moto.events.models import EventPattern

from drwave.models.events import BY_DETAIL_TYPE, PUBLISHED_EVENTS, parse_detail
from drwave_local.contracts import events as contracts
from drwave_local.runtime.template import DEFAULT_BUS, DRWAVE_BUS, load_template

AWS_SAMPLES = sorted((contracts.ROOT / "events" / "aws").glob("*.json"))
OUR_SAMPLES = sorted(contracts.EVENTS_DIR.glob("*.json"))

# Which function each event must reach; every other function's rules must ignore it.
EXPECTED_TARGETS = {
    "Execution Requested": {"StartExecutionFunction"},
    "Wave Start Requested": {"StartWaveFunction"},
    "Wave Actions Requested": {"RunWaveActionsFunction"},
    "DRS Job State Change": {"TrackLaunchFunction"},
    "Wave Completed": {"AdvancePlanFunction", "NotifyFunction", "SyncWorkflowFunction"},
    "Wave Failed": {"AdvancePlanFunction", "NotifyFunction", "SyncWorkflowFunction"},
    "Wave Gate Approved": {"AdvancePlanFunction", "SyncWorkflowFunction"},
    "Execution Cancel Requested": {"AdvancePlanFunction"},
    "Execution Pause Requested": {"AdvancePlanFunction"},
    "Execution Resume Requested": {"AdvancePlanFunction"},
    "Execution Started": {"NotifyFunction", "SyncWorkflowFunction"},
    "Wave Gate Waiting": {"NotifyFunction"},
    "DRS Job Started": set(),
    "Execution Finished": {"CleanupDrillFunction", "NotifyFunction", "SyncWorkflowFunction", "WriteReportFunction"},
    "Drill Cleanup Warning": {"NotifyFunction"},
    "Drill Cleaned Up": {"NotifyFunction", "WriteReportFunction"},
    "DRS Source Server Launch Result": {"TrackLaunchFunction"},
    "DRS Source Server Data Replication Stalled Change": set(),
    "DRS PIT Snapshot Taken": set(),  # the simulator emits it on each server's snapshot cadence; nothing consumes it
    "EC2 Command Status-change Notification": {"RunWaveActionsFunction"},
    "EC2 Automation Execution Status-change Notification": {"RunWaveActionsFunction"},
    # Per-instance results: run-wave-actions follows the command as a whole, so this one must not reach it.
    "EC2 Command Invocation Status-change Notification": set(),
    "Scheduled Event": set(),  # the tick reaches its function through the Schedule event source, not a rule
    "CloudWatch Alarm State Change": {"TriggerFunction"},
    "Drill Skipped": {"TriggerFunction"},
    "Drill Overdue": {"TriggerFunction"},
    "Failover Triggered": {"TriggerFunction"},
    "Failover Suppressed": {"TriggerFunction"},
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


def test_every_rule_in_the_template_fires_for_at_least_one_sample() -> None:
    # GIVEN every rule of the template and every sample (ours on our bus, AWS's on the default bus)
    samples = {DRWAVE_BUS: OUR_SAMPLES, DEFAULT_BUS: AWS_SAMPLES}
    silent = [
        f"{route.function}.{route.rule}"
        for route in load_template().routes
        if not any(
            EventPattern.load(json.dumps(route.pattern)).matches_event(json.loads(p.read_text()))  # type: ignore[arg-type]
            for p in samples[route.bus]
        )
    ]
    # THEN none is left untested by the samples above: a rule nothing matches would be dead wiring
    assert silent == []


def test_aws_samples_cover_the_drs_and_ssm_events_drwave_relies_on() -> None:
    # GIVEN AWS's own sample events kept in events/aws
    kinds = {(e["source"], e["detail-type"]) for e in (json.loads(p.read_text()) for p in AWS_SAMPLES)}
    # THEN the aws.drs and aws.ssm events of DRS_FACTS.md are there, each declared in EXPECTED_TARGETS
    assert {
        ("aws.drs", "DRS Source Server Launch Result"),
        ("aws.drs", "DRS Source Server Data Replication Stalled Change"),
        ("aws.drs", "DRS PIT Snapshot Taken"),
        ("aws.ssm", "EC2 Command Status-change Notification"),
        ("aws.ssm", "EC2 Automation Execution Status-change Notification"),
    } <= kinds
    assert {detail_type for _, detail_type in kinds} <= set(EXPECTED_TARGETS)


# ------------------------------------------------------------------------------------------------ schema registry


def _registry() -> dict[str, dict]:
    """detail-type -> the template's AWS::EventSchemas::Schema properties, its Content parsed."""
    schemas = {}
    for resource in load_template().resources.values():
        if resource["Type"] == "AWS::EventSchemas::Schema":
            props = dict(resource["Properties"])
            props["Content"] = json.loads(props["Content"])
            schemas[props["Content"]["x-amazon-events-detail-type"]] = props
    return schemas


def test_the_template_registers_one_draft_4_schema_per_published_event() -> None:
    # GIVEN the schema resources of the template
    registry = _registry()
    # THEN every published detail-type has one, in the stack's registry, typed JSON Schema draft 4
    assert set(registry) == set(BY_DETAIL_TYPE)
    for detail_type, props in registry.items():
        assert props["Type"] == "JSONSchemaDraft4", detail_type
        assert props["RegistryName"] == {"Fn::GetAtt": ["EventSchemaRegistry", "RegistryName"]}, detail_type
        assert props["SchemaName"] == contracts.schema_name(detail_type)
        # AND its content is a valid draft 4 schema with no keyword of later drafts left in it
        Draft4Validator.check_schema(props["Content"])
        text = json.dumps(props["Content"])
        assert '"$defs"' not in text and '"const"' not in text and "#/$defs/" not in text, detail_type
        assert props["Content"]["x-amazon-events-source"] == "drwave"


@pytest.mark.parametrize("path", OUR_SAMPLES, ids=lambda p: p.stem)
def test_registry_schemas_accept_our_sample_envelopes(path: Path) -> None:
    # GIVEN a sample envelope and the registry schema of its detail-type
    event = json.loads(path.read_text())
    schema = _registry()[event["detail-type"]]["Content"]
    # WHEN validated as JSON Schema draft 4  THEN it is valid
    Draft4Validator(schema).validate(event)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda e: e["detail"].update(schemaVersion="2"), "a const of 2020-12 must survive as a draft 4 enum"),
        (lambda e: e["detail"].update(unexpected=True), "details reject unknown fields"),
        (lambda e: e["detail"].pop("executionId"), "required fields stay required"),
        (lambda e: e["detail"]["servers"][0].update(launchStatus="EXPLODED"), "nested $defs resolve as definitions"),
        (lambda e: e.update(source="someone.else"), "the envelope is pinned to our source"),
    ],
    ids=["const", "extra-field", "required", "nested-enum", "source"],
)
def test_registry_schemas_reject_events_that_break_the_contract(change, why) -> None:
    # GIVEN the sample DRS Job State Change (the event with nested definitions) broken in one way
    event = json.loads((contracts.EVENTS_DIR / "drs-job-state-change.v1.json").read_text())
    change(event)
    # THEN its registry schema rejects it
    with pytest.raises(ValidationError):
        Draft4Validator(_registry()["DRS Job State Change"]["Content"]).validate(event)


def test_drift_check_catches_a_hand_edited_registry_block(tmp_path, monkeypatch) -> None:
    # GIVEN a copy of the template whose generated block was edited by hand
    template = contracts.TEMPLATE_PATH.read_text(encoding="utf-8")
    edited = tmp_path / "template.yaml"
    edited.write_text(template.replace("SchemaName: drwave@WaveFailed", "SchemaName: drwave@WaveBroke"), "utf-8")
    monkeypatch.setattr(contracts, "TEMPLATE_PATH", edited)
    # WHEN the contracts are checked  THEN the template is reported stale
    assert contracts.drift() == [f"{edited} (event schema registry block)"]
    # AND regenerating the block restores exactly the committed template, whatever surrounds it
    assert contracts.with_registry(edited.read_text(encoding="utf-8")) == template


def test_drift_check_catches_a_model_change_the_template_has_not_seen(monkeypatch) -> None:
    # GIVEN an event model that gained a field since the template was generated
    model = PUBLISHED_EVENTS[0]
    original = contracts.registry_schema

    def grown(m):
        schema = original(m)
        if m is model:
            schema["definitions"][m.__name__]["properties"]["newField"] = {"type": "string"}
        return schema

    monkeypatch.setattr(contracts, "registry_schema", grown)
    # THEN the template is stale
    assert "infrastructure/template.yaml (event schema registry block)" in contracts.drift()


def test_a_template_without_the_markers_is_an_error_naming_the_file() -> None:
    # GIVEN template text whose generated block's markers were deleted  THEN regenerating refuses, saying where
    with pytest.raises(ValueError, match=r"infrastructure/template\.yaml: the marker lines"):
        contracts.with_registry("Resources: {}\n")


def test_an_execution_that_ended_before_it_started_is_still_a_valid_finished_event() -> None:
    # GIVEN "Execution Finished" of an execution cancelled while PENDING: the publisher drops the empty startedAt
    detail = {
        "schemaVersion": "1",
        "executionId": "exec-1",
        "executionType": "DRILL",
        "status": "CANCELLED",
        "endedAt": "2026-01-05T09:00:00.000Z",
    }
    # WHEN a consumer parses it  THEN it is accepted, with no start time
    parsed = parse_detail("Execution Finished", detail)
    assert parsed.started_at is None  # type: ignore[attr-defined]
