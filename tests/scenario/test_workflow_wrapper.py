"""The Step Functions wrapper mirrors whole executions: its ASL really runs in moto, driven by sync-workflow.

Each drill runs on the local runtime with the wrapper enabled; the wrapper must end in the execution's outcome,
show parallel waves as concurrent Map iterations, cost the documented transitions, and never hold up the engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drwave.models.execution import ExecutionStatus, WaveStatus
from drwave_local.runtime.embedded import LocalRuntime
from drwave_local.runtime.router import Faults

MINUTE = 60.0
OPERATOR_COMMANDS = frozenset({"Execution Requested", "Wave Gate Approved", "Execution Cancel Requested"})
TRANSITIONS_PER_EXECUTION = 5  # Initialise, Waves, Finalise, Outcome, Succeeded|Failed
TRANSITIONS_PER_WAVE = 2  # Gated?, Run wave
TRANSITIONS_PER_GATE = 1  # Wait for approval
TRANSITIONS_PER_UNFINISHED_WAVE = 1  # Wave did not complete


def _diamond(scenario: Any) -> None:
    """db -> (orders, payments [gated]) -> web."""
    scenario.plan(
        "shop",
        {"id": "db", "servers": 2},
        {"id": "orders", "servers": 1, "dependsOn": ["db"]},
        {"id": "payments", "servers": 1, "dependsOn": ["db"], "pauseBeforeWave": {"timeoutMinutes": 30}},
        {"id": "web", "servers": 1, "dependsOn": ["orders", "payments"]},
    )


@contextmanager
def _runtime(scenario: Any, *, workflow: bool = True, faults: Faults | None = None) -> Iterator[LocalRuntime]:
    with LocalRuntime(scenario.environment(), workflow=workflow, faults=faults) as runtime:
        for document in scenario.documents:
            runtime.install(document)
        yield runtime


def _drill(runtime: LocalRuntime, approve: str | None = "payments") -> str:
    """Run the plan; an operator approves the gate two minutes after it starts waiting (the first time)."""
    execution_id = runtime.request_execution("shop")
    approved: set[str] = set()

    def operator(_bus: str, event: dict[str, Any]) -> None:
        wave_id = event["detail"].get("waveId")
        if event["detail-type"] == "Wave Gate Waiting" and wave_id == approve and wave_id not in approved:
            approved.add(wave_id)
            runtime.clock.call_later(2 * MINUTE, lambda: runtime.approve(execution_id, wave_id))

    runtime.router.observers.append(operator)
    runtime.run()
    return execution_id


def _wrapper(runtime: LocalRuntime, execution_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The wrapper execution's description and its full history."""
    assert runtime.workflow is not None
    sfn = runtime.workflow._sfn
    arn = runtime.workflow.executions[execution_id]
    history = [e for p in sfn.get_paginator("get_execution_history").paginate(executionArn=arn) for e in p["events"]]
    return sfn.describe_execution(executionArn=arn), history


def _task_spans(history: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, int, str]]:
    """(state, wave id) -> (event id its task started waiting, event id it was answered, outcome event type)."""
    by_id = {e["id"]: e for e in history}

    def entered(event: dict[str, Any]) -> dict[str, Any]:
        while not event["type"].endswith("StateEntered"):
            event = by_id[event["previousEventId"]]
        return event["stateEnteredEventDetails"]

    spans = {}
    for event in history:
        if event["type"] in ("TaskSucceeded", "TaskFailed"):
            submitted = by_id[event["previousEventId"]]
            details = entered(submitted)
            wave_id = json.loads(details["input"]).get("wave", {}).get("waveId", "")
            spans[(details["name"], wave_id)] = (submitted["id"], event["id"], event["type"])
    return spans


def test_a_completed_drill_ends_its_wrapper_succeeded_with_every_wave_and_gate_shown(scenario: Any) -> None:
    # GIVEN a diamond plan with an approval gate, run as a drill with the wrapper enabled
    _diamond(scenario)
    with _runtime(scenario) as runtime:
        execution_id = _drill(runtime)
        # THEN the execution completed and its wrapper succeeded
        assert runtime.execution(execution_id).status is ExecutionStatus.COMPLETED
        description, history = _wrapper(runtime, execution_id)
    assert description["status"] == "SUCCEEDED"
    # AND every wave's step and the gate were answered with success, the wave's with its status
    spans = _task_spans(history)
    assert {k: v[2] for k, v in spans.items()} == {
        ("Run wave", "db"): "TaskSucceeded",
        ("Run wave", "orders"): "TaskSucceeded",
        ("Wait for approval", "payments"): "TaskSucceeded",
        ("Run wave", "payments"): "TaskSucceeded",
        ("Run wave", "web"): "TaskSucceeded",
        ("Finalise", ""): "TaskSucceeded",
    }


def test_parallel_waves_wait_as_concurrent_map_iterations(scenario: Any) -> None:
    _diamond(scenario)
    with _runtime(scenario) as runtime:
        execution_id = _drill(runtime)
        _, history = _wrapper(runtime, execution_id)
    # GIVEN the wrapper's history  THEN every wave is a Map iteration started up front (MaxConcurrency 0)
    types = [e["type"] for e in history]
    assert types.count("MapIterationStarted") == 4
    assert max(i for i, t in enumerate(types) if t == "MapIterationStarted") < types.index("TaskSucceeded")
    # AND orders and payments, which drwave runs in parallel, were both still waiting when either was answered
    spans = _task_spans(history)
    orders, payments = spans[("Run wave", "orders")], spans[("Run wave", "payments")]
    assert orders[0] < payments[1] and payments[0] < orders[1]
    # AND web was answered after both, db before both (the order drwave ran them in)
    assert spans[("Run wave", "db")][1] < min(orders[1], payments[1])
    assert spans[("Run wave", "web")][1] > max(orders[1], payments[1])


