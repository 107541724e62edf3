"""Which waiting step of the Step Functions wrapper a saved execution resolves, and how (pure, no AWS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drwave.core.workflow import Resolution, Step, every_step, resolve, steps_for, workflow_input
from drwave.models.execution import Execution, ExecutionStatus, WaveStatus
from drwave.models.plan import ApprovalGate


def _execution(make_execution: Callable[..., Execution], wave: Callable[..., Any]) -> Execution:
    return make_execution([wave("db"), wave("app", depends_on=["db"], pause_before_wave=ApprovalGate())])


def test_the_wrapper_input_lists_every_wave_with_its_gate_and_dependencies(make_execution, wave) -> None:
    # GIVEN a plan with an ungated wave and a gated dependant  WHEN the wrapper's input is built
    payload = workflow_input(_execution(make_execution, wave))
    # THEN one Map item per wave says whether it waits for approval
    assert payload["waves"] == [
        {"waveId": "db", "name": "", "gated": False, "dependsOn": []},
        {"waveId": "app", "name": "", "gated": True, "dependsOn": ["db"]},
    ]


def test_a_wave_step_waits_until_the_wave_ends_then_reports_its_status(make_execution, wave) -> None:
    execution = _execution(make_execution, wave)
    # GIVEN a running wave  THEN its step is undecided
    execution.waves["db"].status = WaveStatus.LAUNCHING
    assert resolve(execution, Step("wave", "db")) is None
    # WHEN it completes with warnings  THEN the step succeeds with that status
    execution.waves["db"].status = WaveStatus.COMPLETED_WITH_WARNINGS
    execution.waves["db"].warnings = ["monitoring: launch failed"]
    assert resolve(execution, Step("wave", "db")) == Resolution(
        True, {"status": "COMPLETED_WITH_WARNINGS", "warnings": ["monitoring: launch failed"]}
    )


def test_a_failed_or_skipped_wave_fails_its_step_with_the_status_as_error(make_execution, wave) -> None:
    execution = _execution(make_execution, wave)
    execution.waves["db"].status, execution.waves["db"].reason = WaveStatus.FAILED, "s-1 launch failed"
    execution.waves["app"].status, execution.waves["app"].reason = WaveStatus.SKIPPED, "dependency db failed"
    assert resolve(execution, Step("wave", "db")) == Resolution(False, error="FAILED", cause="s-1 launch failed")
    assert resolve(execution, Step("wave", "app")) == Resolution(False, error="SKIPPED", cause="dependency db failed")
    # AND the gate of the never-opened wave fails the same way
    assert resolve(execution, Step("gate", "app")) == Resolution(False, error="SKIPPED", cause="dependency db failed")


def test_an_approval_delivered_to_a_waiting_gate_opens_its_step_before_the_planner_saved_it(
    make_execution, wave
) -> None:
    execution = _execution(make_execution, wave)
    execution.waves["app"].status = WaveStatus.WAITING_APPROVAL
    # GIVEN a waiting gate  THEN it stays closed without an approval, and opens with the one being delivered
    assert resolve(execution, Step("gate", "app")) is None
    assert resolve(execution, Step("gate", "app"), approved_by="ops") == Resolution(True, {"approvedBy": "ops"})
    # AND an approval arriving after the gate timed out opens nothing
    execution.waves["app"].status = WaveStatus.FAILED
    assert resolve(execution, Step("gate", "app"), approved_by="ops").succeeded is False  # type: ignore[union-attr]


def test_the_finish_step_reports_the_terminal_status_and_why(make_execution, wave) -> None:
    execution = _execution(make_execution, wave)
    execution.status = ExecutionStatus.RUNNING
    assert resolve(execution, Step("finish")) is None
    execution.status = ExecutionStatus.CANCELLED
    execution.waves["app"].status, execution.waves["app"].reason = WaveStatus.CANCELLED, "cancelled by ops"
    assert resolve(execution, Step("finish")) == Resolution(
        True, {"status": "CANCELLED", "cause": "app CANCELLED: cancelled by ops"}
    )


def test_an_ended_execution_settles_every_step_still_waiting(make_execution, wave) -> None:
    execution = _execution(make_execution, wave)
    # GIVEN an execution that ended while a wave never left PENDING (defensive: the planner ends waves first)
    execution.status = ExecutionStatus.FAILED
    # THEN "Execution Finished" concerns every step, and none of them stays undecided
    steps = steps_for(execution, "Execution Finished", None)
    assert (
        steps == every_step(execution) == [Step("wave", "db"), Step("gate", "app"), Step("wave", "app"), Step("finish")]
    )
    assert all(resolve(execution, s) is not None for s in steps)


def test_a_wave_event_concerns_only_that_waves_steps(make_execution, wave) -> None:
    execution = _execution(make_execution, wave)
    assert steps_for(execution, "Wave Completed", "db") == [Step("wave", "db")]
    assert steps_for(execution, "Wave Failed", "app") == [Step("gate", "app"), Step("wave", "app")]
    assert steps_for(execution, "Wave Gate Approved", "app") == [Step("gate", "app")]
    assert steps_for(execution, "Wave Completed", "no-such-wave") == []
