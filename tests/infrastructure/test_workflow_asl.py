"""The Step Functions wrapper's definition is valid ASL, wired as the template says, and as cheap as documented."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from cfnlint.api import lint
from moto.events.models import EventPattern
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from drwave_local.runtime.template import DEFAULT_TEMPLATE, DRWAVE_BUS, load_template
from drwave_local.runtime.workflow_bridge import state_machine_definition

ASL = DEFAULT_TEMPLATE.parent / "statemachine" / "execution.asl.json"


def _definition() -> dict[str, Any]:
    _, text = state_machine_definition(load_template(), DEFAULT_TEMPLATE.parent, {"EventBus": "drwave-test"})
    definition: dict[str, Any] = json.loads(text)
    return definition


def _scopes(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The machine and every Map's item processor (each has its own StartAt and States)."""
    yield machine
    for state in machine["States"].values():
        if processor := state.get("ItemProcessor") or state.get("Iterator"):
            yield from _scopes(processor)


def _targets(state: dict[str, Any]) -> list[str]:
    targets = [state[k] for k in ("Next", "Default") if k in state]
    targets += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
    return targets


def _cloudformation_findings(definition: dict[str, Any]) -> list[str]:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Wrapper": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"RoleArn": "arn:aws:iam::123456789012:role/wrapper", "Definition": definition},
            }
        },
    }
    return [f"{m.rule.id} {m.message}" for m in lint(json.dumps(template))]


def test_cfn_lint_finds_the_definition_valid_against_the_states_language_schema() -> None:
    # GIVEN the wrapper's definition with the template's substitutions applied
    definition = _definition()
    # WHEN cfn-lint validates it as a state machine Definition (rule E3601 checks it against the ASL schema)
    findings = _cloudformation_findings(definition)
    # THEN it reports nothing, while the same check does catch a malformed definition
    assert findings == []
    definition["States"]["Waves"]["MaxConcurrency"] = "all"
    assert any(f.startswith("E3601") for f in _cloudformation_findings(definition))


def test_every_transition_names_a_state_of_its_scope_and_every_state_is_reachable() -> None:
    for scope in _scopes(_definition()):
        states = scope["States"]
        # GIVEN each scope  THEN StartAt and every Next/Default/Choice/Catch target exist in it
        dangling = [t for s in states.values() for t in _targets(s) if t not in states]
        assert scope["StartAt"] in states and dangling == []
        # AND every state can be reached from StartAt
        seen, pending = set(), [scope["StartAt"]]
        while pending:
            name = pending.pop()
            if name not in seen:
                seen.add(name)
                pending.extend(_targets(states[name]))
        assert seen == set(states)


def test_moto_parses_the_definition_it_will_execute() -> None:
    # GIVEN the definition  WHEN moto's ASL parser (the interpreter the local runtime runs) parses it  THEN it parses
    program, _ = AmazonStateLanguageParser.parse(json.dumps(_definition()))
    assert program is not None


def test_the_wrapper_only_waits_on_task_tokens_and_never_polls() -> None:
    definition = _definition()
    states = {n: s for scope in _scopes(definition) for n, s in scope["States"].items()}
    # GIVEN every state  THEN tasks are all `events:putEvents.waitForTaskToken` on the substituted bus, and there is
    # no Wait state (no polling loop)
    tasks = {n: s for n, s in states.items() if s["Type"] == "Task"}
    assert {s["Resource"] for s in tasks.values()} == {"arn:aws:states:::events:putEvents.waitForTaskToken"}
    assert {e["EventBusName"] for s in tasks.values() for e in s["Parameters"]["Entries"]} == {"drwave-test"}
    assert not [n for n, s in states.items() if s["Type"] == "Wait"]
    # AND the waves are one Map iteration each, all at once
    assert definition["States"]["Waves"]["Type"] == "Map"
    assert definition["States"]["Waves"]["MaxConcurrency"] == 0


def test_the_documented_transition_count_matches_the_states_on_each_path() -> None:
    definition = _definition()
    comment = definition["Comment"]
    # GIVEN the counts the Comment documents
    fixed = int(re.search(r"(\d+) per execution", comment).group(1))  # type: ignore[union-attr]
    per_wave = int(re.search(r"per wave, (\d+)", comment).group(1))  # type: ignore[union-attr]
    # THEN they are the states outside the Map on one path (Succeeded or Failed, not both) and the states an
    # ungated wave that completes passes through
    outer = [n for n, s in definition["States"].items() if n not in ("Succeeded", "Failed")]
    assert fixed == len(outer) + 1
    iteration = definition["States"]["Waves"]["ItemProcessor"]["States"]
    assert per_wave == len([n for n in iteration if n not in ("Wait for approval", "Wave did not complete")])


def test_every_waiting_step_puts_an_event_the_sync_workflow_rule_delivers() -> None:
    # GIVEN the events the wrapper's task states put on the bus, as EventBridge envelopes
    routes = load_template().routes
    for scope in _scopes(_definition()):
        for name, state in scope["States"].items():
            for entry in state.get("Parameters", {}).get("Entries", []):
                detail = {k.removesuffix(".$"): "x" for k in entry["Detail"]}
                event = {"source": entry["Source"], "detail-type": entry["DetailType"], "detail": detail}
                # THEN exactly the sync-workflow function's rule on the drwave bus matches each of them
                targets = {
                    r.function
                    for r in routes
                    if r.bus == DRWAVE_BUS and EventPattern.load(json.dumps(r.pattern)).matches_event(event)  # type: ignore[arg-type]
                }
                assert targets == {"SyncWorkflowFunction"}, name
                # AND its detail carries what the handler's model requires
                assert {"executionId", "step", "taskToken"} <= set(detail), name
