"""The execution aggregate: status predicates, job lookups, and how timestamps travel."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from drwave.models.execution import (
    ActionStatus,
    Chunk,
    ChunkStatus,
    ExecutionStatus,
    LaunchStatus,
    TimelineEntry,
    WaveState,
    WaveStatus,
)


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (ExecutionStatus.PENDING, False),
        (ExecutionStatus.RUNNING, False),
        (ExecutionStatus.PAUSED, False),
        (ExecutionStatus.CANCELLING, False),
        (ExecutionStatus.CANCELLED, True),
        (ExecutionStatus.COMPLETED, True),
        (ExecutionStatus.COMPLETED_WITH_WARNINGS, True),
        (ExecutionStatus.FAILED, True),
    ],
)
def test_execution_status_knows_which_statuses_are_terminal(status, terminal):
    # WHEN / THEN
    assert status.terminal is terminal


def test_only_completed_waves_let_dependants_start():
    # WHEN / THEN
    assert {s for s in WaveStatus if s.succeeded} == {WaveStatus.COMPLETED, WaveStatus.COMPLETED_WITH_WARNINGS}


def test_wave_statuses_split_into_waiting_active_and_terminal():
    # WHEN / THEN every wave status is exactly one of: not started / in flight / terminal
    active = {s for s in WaveStatus if s.active}
    terminal = {s for s in WaveStatus if s.terminal}
    assert active == {WaveStatus.PRE_ACTIONS, WaveStatus.LAUNCHING, WaveStatus.POST_ACTIONS}
    assert terminal == {
        WaveStatus.COMPLETED,
        WaveStatus.COMPLETED_WITH_WARNINGS,
        WaveStatus.FAILED,
        WaveStatus.SKIPPED,
        WaveStatus.CANCELLED,
    }
    assert set(WaveStatus) - active - terminal == {WaveStatus.PENDING, WaveStatus.WAITING_APPROVAL}


def test_launch_status_is_final_once_drs_decided():
    # WHEN / THEN
    assert {s for s in LaunchStatus if s.final} == {LaunchStatus.LAUNCHED, LaunchStatus.FAILED, LaunchStatus.TERMINATED}


def test_action_status_is_final_once_the_run_ended():
    # WHEN / THEN
    assert {s for s in ActionStatus if s.final} == {ActionStatus.SUCCEEDED, ActionStatus.FAILED, ActionStatus.TIMED_OUT}


def test_execution_finds_the_wave_and_chunk_of_a_job(make_execution, wave, sids):
    # GIVEN an execution whose wave B has a started chunk
    execution = make_execution([wave("A"), wave("B")])
    execution.waves["B"].chunks = [
        Chunk(index=0, source_server_ids=sids(1), status=ChunkStatus.ENDED, job_id="drsjob-1"),
        Chunk(index=1, source_server_ids=sids(1, 2), status=ChunkStatus.STARTED, job_id="drsjob-2"),
    ]

    # WHEN / THEN
    found = execution.wave_for_job("drsjob-2")
    assert found is not None
    assert (found[0].wave_id, found[1].index) == ("B", 1)
    assert execution.wave_for_job("drsjob-unknown") is None


def test_in_flight_jobs_are_the_started_chunks_only(make_execution, wave, sids):
    # GIVEN chunks in every status
    execution = make_execution([wave("A")])
    execution.waves["A"].chunks = [
        Chunk(index=i, source_server_ids=sids(1, i + 1), status=status, job_id=f"drsjob-{i}")
        for i, status in enumerate(ChunkStatus)
    ]

    # WHEN / THEN
    assert [c.status for _, c in execution.in_flight_jobs()] == [ChunkStatus.STARTED]


def test_wave_state_exposes_the_action_runs_of_each_phase():
    # GIVEN
    state = WaveState(wave_id="A")

    # WHEN / THEN
    assert state.action_runs("pre") is state.pre_actions
    assert state.action_runs("post") is state.post_actions


def test_new_execution_is_pending_with_every_wave_pending(make_execution, wave):
    # WHEN
    execution = make_execution([wave("A"), wave("B", depends_on=["A"])])

    # THEN
    assert execution.status == ExecutionStatus.PENDING
    assert execution.halt is None
    assert {w: s.status for w, s in execution.waves.items()} == {"A": WaveStatus.PENDING, "B": WaveStatus.PENDING}
    assert execution.is_drill


def test_timestamps_are_stored_in_utc_and_serialised_with_z(t0):
    # GIVEN a timestamp with a +02:00 offset
    local = (t0 + timedelta(hours=2)).astimezone(timezone(timedelta(hours=2)))

    # WHEN it is stored and serialised
    entry = TimelineEntry(at=local, event="X")

    # THEN it is the same instant, in UTC, with millisecond precision and a Z
    assert entry.at == t0 + timedelta(hours=2)
    assert entry.at.utcoffset() == timedelta(0)
    assert entry.to_wire()["at"] == "2025-03-03T11:00:00.000Z"


def test_naive_timestamps_are_rejected():
    # WHEN / THEN
    with pytest.raises(ValidationError) as exc:
        TimelineEntry(at=datetime(2025, 1, 1, 12, 0), event="X")
    assert "timestamps must carry a timezone" in str(exc.value)


def test_execution_round_trips_through_its_wire_format(make_execution, wave):
    # GIVEN an execution
    execution = make_execution([wave("A"), wave("B", depends_on=["A"])])

    # WHEN it is written with camelCase keys and read back
    again = type(execution).model_validate(execution.to_wire())

    # THEN nothing is lost
    assert again == execution
    assert "executionId" in execution.to_wire()
