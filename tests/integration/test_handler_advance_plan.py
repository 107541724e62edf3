"""advance_plan handler in the local runtime: dependencies, gates, failure policy and cancellation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drwave.core.decide import LAUNCH_LEASE
from drwave.handlers.common import InvalidEvent
from drwave.models.events import ExecutionCancelRequested, WaveGateApproved
from drwave.models.execution import ChunkStatus, ExecutionStatus, WaveStatus

WAVE_START = "Wave Start Requested"


def db_completed(h: Any) -> dict[str, Any]:
    """Run the db wave to completion; the "Wave Completed" event it published."""
    h.request("exe-0001")
    h.run_wave("exe-0001", "db")
    (event,) = h.bus.raw("Wave Completed")
    return dict(event)


def test_completed_wave_opens_its_dependant(harness, two_waves, sid):
    # GIVEN db completed and app depends on it
    h = harness(two_waves([sid(1)], [sid(2), sid(3)]))
    completed = db_completed(h)
    assert h.execution("exe-0001").waves["app"].status is WaveStatus.PENDING
    h.bus.clear()
    # WHEN the planner gets "Wave Completed"
    h.invoke("advance_plan", completed)
    # THEN app is launching and its start is requested
    assert h.execution("exe-0001").waves["app"].status is WaveStatus.LAUNCHING
    assert h.bus.of(WAVE_START) == [{"schemaVersion": "1", "executionId": "exe-0001", "waveId": "app"}]


def test_whole_plan_completes_when_the_last_wave_does(harness, two_waves, sid):
    # GIVEN db completed and the planner opened app
    h = harness(two_waves([sid(1)], [sid(2)]))
    h.invoke("advance_plan", db_completed(h))
    # WHEN app runs to completion and the planner hears of it
    h.run_wave("exe-0001", "app")
    h.deliver_new("Wave Completed", "advance_plan")
    # THEN the execution COMPLETED and says so
    execution = h.execution("exe-0001")
    assert execution.status is ExecutionStatus.COMPLETED
    (finished,) = h.bus.of("Execution Finished")
    assert finished["status"] == "COMPLETED"
    assert h.rt.deps.store.active_execution_ids() == []


def test_duplicate_wave_completed_is_a_no_op(harness, two_waves, sid):
    # GIVEN the planner already opened app after db completed
    h = harness(two_waves([sid(1)], [sid(2)]))
    completed = db_completed(h)
    h.invoke("advance_plan", completed)
    before = h.stored("exe-0001")
    published = len(h.bus.events)
    # WHEN "Wave Completed" is delivered again
    h.invoke("advance_plan", completed)
    # THEN nothing is written or published and no job is started
    assert h.stored("exe-0001") == before
    assert len(h.bus.events) == published
    assert h.drs_calls["StartRecovery"] == 1


def test_failed_wave_with_stop_policy_skips_its_dependants_and_fails_the_execution(harness, two_waves, sid):
    # GIVEN db failed (its server fails at snapshot)
    h = harness(two_waves([sid(1)], [sid(2)]), fail_at={sid(1): "SNAPSHOT"})
    h.request("exe-0001")
    h.run_wave("exe-0001", "db")
    (failed,) = h.bus.raw("Wave Failed")
    # WHEN the planner hears of it
    h.invoke("advance_plan", failed)
    # THEN app is skipped because of db, and the execution FAILED without launching app
    execution = h.execution("exe-0001")
    assert execution.waves["app"].status is WaveStatus.SKIPPED
    assert execution.status is ExecutionStatus.FAILED
    assert h.drs_calls["StartRecovery"] == 1


def test_gate_pauses_the_execution_until_approved(harness, two_waves, sid):
    # GIVEN app has an approval gate
    h = harness(two_waves([sid(1)], [sid(2)], pauseBeforeWave={"timeoutMinutes": 30, "message": "smoke test"}))
    h.invoke("advance_plan", db_completed(h))
    # THEN the execution waits for an approver (WAITING_APPROVAL) and the gate is announced
    execution = h.execution("exe-0001")
    assert execution.status is ExecutionStatus.WAITING_APPROVAL
    assert execution.waves["app"].status is WaveStatus.WAITING_APPROVAL
    (waiting,) = h.bus.of("Wave Gate Waiting")
    assert (waiting["waveId"], waiting["message"]) == ("app", "smoke test")
    h.bus.clear()
    # WHEN an operator approves
    h.send("advance_plan", WaveGateApproved(execution_id="exe-0001", wave_id="app", approved_by="alice"))
    # THEN app launches and the approver is recorded
    execution = h.execution("exe-0001")
    assert execution.status is ExecutionStatus.RUNNING
    assert execution.waves["app"].status is WaveStatus.LAUNCHING
    assert execution.waves["app"].approved_by == "alice"
    assert h.bus.of(WAVE_START) == [{"schemaVersion": "1", "executionId": "exe-0001", "waveId": "app"}]


def test_duplicate_approval_is_a_no_op(harness, two_waves, sid):
    # GIVEN an approved gate
    h = harness(two_waves([sid(1)], [sid(2)], pauseBeforeWave={"timeoutMinutes": 30}))
    h.invoke("advance_plan", db_completed(h))
    approval = WaveGateApproved(execution_id="exe-0001", wave_id="app", approved_by="alice")
    h.send("advance_plan", approval)
    before = h.stored("exe-0001")
    published = len(h.bus.events)
    # WHEN the approval is delivered again (or by someone else) THEN nothing changes
    h.send("advance_plan", approval)
    h.send("advance_plan", approval.model_copy(update={"approved_by": "bob"}))
    assert h.stored("exe-0001") == before
    assert len(h.bus.events) == published


def test_approval_for_a_wave_that_is_not_waiting_is_ignored(harness, two_waves, sid):
    # GIVEN app is still PENDING behind db WHEN it is "approved" THEN nothing changes
    h = harness(two_waves([sid(1)], [sid(2)], pauseBeforeWave={"timeoutMinutes": 30}))
    h.request("exe-0001")
    before = h.stored("exe-0001")
    h.send("advance_plan", WaveGateApproved(execution_id="exe-0001", wave_id="app"))
    assert h.stored("exe-0001") == before


def test_cancel_stops_new_waves_and_finishes_once_the_job_in_flight_ends(harness, two_waves, sid, job_seconds):
    # GIVEN db's job is in flight and app waits behind it
    h = harness(two_waves([sid(1)], [sid(2)]))
    h.request("exe-0001")
    h.start_wave("exe-0001", "db")
    # WHEN cancellation is requested
    h.send("advance_plan", ExecutionCancelRequested(execution_id="exe-0001", requested_by="ops"))
    # THEN app is cancelled at once, and the execution is CANCELLING while db's job runs
    execution = h.execution("exe-0001")
    assert execution.status is ExecutionStatus.CANCELLING
    assert execution.waves["app"].status is WaveStatus.CANCELLED
    assert execution.waves["db"].status is WaveStatus.LAUNCHING
    # WHEN db's job ends THEN the execution is CANCELLED and app never launched
    h.advance(job_seconds)
    h.deliver_new("DRS Source Server Launch Result", "track_launch")
    execution = h.execution("exe-0001")
    assert execution.waves["db"].status is WaveStatus.CANCELLED
    assert execution.status is ExecutionStatus.CANCELLED
    assert h.drs_calls["StartRecovery"] == 1


def test_cancel_while_a_launch_attempt_was_lost_releases_it_and_finishes(harness, two_waves, sid):
    # GIVEN db's launch attempt died before StartRecovery (chunk STARTING) and the execution is cancelled
    h = harness(two_waves([sid(1)], [sid(2)]))
    h.request("exe-0001")
    h.launch_dies("exe-0001", "db", after_start_recovery=False)
    h.send("advance_plan", ExecutionCancelRequested(execution_id="exe-0001"))
    assert h.execution("exe-0001").status is ExecutionStatus.CANCELLING
    # WHEN the lease lapses and start_wave is retried
    h.advance_by(LAUNCH_LEASE)
    h.start_wave("exe-0001", "db")
    # THEN no job is started, the lost attempt's capacity is released and the execution is CANCELLED
    execution = h.execution("exe-0001")
    assert h.drs_calls["StartRecovery"] == 0
    assert execution.waves["db"].chunks[0].status is ChunkStatus.ABANDONED
    assert execution.status is ExecutionStatus.CANCELLED
    assert h.rt.deps.store.load_ledger("111122223333", "us-east-1").reservations == {}


def test_duplicate_cancel_is_a_no_op(harness, two_waves, sid):
    # GIVEN a cancelled execution WHEN the cancel request is delivered again THEN nothing changes
    h = harness(two_waves([sid(1)], [sid(2)]))
    h.request("exe-0001")
    h.start_wave("exe-0001", "db")
    cancel = ExecutionCancelRequested(execution_id="exe-0001", requested_by="ops")
    h.send("advance_plan", cancel)
    before = h.stored("exe-0001")
    h.send("advance_plan", cancel)
    assert h.stored("exe-0001") == before


def test_events_for_an_unknown_execution_are_ignored(harness, two_waves, sid):
    # GIVEN no execution "exe-ghost" WHEN planner events arrive for it THEN nothing is stored or published
    h = harness(two_waves([sid(1)], [sid(2)]))
    h.send("advance_plan", WaveGateApproved(execution_id="exe-ghost", wave_id="app"))
    h.send("advance_plan", ExecutionCancelRequested(execution_id="exe-ghost"))
    assert h.rt.deps.store.load_execution("exe-ghost") is None
    assert h.bus.events == []


@pytest.mark.parametrize(
    ("detail_type", "detail", "error", "names"),
    [
        ("Wave Gate Approved", {"executionId": "exe-0001"}, ValidationError, "waveId"),
        ("Wave Completed", {"executionId": "exe-0001", "waveId": "db", "status": "FAILED"}, ValidationError, "status"),
        ("Wave Failed", {"executionId": "exe-0001", "waveId": "db", "status": "SKIPPED"}, ValidationError, "reason"),
        ("Wave Exploded", {"executionId": "exe-0001"}, ValueError, "detail-type"),
        ("Wave Start Requested", {"executionId": "exe-0001", "waveId": "app"}, InvalidEvent, "detail-type"),
    ],
)
def test_invalid_planner_event_raises_naming_the_field_and_changes_nothing(
    harness, two_waves, sid, detail_type, detail, error, names
):
    # GIVEN a running execution
    h = harness(two_waves([sid(1)], [sid(2)]))
    h.request("exe-0001")
    before = h.stored("exe-0001")
    # WHEN an event breaking the planner's contract arrives
    with pytest.raises(error) as raised:
        h.send("advance_plan", detail, detail_type)
    # THEN the error names what is wrong and nothing was written
    assert names in str(raised.value)
    assert h.stored("exe-0001") == before