def test_the_wrapper_costs_two_transitions_per_wave_one_per_gate_and_five_per_execution(scenario: Any) -> None:
    _diamond(scenario)
    with _runtime(scenario) as runtime:
        execution_id = _drill(runtime)
        _, history = _wrapper(runtime, execution_id)
    # GIVEN the states entered (what Standard workflows bill as state transitions)
    transitions = [e for e in history if e["type"].endswith("StateEntered")]
    # THEN 4 waves, 1 gate: 5 + 4 * 2 + 1 = 14
    waves, gates = 4, 1
    expected = TRANSITIONS_PER_EXECUTION + waves * TRANSITIONS_PER_WAVE + gates * TRANSITIONS_PER_GATE
    assert len(transitions) == expected == 14


def test_a_failed_execution_ends_its_wrapper_failed_with_the_status_as_error(scenario: Any) -> None:
    # GIVEN a plan whose first wave fails (a CRITICAL server's launch fails; the default policy stops)
    scenario.plan("shop", {"id": "db", "servers": [{"failAt": "LAUNCH"}]}, {"id": "web", "dependsOn": ["db"]})
    with _runtime(scenario) as runtime:
        execution_id = _drill(runtime, approve=None)
        assert runtime.execution(execution_id).status is ExecutionStatus.FAILED
        description, history = _wrapper(runtime, execution_id)
    # THEN the wrapper failed with drwave's status as its error, and both waves' steps failed with theirs
    assert (description["status"], description["error"]) == ("FAILED", "FAILED")
    spans = _task_spans(history)
    assert spans[("Run wave", "db")][2] == spans[("Run wave", "web")][2] == "TaskFailed"
    failures = {e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"}
    assert failures == {"FAILED", "SKIPPED"}
    # AND each unfinished wave cost one more transition
    transitions = [e for e in history if e["type"].endswith("StateEntered")]
    assert len(transitions) == TRANSITIONS_PER_EXECUTION + 2 * (TRANSITIONS_PER_WAVE + TRANSITIONS_PER_UNFINISHED_WAVE)


def test_a_cancelled_execution_ends_its_wrapper_failed_with_cancelled(scenario: Any) -> None:
    # GIVEN a diamond drill cancelled while its gate waits
    _diamond(scenario)
    with _runtime(scenario) as runtime:
        execution_id = runtime.request_execution("shop")
        runtime.clock.call_later(20 * MINUTE, lambda: runtime.cancel(execution_id))
        runtime.run()
        assert runtime.execution(execution_id).status is ExecutionStatus.CANCELLED
        description, _ = _wrapper(runtime, execution_id)
    # THEN the wrapper failed with CANCELLED
    assert (description["status"], description["error"]) == ("FAILED", "CANCELLED")


def test_the_engine_completes_the_same_without_the_wrapper(scenario: Any) -> None:
    _diamond(scenario)
    outcomes = []
    for workflow in (False, True):
        # GIVEN the same drill with the wrapper absent, then present
        with _runtime(scenario, workflow=workflow) as runtime:
            execution = runtime.execution(_drill(runtime))
            outcomes.append((execution.status, {w: s.status for w, s in execution.waves.items()}))
            invoked = runtime.router.stats.invocations["SyncWorkflowFunction"]
            # THEN without it nothing is mirrored (no wrapper, no sync-workflow call); with it, it is
            assert (runtime.workflow is None, invoked == 0) == (not workflow, not workflow)
    # AND the execution ends identically either way
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] is ExecutionStatus.COMPLETED


def test_duplicated_and_reordered_wrapper_events_end_the_wrapper_in_the_same_outcome(scenario: Any) -> None:
    # GIVEN every delivery (the wrapper's callbacks and drwave's events) may be duplicated and delayed
    _diamond(scenario)
    with _runtime(scenario, faults=Faults(duplicate=0.4, max_delay_seconds=30, seed=21)) as runtime:
        execution_id = _drill(runtime)
        # THEN the engine completed, and the wrapper too, every step answered once
        assert runtime.execution(execution_id).status is ExecutionStatus.COMPLETED
        assert runtime.router.stats.duplicated > 0
        description, history = _wrapper(runtime, execution_id)
    assert description["status"] == "SUCCEEDED"
    assert len(_task_spans(history)) == 6


def test_dropped_wrapper_events_never_hold_up_the_engine(scenario: Any) -> None:
    # GIVEN a third of all deliveries lost (operator commands excepted), the wrapper's included
    _diamond(scenario)
    faults = Faults(drop=0.35, seed=5, never_drop=OPERATOR_COMMANDS)
    with _runtime(scenario, faults=faults) as runtime:
        execution_id = _drill(runtime)
        # THEN the engine still completes every wave (the wrapper may be left waiting: it only mirrors)
        execution = runtime.execution(execution_id)
        assert runtime.router.stats.dropped > 0
    assert execution.status is ExecutionStatus.COMPLETED
    assert {w.status for w in execution.waves.values()} == {WaveStatus.COMPLETED}
