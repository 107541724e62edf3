"""The pure decision core: `decide(execution, message, now) -> Decision(execution, events, changed)`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drwave.core import messages as m
from drwave.core.capacity import split_into_chunks
from drwave.core.decide import LAUNCH_LEASE, RETRY_AFTER, decide, freed_chunks, lease_lapsed, needs_launch_attempt
from drwave.models.events import (
    DrsJobStarted,
    WaveActionsRequested,
    WaveCompleted,
    WaveFailed,
    WaveGateWaiting,
    WaveStartRequested,
)
from drwave.models.execution import (
    ActionStatus,
    ChunkStatus,
    ExecutionStatus,
    LaunchStatus,
    WaveStatus,
)
from drwave.models.plan import ApprovalGate, FailurePolicy, ImpactLevel, WaveAction

PENDING, LAUNCHING = WaveStatus.PENDING, WaveStatus.LAUNCHING
COMPLETED, FAILED, SKIPPED = WaveStatus.COMPLETED, WaveStatus.FAILED, WaveStatus.SKIPPED
START_REQUESTED = "Wave Start Requested"
WAVE_COMPLETED, WAVE_FAILED = "Wave Completed", "Wave Failed"
EXECUTION_FINISHED = "Execution Finished"


def action(name: str, on_failure: FailurePolicy = FailurePolicy.STOP, timeout_seconds: int = 600) -> WaveAction:
    return WaveAction(
        name=name, document_name="AWS-RunShellScript", on_failure=on_failure, timeout_seconds=timeout_seconds
    )


@pytest.fixture
def diamond(wave):
    """A -> (B, C) -> D."""
    return [
        wave("A"),
        wave("B", depends_on=["A"]),
        wave("C", depends_on=["A"]),
        wave("D", depends_on=["B", "C"]),
    ]


# --- start and the dependency graph --------------------------------------------------------------------------


def test_start_runs_the_execution_and_opens_only_root_waves(make_execution, diamond, types, t0):
    # GIVEN a pending diamond plan
    execution = make_execution(diamond)

    # WHEN it starts
    decision = decide(execution, m.Start(), t0)

    # THEN only A opens, and the start is announced before A's launch is requested
    new = decision.execution
    assert new.status == ExecutionStatus.RUNNING
    assert new.started_at == t0
    assert {w: s.status for w, s in new.waves.items()} == {"A": LAUNCHING, "B": PENDING, "C": PENDING, "D": PENDING}
    assert types(decision) == ["Execution Started", START_REQUESTED]
    assert decision.events[0].wave_count == 4
    assert decision.events[1].wave_id == "A"
    assert decision.changed is True


def test_start_opens_every_root_wave_in_plan_order(flow, wave, types):
    # GIVEN two independent roots and a dependant
    driver = flow([wave("X"), wave("Y"), wave("Z", depends_on=["X"])], started=False)

    # WHEN
    decision = driver.start()

    # THEN
    assert driver.statuses() == {"X": LAUNCHING, "Y": LAUNCHING, "Z": PENDING}
    assert [e.wave_id for e in decision.events[1:]] == ["X", "Y"]


def test_completed_wave_does_not_open_dependants_by_itself(flow, diamond, sids, types):
    # GIVEN a started diamond
    driver = flow(diamond)

    # WHEN every server of A launches
    decision = driver.run_wave("A", sids(2))

    # THEN A completes and announces it, but B and C wait for the planner's WaveFinished
    assert driver.statuses() == {"A": COMPLETED, "B": PENDING, "C": PENDING, "D": PENDING}
    assert types(decision) == [WAVE_COMPLETED]
    assert decision.events[0].launched == 2
    assert decision.events[0].failed == 0


def test_wave_finished_opens_every_dependant_whose_dependencies_completed(flow, diamond, sids, types):
    # GIVEN A completed
    driver = flow(diamond)
    driver.run_wave("A", sids(2))

    # WHEN the planner hears that A finished
    decision = driver.send(m.WaveFinished("A"))

    # THEN B and C both open, D does not
    assert driver.statuses() == {"A": COMPLETED, "B": LAUNCHING, "C": LAUNCHING, "D": PENDING}
    assert types(decision) == [START_REQUESTED, START_REQUESTED]
    assert [e.wave_id for e in decision.events] == ["B", "C"]


def test_wave_waits_for_all_dependencies_before_opening(flow, diamond, sids):
    # GIVEN A and B completed while C is still launching
    driver = flow(diamond)
    driver.run_wave("A", sids(2))
    driver.send(m.WaveFinished("A"))
    driver.run_wave("B", sids(2, start=10))

    # WHEN the planner hears that B finished
    decision = driver.send(m.WaveFinished("B"))

    # THEN D stays pending: nothing changed
    assert driver.statuses()["D"] == PENDING
    assert decision.changed is False
    assert decision.events == []


def test_wave_opens_once_its_last_dependency_completed(flow, diamond, sids, types):
    # GIVEN A and B completed
    driver = flow(diamond)
    driver.run_wave("A", sids(2))
    driver.send(m.WaveFinished("A"))
    driver.run_wave("B", sids(2, start=10))
    driver.send(m.WaveFinished("B"))

    # WHEN C completes and the planner hears of it
    driver.run_wave("C", sids(2, start=20))
    decision = driver.send(m.WaveFinished("C"))

    # THEN D opens
    assert driver.statuses()["D"] == LAUNCHING
    assert types(decision) == [START_REQUESTED]


def test_execution_completes_when_its_last_wave_completes(flow, diamond, sids, types):
    # GIVEN a diamond where A, B and C completed and D is launching
    driver = flow(diamond)
    driver.run_wave("A", sids(2))
    driver.send(m.WaveFinished("A"))
    driver.run_wave("B", sids(2, start=10))
    driver.run_wave("C", sids(2, start=20))
    driver.send(m.WaveFinished("C"))
    driver.launch("D", sids(2, start=30))
    driver.advance(timedelta(minutes=7))

    # WHEN D's last server launches
    decision = driver.finish_wave("D")

    # THEN the execution is COMPLETED and says so
    assert driver.execution.status == ExecutionStatus.COMPLETED
    assert driver.execution.ended_at == driver.now
    assert types(decision) == [WAVE_COMPLETED, EXECUTION_FINISHED]
    assert decision.events[1].status == ExecutionStatus.COMPLETED


def test_start_twice_is_a_no_op(flow, wave):
    # GIVEN a started execution
    driver = flow([wave("A")])
    before = driver.execution

    # WHEN Start is delivered again
    decision = driver.send(m.Start())

    # THEN
    assert decision.changed is False
    assert decision.events == []
    assert decision.execution is before


def test_tick_shortly_after_creation_does_not_start_the_execution(flow, wave):
    # GIVEN an execution created but not started yet (its start request may be in flight)
    driver = flow([wave("A")], started=False)

    # WHEN a tick arrives within the start grace period
    decision = driver.send(m.Tick(), after=timedelta(seconds=119))

    # THEN
    assert decision.changed is False
    assert driver.execution.status == ExecutionStatus.PENDING


# --- approval gates ---------------------------------------------------------------------------------------------


@pytest.fixture
def gated(wave):
    return [wave("A", pause_before_wave=ApprovalGate(timeout_minutes=30, message="check the database"))]


def test_gated_wave_waits_for_approval_and_the_execution_shows_it_waits_for_an_approver(flow, gated, types, t0):
    # GIVEN a plan whose only wave is gated
    driver = flow(gated, started=False)

    # WHEN it starts
    decision = driver.start()

    # THEN the wave waits, the execution is WAITING_APPROVAL (not an operator's PAUSED), and the gate is announced
    assert driver.wave("A").status == WaveStatus.WAITING_APPROVAL
    assert driver.wave("A").gate_opened_at == t0
    assert driver.wave("A").started_at is None
    assert driver.execution.status == ExecutionStatus.WAITING_APPROVAL
    assert types(decision) == ["Execution Started", "Wave Gate Waiting"]
    gate = decision.events[1]
    assert isinstance(gate, WaveGateWaiting)
    assert gate.timeout_at == t0 + timedelta(minutes=30)
    assert gate.message == "check the database"


def test_gate_approval_opens_the_wave(flow, gated, types):
    # GIVEN a wave waiting for approval
    driver = flow(gated)

    # WHEN an operator approves it
    decision = driver.send(m.GateApproved("A", approved_by="alice"), after=timedelta(minutes=5))

    # THEN it launches and the execution runs again
    state = driver.wave("A")
    assert state.status == LAUNCHING
    assert state.approved_by == "alice"
    assert state.started_at == driver.now
    assert driver.execution.status == ExecutionStatus.RUNNING
    assert types(decision) == [START_REQUESTED]


def test_gate_times_out_on_tick_and_fails_the_wave(flow, gated, types):
    # GIVEN a wave waiting for approval with a 30-minute gate
    driver = flow(gated)

    # WHEN a tick arrives 30 minutes later
    decision = driver.send(m.Tick(), after=timedelta(minutes=30))

    # THEN the wave fails and, being the only wave, the execution fails
    assert driver.wave("A").status == FAILED
    assert driver.wave("A").reason == "approval gate timed out after 30 min"
    assert driver.execution.status == ExecutionStatus.FAILED
    assert types(decision) == [WAVE_FAILED, EXECUTION_FINISHED]


def test_tick_before_the_gate_deadline_leaves_the_wave_waiting(flow, gated):
    # GIVEN a wave waiting for approval
    driver = flow(gated)

    # WHEN a tick arrives one second before the deadline
    decision = driver.send(m.Tick(), after=timedelta(minutes=30) - timedelta(seconds=1))

    # THEN nothing changes
    assert decision.changed is False
    assert driver.wave("A").status == WaveStatus.WAITING_APPROVAL


def test_gate_approval_after_timeout_is_a_no_op(flow, gated):
    # GIVEN a gate that timed out
    driver = flow(gated)
    driver.send(m.Tick(), after=timedelta(minutes=30))

    # WHEN a late approval arrives
    decision = driver.send(m.GateApproved("A", "alice"))

    # THEN it is ignored
    assert decision.changed is False
    assert driver.wave("A").status == FAILED


def test_gate_approval_for_a_wave_that_is_not_waiting_is_a_no_op(flow, wave):
    # GIVEN a launching root and a pending dependant
    driver = flow([wave("A"), wave("B", depends_on=["A"])])

    # WHEN approvals arrive for both, and for a wave that does not exist
    decisions = driver.send_all([m.GateApproved("A"), m.GateApproved("B"), m.GateApproved("nope")])

    # THEN none changes anything
    assert [d.changed for d in decisions] == [False, False, False]
    assert driver.wave("B").approved_by is None


def test_gated_dependant_waits_for_approval_only_after_its_dependencies(flow, wave, sids, types):
    # GIVEN A -> gated B, with A completed
    driver = flow([wave("A"), wave("B", depends_on=["A"], pause_before_wave=ApprovalGate(timeout_minutes=5))])
    driver.run_wave("A", sids(1))

    # WHEN the planner hears that A finished
    decision = driver.send(m.WaveFinished("A"))

    # THEN B's gate opens
    assert driver.wave("B").status == WaveStatus.WAITING_APPROVAL
    assert types(decision) == ["Wave Gate Waiting"]
    assert driver.execution.status == ExecutionStatus.WAITING_APPROVAL


# --- pre/post actions ------------------------------------------------------------------------------------------


@pytest.fixture
def with_actions(wave):
    return [wave("A", pre_actions=[action("drain")], post_actions=[action("smoke-test")])]


def test_wave_with_pre_actions_requests_them_before_launching(flow, with_actions, types):
    # GIVEN a wave with a pre-action
    driver = flow(with_actions, started=False)

    # WHEN the execution starts
    decision = driver.start()

    # THEN the pre-actions are requested, not the launch
    state = driver.wave("A")
    assert state.status == WaveStatus.PRE_ACTIONS
    assert {name: run.status for name, run in state.pre_actions.items()} == {"drain": ActionStatus.PENDING}
    assert types(decision) == ["Execution Started", "Wave Actions Requested"]
    assert isinstance(decision.events[1], WaveActionsRequested)
    assert decision.events[1].phase == "pre"


def test_claimed_and_started_actions_are_running_with_their_command_ids(flow, with_actions):
    # GIVEN requested pre-actions
    driver = flow(with_actions)

    # WHEN a sender claims them and reports the SSM command id
    claim = driver.send(m.ActionsClaimed("A", "pre"))
    started = driver.send(m.ActionsStarted("A", "pre", {"drain": "cmd-1"}))

    # THEN the run is RUNNING with its command id; nothing is published
    run = driver.wave("A").pre_actions["drain"]
    assert run.status == ActionStatus.RUNNING
    assert run.command_id == "cmd-1"
    assert run.started_at == driver.now
    assert (claim.changed, started.changed) == (True, True)
    assert claim.events == started.events == []


def test_pre_actions_succeeding_request_the_launch(flow, with_actions, types):
    # GIVEN a running pre-action
    driver = flow(with_actions)
    driver.send(m.ActionsClaimed("A", "pre"))
    driver.send(m.ActionsStarted("A", "pre", {"drain": "cmd-1"}))

    # WHEN it succeeds
    decision = driver.send(m.ActionResult("A", "pre", "cmd-1", ActionStatus.SUCCEEDED))

    # THEN the wave launches
    assert driver.wave("A").status == LAUNCHING
    assert driver.wave("A").pre_actions["drain"].status == ActionStatus.SUCCEEDED
    assert types(decision) == [START_REQUESTED]


def test_all_servers_launched_request_the_post_actions(flow, with_actions, sids, types):
    # GIVEN a wave past its pre-actions
    driver = flow(with_actions)
    driver.run_actions("A", "pre")

    # WHEN its servers launch
    decision = driver.run_wave("A", sids(2))

    # THEN the post-actions are requested
    assert driver.wave("A").status == WaveStatus.POST_ACTIONS
    assert types(decision) == ["Wave Actions Requested"]
    assert decision.events[0].phase == "post"


def test_post_actions_succeeding_complete_the_wave(flow, with_actions, sids, types):
    # GIVEN a wave in its post-actions
    driver = flow(with_actions)
    driver.run_actions("A", "pre")
    driver.run_wave("A", sids(2))

    # WHEN they succeed
    decision = driver.run_actions("A", "post")

    # THEN the wave and the execution complete
    assert driver.wave("A").status == COMPLETED
    assert driver.execution.status == ExecutionStatus.COMPLETED
    assert types(decision) == [WAVE_COMPLETED, EXECUTION_FINISHED]


def test_failed_pre_action_with_stop_fails_the_wave_without_launching(flow, with_actions, types):
    # GIVEN a wave whose pre-action is onFailure STOP
    driver = flow(with_actions)

    # WHEN the pre-action fails
    decision = driver.run_actions("A", "pre", {"drain": ActionStatus.FAILED})

    # THEN the wave fails and nothing is launched
    assert driver.wave("A").status == FAILED
    assert driver.wave("A").reason == "pre-action drain FAILED"
    assert driver.wave("A").launch_requested_at is None
    assert types(decision) == [WAVE_FAILED, EXECUTION_FINISHED]


def test_failed_pre_action_with_continue_launches_and_warns(flow, wave, sids, types):
    # GIVEN a pre-action whose failure may be tolerated
    driver = flow([wave("A", pre_actions=[action("drain", on_failure=FailurePolicy.CONTINUE)])])

    # WHEN it fails, and then every server launches
    launch = driver.run_actions("A", "pre", {"drain": ActionStatus.FAILED})
    end = driver.run_wave("A", sids(1))

    # THEN the wave launched anyway and completes with a warning
    assert types(launch) == [START_REQUESTED]
    assert driver.wave("A").status == WaveStatus.COMPLETED_WITH_WARNINGS
    assert driver.wave("A").warnings == ["pre-action drain FAILED (onFailure CONTINUE)"]
    assert driver.execution.status == ExecutionStatus.COMPLETED_WITH_WARNINGS
    assert types(end) == [WAVE_COMPLETED, EXECUTION_FINISHED]


def test_wave_waits_for_every_action_of_a_phase(flow, wave):
    # GIVEN two pre-actions
    driver = flow([wave("A", pre_actions=[action("one"), action("two")])])
    driver.send(m.ActionsClaimed("A", "pre"))
    driver.send(m.ActionsStarted("A", "pre", {"one": "cmd-1", "two": "cmd-2"}))

    # WHEN only the first finishes
    driver.send(m.ActionResult("A", "pre", "cmd-1", ActionStatus.SUCCEEDED))

    # THEN the wave is still in its pre-actions
    assert driver.wave("A").status == WaveStatus.PRE_ACTIONS


def test_action_without_result_times_out_on_tick(flow, wave, types):
    # GIVEN a running pre-action with a 60 s timeout
    driver = flow([wave("A", pre_actions=[action("drain", timeout_seconds=60)])])
    driver.send(m.ActionsClaimed("A", "pre"))
    driver.send(m.ActionsStarted("A", "pre", {"drain": "cmd-1"}))

    # WHEN a tick arrives 60 s later
    decision = driver.send(m.Tick(), after=timedelta(seconds=60))

    # THEN the action timed out and (onFailure STOP) failed the wave
    assert driver.wave("A").pre_actions["drain"].status == ActionStatus.TIMED_OUT
    assert driver.wave("A").status == FAILED
    assert driver.wave("A").reason == "pre-action drain TIMED_OUT"
    assert types(decision) == [WAVE_FAILED, EXECUTION_FINISHED]


def test_action_result_with_an_unknown_command_id_is_a_no_op(flow, with_actions):
    # GIVEN a running pre-action
    driver = flow(with_actions)
    driver.send(m.ActionsClaimed("A", "pre"))
    driver.send(m.ActionsStarted("A", "pre", {"drain": "cmd-1"}))

    # WHEN a result for another command arrives
    decision = driver.send(m.ActionResult("A", "pre", "cmd-other", ActionStatus.FAILED))

    # THEN
    assert decision.changed is False
    assert driver.wave("A").pre_actions["drain"].status == ActionStatus.RUNNING


def test_tick_re_requests_actions_nobody_claimed(flow, with_actions, types):
    # GIVEN pre-actions requested but never claimed (the request was lost)
    driver = flow(with_actions)

    # WHEN a tick arrives after the retry delay
    decision = driver.send(m.Tick(), after=RETRY_AFTER)

    # THEN they are requested again
    assert types(decision) == ["Wave Actions Requested"]


# --- resolving servers and chunks ------------------------------------------------------------------------------


def test_250_resolved_servers_are_split_into_three_waiting_chunks(flow, wave, sids):
    # GIVEN a launching wave
    driver = flow([wave("A")])
    servers = sids(250)

    # WHEN its servers are resolved
    decision = driver.resolve("A", servers)

    # THEN three DRS jobs' worth of chunks wait to start, every server is PENDING
    state = driver.wave("A")
    assert [len(c.source_server_ids) for c in state.chunks] == [100, 100, 50]
    assert [c.index for c in state.chunks] == [0, 1, 2]
    assert driver.chunk_statuses("A") == [ChunkStatus.WAITING] * 3
    assert state.servers_resolved is True
    assert list(state.servers) == servers
    assert {s.launch_status for s in state.servers.values()} == {LaunchStatus.PENDING}
    assert state.status == LAUNCHING
    assert decision.changed is True
    assert decision.events == []


def test_resolved_servers_take_their_impact_from_the_wave(flow, wave, sids):
    # GIVEN a wave with one OPTIONAL server
    s1, s2 = sids(2)
    driver = flow([wave("A", server_impact={s2: ImpactLevel.OPTIONAL})])

    # WHEN
    driver.resolve("A", [s1, s2])

    # THEN
    assert driver.wave("A").servers[s1].impact == ImpactLevel.CRITICAL
    assert driver.wave("A").servers[s2].impact == ImpactLevel.OPTIONAL


def test_servers_resolved_for_a_wave_not_launching_is_a_no_op(flow, wave, sids):
    # GIVEN a pending dependant
    driver = flow([wave("A"), wave("B", depends_on=["A"])])

    # WHEN its servers are "resolved"
    decision = driver.resolve("B", sids(3))

    # THEN nothing happens
    assert decision.changed is False
    assert driver.wave("B").chunks == []


def test_resolution_failure_fails_the_wave(flow, wave, types):
    # GIVEN a launching wave
    driver = flow([wave("A")])

    # WHEN its tag selector matched nothing
    decision = driver.send(m.ResolutionFailed("A", "protection group pg-app matched no source servers"))

    # THEN the wave fails with that reason
    assert driver.wave("A").status == FAILED
    assert driver.wave("A").reason == "protection group pg-app matched no source servers"
    assert types(decision) == [WAVE_FAILED]


def test_chunk_starting_records_the_launch_token(flow, wave, sids):
    # GIVEN a resolved wave
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))

    # WHEN capacity is reserved for chunk 0
    decision = driver.send(m.ChunkStarting("A", 0, "token-1"), after=timedelta(seconds=3))

    # THEN the chunk is STARTING under that token; nothing is published
    chunk = driver.wave("A").chunks[0]
    assert chunk.status == ChunkStatus.STARTING
    assert chunk.launch_token == "token-1"
    assert chunk.starting_at == driver.now
    assert chunk.attempts == 1
    assert decision.changed is True
    assert decision.events == []


def test_chunk_started_records_the_job_and_marks_its_servers_in_progress(flow, wave, sids, job, types):
    # GIVEN a starting chunk
    driver = flow([wave("A")])
    servers = sids(3)
    driver.resolve("A", servers)
    driver.send(m.ChunkStarting("A", 0, "token-1"))

    # WHEN DRS accepts the job
    decision = driver.send(m.ChunkStarted("A", 0, job("A", 0)))

    # THEN the chunk tracks the job, its servers are IN_PROGRESS in it, and the job is announced
    chunk = driver.wave("A").chunks[0]
    assert chunk.status == ChunkStatus.STARTED
    assert chunk.job_id == job("A", 0)
    assert {(s.launch_status, s.job_id) for s in driver.wave("A").servers.values()} == {
        (LaunchStatus.IN_PROGRESS, job("A", 0))
    }
    assert types(decision) == ["DRS Job Started"]
    started = decision.events[0]
    assert isinstance(started, DrsJobStarted)
    assert (started.job_id, started.chunk_index, started.server_count) == (job("A", 0), 0, 3)
    assert driver.wave("A").status == LAUNCHING


def test_deferred_chunk_goes_back_to_waiting_with_the_reason(flow, wave, sids):
    # GIVEN a starting chunk
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkStarting("A", 0, "token-1"))

    # WHEN DRS has no capacity
    decision = driver.send(m.ChunkDeferred("A", 0, "20 of 20 concurrent DRS jobs in use", "token-1"))

    # THEN it waits again, without a token
    chunk = driver.wave("A").chunks[0]
    assert chunk.status == ChunkStatus.WAITING
    assert chunk.launch_token is None
    assert chunk.starting_at is None
    assert chunk.last_error == "20 of 20 concurrent DRS jobs in use"
    assert driver.wave("A").status == LAUNCHING
    assert decision.changed is True
    assert decision.events == []


def test_deferred_chunk_of_a_wave_that_ended_is_abandoned(flow, wave, sids, types):
    # GIVEN a wave that timed out while one chunk was starting
    driver = flow([wave("A", timeout_minutes=10)])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkStarting("A", 0, "token-1"), after=timedelta(minutes=9))
    driver.send(m.Tick(), after=timedelta(minutes=1))
    assert driver.execution.status == ExecutionStatus.RUNNING  # the starting chunk may still hold a job

    # WHEN the launch attempt reports it could not start
    decision = driver.send(m.ChunkDeferred("A", 0, "launch attempt lost; wave no longer launching", "token-1"))

    # THEN nobody will retry it: it is abandoned and the execution can end
    assert driver.chunk_statuses("A") == [ChunkStatus.ABANDONED]
    assert driver.execution.status == ExecutionStatus.FAILED
    assert types(decision) == [EXECUTION_FINISHED]


def test_rejected_chunk_fails_its_servers_and_a_critical_wave(flow, wave, sids, types):
    # GIVEN a starting chunk
    driver = flow([wave("A")])
    servers = sids(2)
    driver.resolve("A", servers)
    driver.send(m.ChunkStarting("A", 0, "token-1"))

    # WHEN DRS rejects the job for good
    decision = driver.send(m.ChunkRejected("A", 0, "ValidationException: bad launch template", "token-1"))

    # THEN its servers failed, which fails the wave
    assert driver.chunk_statuses("A") == [ChunkStatus.ABANDONED]
    assert {s.launch_status for s in driver.wave("A").servers.values()} == {LaunchStatus.FAILED}
    assert (
        driver.wave("A").servers[servers[0]].error == "DRS rejected the job: ValidationException: bad launch template"
    )
    assert driver.wave("A").status == FAILED
    assert types(decision) == [WAVE_FAILED, EXECUTION_FINISHED]


def test_wave_keeps_launching_until_every_chunk_has_ended(flow, wave, sids):
    # GIVEN a 150-server wave whose two jobs started
    driver = flow([wave("A")])
    servers = sids(150)
    jobs = driver.launch("A", servers)

    # WHEN every server of the first job launched
    driver.report(jobs[0], servers[:100])

    # THEN the first chunk ended but the wave waits for the second
    assert driver.chunk_statuses("A") == [ChunkStatus.ENDED, ChunkStatus.STARTED]
    assert driver.wave("A").status == LAUNCHING


# --- server results and job observations -----------------------------------------------------------------------


def test_launched_server_records_its_recovery_instance(flow, wave, sids):
    # GIVEN a started two-server job
    driver = flow([wave("A")])
    s1, s2 = sids(2)
    (job_id,) = driver.launch("A", [s1, s2])

    # WHEN one server launched
    decision = driver.send(m.ServerResult(job_id, s1, LaunchStatus.LAUNCHED, recovery_instance_id="i-0abc"))

    # THEN only it is LAUNCHED, with its instance; the wave still launches
    server = driver.wave("A").servers[s1]
    assert (server.launch_status, server.recovery_instance_id, server.updated_at) == (
        LaunchStatus.LAUNCHED,
        "i-0abc",
        driver.now,
    )
    assert driver.wave("A").servers[s2].launch_status == LaunchStatus.IN_PROGRESS
    assert driver.wave("A").status == LAUNCHING
    assert decision.events == []


def test_failed_critical_server_fails_the_wave_and_the_execution(flow, wave, sids, types):
    # GIVEN a started job of two CRITICAL servers, one already launched
    driver = flow([wave("A")])
    s1, s2 = sids(2)
    (job_id,) = driver.launch("A", [s1, s2])
    driver.report(job_id, [s1])

    # WHEN the other fails
    decision = driver.send(m.ServerResult(job_id, s2, LaunchStatus.FAILED, error="LAUNCH_FAILED"))

    # THEN the wave fails naming the server
    assert driver.wave("A").servers[s2].error == "LAUNCH_FAILED"
    assert driver.wave("A").status == FAILED
    assert driver.wave("A").reason == f"1 critical server(s) failed to launch: {s2}"
    assert driver.execution.status == ExecutionStatus.FAILED
    assert types(decision) == [WAVE_FAILED, EXECUTION_FINISHED]
    assert isinstance(decision.events[0], WaveFailed)
    assert decision.events[0].status == FAILED


def test_failed_optional_server_completes_the_wave_with_warnings(flow, wave, sids, types):
    # GIVEN a wave with one OPTIONAL server
    s1, s2 = sids(2)
    driver = flow([wave("A", server_impact={s2: ImpactLevel.OPTIONAL})])

    # WHEN the critical server launches and the optional one fails
    decision = driver.run_wave("A", [s1, s2], {s2: LaunchStatus.FAILED})

    # THEN the wave and execution complete with a warning
    assert driver.wave("A").status == WaveStatus.COMPLETED_WITH_WARNINGS
    assert driver.wave("A").warnings == [f"optional server {s2} failed to launch"]
    assert driver.execution.status == ExecutionStatus.COMPLETED_WITH_WARNINGS
    assert types(decision) == [WAVE_COMPLETED, EXECUTION_FINISHED]
    completed = decision.events[0]
    assert isinstance(completed, WaveCompleted)
    assert (completed.status, completed.launched, completed.failed) == (WaveStatus.COMPLETED_WITH_WARNINGS, 1, 1)


def test_job_observed_completed_marks_servers_never_reported_as_failed(flow, wave, sids, types):
    # GIVEN a started job of three servers
    driver = flow([wave("A", default_impact=ImpactLevel.OPTIONAL)])
    s1, s2, s3 = sids(3)
    (job_id,) = driver.launch("A", [s1, s2, s3])

    # WHEN DescribeJobs says the job COMPLETED having reported only s1 launched and s2 still in progress
    decision = driver.send(
        m.JobObserved(
            job_id,
            "COMPLETED",
            [
                m.ServerResult(job_id, s1, LaunchStatus.LAUNCHED, "i-1"),
                m.ServerResult(job_id, s2, LaunchStatus.IN_PROGRESS),
            ],
        )
    )

    # THEN s2 and s3 count as failed and the job's chunk ended
    servers = driver.wave("A").servers
    assert [servers[s].launch_status for s in (s1, s2, s3)] == [
        LaunchStatus.LAUNCHED,
        LaunchStatus.FAILED,
        LaunchStatus.FAILED,
    ]
    assert servers[s3].error == "job completed without launching it"
    assert driver.wave("A").chunks[0].status == ChunkStatus.ENDED
    assert driver.wave("A").chunks[0].job_status == "COMPLETED"
    assert driver.wave("A").status == WaveStatus.COMPLETED_WITH_WARNINGS
    assert types(decision) == [WAVE_COMPLETED, EXECUTION_FINISHED]


def test_job_observed_started_only_records_the_job_status(flow, wave, sids):
    # GIVEN a started job
    driver = flow([wave("A")])
    (job_id,) = driver.launch("A", sids(2))

    # WHEN the reconciler sees it STARTED with no server final yet
    decision = driver.send(m.JobObserved(job_id, "STARTED"))

    # THEN only the job status is recorded
    assert decision.changed is True
    assert decision.events == []
    assert driver.wave("A").chunks[0].job_status == "STARTED"
    assert driver.wave("A").chunks[0].status == ChunkStatus.STARTED


def test_late_recovery_instance_id_is_recorded_for_a_launched_server(flow, wave, sids):
    # GIVEN a server that launched without its instance id known yet
    driver = flow([wave("A")])
    s1, s2 = sids(2)
    (job_id,) = driver.launch("A", [s1, s2])
    driver.send(m.ServerResult(job_id, s1, LaunchStatus.LAUNCHED))

    # WHEN a later observation carries the instance id
    decision = driver.send(m.ServerResult(job_id, s1, LaunchStatus.LAUNCHED, recovery_instance_id="i-late"))

    # THEN it is recorded
    assert decision.changed is True
    assert driver.wave("A").servers[s1].recovery_instance_id == "i-late"


def test_final_launch_status_is_not_overwritten(flow, wave, sids):
    # GIVEN a server that FAILED
    driver = flow([wave("A", default_impact=ImpactLevel.OPTIONAL)])
    s1, s2 = sids(2)
    (job_id,) = driver.launch("A", [s1, s2])
    driver.send(m.ServerResult(job_id, s1, LaunchStatus.FAILED))

    # WHEN a contradicting late result says LAUNCHED
    driver.send(m.ServerResult(job_id, s1, LaunchStatus.LAUNCHED))

    # THEN the first final status stands
    assert driver.wave("A").servers[s1].launch_status == LaunchStatus.FAILED


def test_critical_server_ending_terminated_fails_the_wave(flow, wave, sids):
    # GIVEN a started one-server job
    driver = flow([wave("A")])
    (s1,) = sids(1)
    (job_id,) = driver.launch("A", [s1])

    # WHEN DRS reports the server's launch TERMINATED
    driver.send(m.ServerResult(job_id, s1, LaunchStatus.TERMINATED))

    # THEN the wave did not recover its critical server: it must not complete
    assert driver.wave("A").status == FAILED


# --- failure policies --------------------------------------------------------------------------------------------


def test_stop_policy_skips_waves_that_have_not_started(flow, wave, sids, types):
    # GIVEN roots A and B launching, and C waiting for B
    driver = flow([wave("A"), wave("B"), wave("C", depends_on=["B"])])
    driver.launch("B", sids(2, start=10))
    driver.run_wave("A", sids(1), {sids(1)[0]: LaunchStatus.FAILED})
    assert driver.wave("A").status == FAILED
    assert driver.execution.halt == "FAILURE"

    # WHEN the planner hears that A failed
    decision = driver.send(m.WaveFinished("A"))

    # THEN C is skipped while B keeps launching
    assert driver.statuses() == {"A": FAILED, "B": LAUNCHING, "C": SKIPPED}
    assert driver.wave("C").reason == "execution stopped after a failure"
    assert driver.execution.status == ExecutionStatus.RUNNING
    assert types(decision) == [WAVE_FAILED]


def test_stop_policy_ends_the_execution_failed_once_in_flight_jobs_end(flow, wave, sids, types):
    # GIVEN A failed (STOP) while B's job is still running
    driver = flow([wave("A"), wave("B"), wave("C", depends_on=["B"])])
    driver.launch("B", sids(2, start=10))
    driver.run_wave("A", sids(1), {sids(1)[0]: LaunchStatus.FAILED})
    driver.send(m.WaveFinished("A"))

    # WHEN B's servers launch
    decision = driver.finish_wave("B")

    # THEN B completes and the execution ends FAILED
    assert driver.statuses() == {"A": FAILED, "B": COMPLETED, "C": SKIPPED}
    assert driver.execution.status == ExecutionStatus.FAILED
    assert types(decision) == [WAVE_COMPLETED, EXECUTION_FINISHED]


def test_stop_policy_does_not_open_dependants_of_a_wave_completing_later(flow, wave, sids):
    # GIVEN A failed (STOP) while B, which C depends on, was still running
    driver = flow([wave("A"), wave("B"), wave("C", depends_on=["B"])])
    driver.launch("B", sids(2, start=10))
    driver.run_wave("A", sids(1), {sids(1)[0]: LaunchStatus.FAILED})

    # WHEN B completes and the planner hears of B first (A's WaveFinished comes later)
    driver.finish_wave("B")
    driver.send(m.WaveFinished("B"))

    # THEN C never opens
    assert driver.wave("C").status == SKIPPED
    assert driver.wave("C").started_at is None


def test_stop_policy_skips_a_wave_waiting_for_approval(flow, wave, sids):
    # GIVEN a launching root A and an independent gated root B
    driver = flow([wave("A"), wave("B", pause_before_wave=ApprovalGate(timeout_minutes=600))])
    assert driver.wave("B").status == WaveStatus.WAITING_APPROVAL

    # WHEN A fails with policy STOP and the planner hears of it
    driver.run_wave("A", sids(1), {sids(1)[0]: LaunchStatus.FAILED})
    driver.send(m.WaveFinished("A"))

    # THEN B will never run: it is skipped and the execution ends FAILED
    assert driver.wave("B").status == SKIPPED
    assert driver.execution.status == ExecutionStatus.FAILED


def test_continue_policy_skips_dependants_of_the_failed_wave(flow, wave, sids, types):
    # GIVEN A (CONTINUE) -> B, and an independent branch C -> D
    driver = flow(
        [
            wave("A", failure_policy=FailurePolicy.CONTINUE),
            wave("B", depends_on=["A"]),
            wave("C"),
            wave("D", depends_on=["C"]),
        ]
    )
    driver.launch("C", sids(1, start=20))

    # WHEN A fails and the planner hears of it
    driver.run_wave("A", sids(1), {sids(1)[0]: LaunchStatus.FAILED})
    decision = driver.send(m.WaveFinished("A"))

    # THEN B is skipped because of A; nothing halts
    assert driver.wave("B").status == SKIPPED
    assert driver.wave("B").reason == "dependency A FAILED"
    assert driver.execution.halt is None
    assert driver.statuses()["C"] == LAUNCHING
    assert types(decision) == [WAVE_FAILED]


def test_continue_policy_lets_an_independent_branch_finish(flow, wave, sids, types):
    # GIVEN A (CONTINUE) failed and B was skipped, while C -> D still run
    driver = flow(
        [
            wave("A", failure_policy=FailurePolicy.CONTINUE),
            wave("B", depends_on=["A"]),
            wave("C"),
            wave("D", depends_on=["C"]),
        ]
    )
    driver.launch("C", sids(1, start=20))
    driver.run_wave("A", sids(1), {sids(1)[0]: LaunchStatus.FAILED})
    driver.send(m.WaveFinished("A"))

    # WHEN C completes, D opens and completes
    driver.finish_wave("C")
    opened = driver.send(m.WaveFinished("C"))
    end = driver.run_wave("D", sids(1, start=30))

    # THEN the branch ran to the end, and the execution still reports the failure
    assert types(opened) == [START_REQUESTED]
    assert driver.statuses() == {"A": FAILED, "B": SKIPPED, "C": COMPLETED, "D": COMPLETED}
    assert driver.execution.status == ExecutionStatus.FAILED
    assert types(end) == [WAVE_COMPLETED, EXECUTION_FINISHED]


def test_skipping_cascades_through_the_dependency_graph(flow, wave, sids):
    # GIVEN A (CONTINUE) -> B -> C
    driver = flow(
        [wave("A", failure_policy=FailurePolicy.CONTINUE), wave("B", depends_on=["A"]), wave("C", depends_on=["B"])]
    )
    driver.run_wave("A", sids(1), {sids(1)[0]: LaunchStatus.FAILED})

    # WHEN the planner hears that A failed
    driver.send(m.WaveFinished("A"))

    # THEN both B and C are skipped in one decision, and the execution ends
    assert driver.statuses() == {"A": FAILED, "B": SKIPPED, "C": SKIPPED}
    assert driver.wave("C").reason == "dependency B SKIPPED"
    assert driver.execution.status == ExecutionStatus.FAILED


# --- wave timeout ----------------------------------------------------------------------------------------------


def test_wave_times_out_on_tick(flow, wave, sids, types):
    # GIVEN a 10-minute wave with one job running and one chunk waiting for capacity
    driver = flow([wave("A", timeout_minutes=10)])
    servers = sids(150)
    driver.resolve("A", servers)
    driver.start_chunk("A", 0)
    driver.send(m.ChunkDeferred("A", 1, "no capacity"))

    # WHEN a tick arrives 10 minutes after the wave started
    decision = driver.send(m.Tick(), after=timedelta(minutes=10))

    # THEN the wave fails, the waiting chunk is abandoned, and the running job is still tracked
    assert driver.wave("A").status == FAILED
    assert driver.wave("A").reason == "wave timed out after 10 min"
    assert driver.chunk_statuses("A") == [ChunkStatus.STARTED, ChunkStatus.ABANDONED]
    assert driver.execution.status == ExecutionStatus.RUNNING
    assert types(decision) == [WAVE_FAILED]


def test_tick_before_the_wave_timeout_changes_nothing(flow, wave, sids):
    # GIVEN a running job in a 10-minute wave
    driver = flow([wave("A", timeout_minutes=10)])
    driver.launch("A", sids(2))

    # WHEN a tick arrives just before the deadline
    decision = driver.send(m.Tick(), after=timedelta(minutes=10) - timedelta(seconds=1))

    # THEN
    assert decision.changed is False


def test_timed_out_wave_ends_the_execution_once_its_job_ends(flow, wave, sids, types):
    # GIVEN a wave that timed out with a job still running
    driver = flow([wave("A", timeout_minutes=10)])
    servers = sids(2)
    (job_id,) = driver.launch("A", servers)
    driver.send(m.Tick(), after=timedelta(minutes=10))

    # WHEN the job's servers report
    decision = driver.report(job_id, servers)

    # THEN the results are recorded, the wave stays FAILED and the execution ends FAILED
    assert {s.launch_status for s in driver.wave("A").servers.values()} == {LaunchStatus.LAUNCHED}
    assert driver.wave("A").status == FAILED
    assert driver.execution.status == ExecutionStatus.FAILED
    assert types(decision) == [EXECUTION_FINISHED]


# --- cancel ---------------------------------------------------------------------------------------------------


@pytest.fixture
def mid_wave(flow, wave, sids):
    """A 150-server wave A with job 0 running and chunk 1 waiting, and B depending on A."""
    driver = flow([wave("A"), wave("B", depends_on=["A"])])
    driver.resolve("A", sids(150))
    driver.start_chunk("A", 0)
    return driver


def test_cancel_mid_wave_stops_new_work_and_keeps_the_running_job(mid_wave, types):
    # GIVEN a wave with one running job and one waiting chunk
    driver = mid_wave

    # WHEN an operator cancels
    decision = driver.send(m.CancelRequested("bob"))

    # THEN the waiting chunk is abandoned, B is cancelled, the running job is still tracked
    assert driver.execution.halt == "CANCEL"
    assert driver.execution.status == ExecutionStatus.CANCELLING
    assert driver.chunk_statuses("A") == [ChunkStatus.STARTED, ChunkStatus.ABANDONED]
    assert driver.statuses() == {"A": LAUNCHING, "B": WaveStatus.CANCELLED}
    assert types(decision) == [WAVE_FAILED]
    assert decision.events[0].wave_id == "B"


def test_cancelled_execution_refuses_to_start_chunks(mid_wave):
    # GIVEN a cancelled execution with an abandoned chunk
    driver = mid_wave
    driver.send(m.CancelRequested())

    # WHEN a launch attempt tries to reserve the abandoned chunk
    decision = driver.send(m.ChunkStarting("A", 1, "token-late"))

    # THEN it is refused
    assert decision.changed is False
    assert driver.wave("A").chunks[1].status == ChunkStatus.ABANDONED


def test_cancelled_execution_still_tracks_its_running_job(mid_wave, sids, job):
    # GIVEN a cancelled execution with a running job
    driver = mid_wave
    driver.send(m.CancelRequested())

    # WHEN one of the job's servers launches
    decision = driver.send(m.ServerResult(job("A", 0), sids(1)[0], LaunchStatus.LAUNCHED, "i-1"))

    # THEN it is recorded, and the execution keeps cancelling
    assert decision.changed is True
    assert driver.wave("A").servers[sids(1)[0]].launch_status == LaunchStatus.LAUNCHED
    assert driver.execution.status == ExecutionStatus.CANCELLING


def test_cancelled_execution_ends_cancelled_once_the_running_job_ends(mid_wave, sids, job, types):
    # GIVEN a cancelled execution with a running job
    driver = mid_wave
    driver.send(m.CancelRequested())

    # WHEN all of that job's servers finish
    decision = driver.report(job("A", 0), sids(100))

    # THEN the wave is CANCELLED (reporting what launched) and so is the execution
    assert driver.wave("A").status == WaveStatus.CANCELLED
    assert driver.wave("A").reason == "cancelled; 100 server(s) had launched"
    assert driver.execution.status == ExecutionStatus.CANCELLED
    assert types(decision) == [WAVE_FAILED, EXECUTION_FINISHED]
    assert decision.events[1].status == ExecutionStatus.CANCELLED


def test_no_wave_opens_after_cancel(mid_wave, sids, job):
    # GIVEN a cancelled execution
    driver = mid_wave
    driver.send(m.CancelRequested())

    # WHEN planner messages and ticks arrive
    decisions = driver.send_all([m.WaveFinished("A"), m.GateApproved("B")])
    tick = driver.send(m.Tick(), after=timedelta(minutes=1))

    # THEN B never opens
    assert [d.changed for d in decisions] == [False, False]
    assert START_REQUESTED not in [e.DETAIL_TYPE for e in tick.events]
    assert driver.wave("B").status == WaveStatus.CANCELLED


def test_cancel_while_waiting_for_approval_ends_the_execution(flow, wave, types):
    # GIVEN a wave waiting at its gate
    driver = flow([wave("A", pause_before_wave=ApprovalGate())])

    # WHEN the execution is cancelled
    decision = driver.send(m.CancelRequested())

    # THEN nothing is in flight: the execution ends CANCELLED at once
    assert driver.wave("A").status == WaveStatus.CANCELLED
    assert driver.execution.status == ExecutionStatus.CANCELLED
    assert types(decision) == [WAVE_FAILED, EXECUTION_FINISHED]


def test_cancel_before_start_cancels_every_wave(flow, wave, types):
    # GIVEN an execution that was never started
    driver = flow([wave("A"), wave("B", depends_on=["A"])], started=False)

    # WHEN it is cancelled
    decision = driver.send(m.CancelRequested())

    # THEN
    assert driver.statuses() == {"A": WaveStatus.CANCELLED, "B": WaveStatus.CANCELLED}
    assert driver.execution.status == ExecutionStatus.CANCELLED
    assert types(decision) == [WAVE_FAILED, WAVE_FAILED, EXECUTION_FINISHED]


def test_pre_actions_finishing_after_cancel_cancel_the_wave_instead_of_launching(flow, wave, types):
    # GIVEN a wave running its pre-action when the execution is cancelled
    driver = flow([wave("A", pre_actions=[action("drain")])])
    driver.send(m.ActionsClaimed("A", "pre"))
    driver.send(m.ActionsStarted("A", "pre", {"drain": "cmd-1"}))
    driver.send(m.CancelRequested())
    assert driver.wave("A").status == WaveStatus.PRE_ACTIONS

    # WHEN the pre-action succeeds
    decision = driver.send(m.ActionResult("A", "pre", "cmd-1", ActionStatus.SUCCEEDED))

    # THEN nothing is launched
    assert driver.wave("A").status == WaveStatus.CANCELLED
    assert driver.execution.status == ExecutionStatus.CANCELLED
    assert types(decision) == [WAVE_FAILED, EXECUTION_FINISHED]


def test_cancel_before_pre_actions_were_claimed_sends_no_action(flow, wave, types):
    # GIVEN a wave whose pre-action was requested but not yet claimed by a sender
    driver = flow([wave("A", pre_actions=[action("drain")])])

    # WHEN the execution is cancelled, then the run-actions handler tries to claim the run
    cancel = driver.send(m.CancelRequested())
    claim = driver.send(m.ActionsClaimed("A", "pre"))

    # THEN the wave is cancelled at once and nothing is claimed (so nothing is sent to SSM)
    assert types(cancel) == [WAVE_FAILED, EXECUTION_FINISHED]
    assert driver.wave("A").status == WaveStatus.CANCELLED
    assert claim.changed is False


def test_servers_resolved_after_cancel_abandon_every_chunk(flow, wave, sids, types):
    # GIVEN a launching wave whose servers were not resolved when the execution was cancelled
    driver = flow([wave("A")])
    driver.send(m.CancelRequested())
    assert driver.wave("A").status == LAUNCHING

    # WHEN the resolution arrives
    decision = driver.resolve("A", sids(120))

    # THEN no chunk will start, the wave is cancelled, and the planner's WaveFinished ends the execution
    assert driver.chunk_statuses("A") == [ChunkStatus.ABANDONED, ChunkStatus.ABANDONED]
    assert driver.wave("A").status == WaveStatus.CANCELLED
    assert types(decision) == [WAVE_FAILED]
    assert types(driver.send(m.WaveFinished("A"))) == [EXECUTION_FINISHED]
    assert driver.execution.status == ExecutionStatus.CANCELLED


# --- duplicates and out-of-order deliveries ---------------------------------------------------------------------


def _dup_start(flow, wave, sids, job):
    return flow([wave("A")]), m.Start()


def _dup_servers_resolved(flow, wave, sids, job):
    driver = flow([wave("A")])
    return driver, m.ServersResolved("A", sids(3))


def _dup_chunk_started(flow, wave, sids, job):
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    return driver, m.ChunkStarted("A", 0, job("A", 0))


def _dup_server_result(flow, wave, sids, job):
    driver = flow([wave("A")])
    driver.launch("A", sids(3))
    return driver, m.ServerResult(job("A", 0), sids(1)[0], LaunchStatus.LAUNCHED, "i-1")


def _dup_job_observed(flow, wave, sids, job):
    driver = flow([wave("A")])
    driver.launch("A", sids(3))
    return driver, m.JobObserved(job("A", 0), "STARTED", [m.ServerResult(job("A", 0), sids(1)[0], LaunchStatus.FAILED)])


def _dup_gate_approved(flow, wave, sids, job):
    return flow([wave("A", pause_before_wave=ApprovalGate())]), m.GateApproved("A", "alice")


def _dup_cancel(flow, wave, sids, job):
    driver = flow([wave("A")])
    driver.launch("A", sids(3))
    return driver, m.CancelRequested()


def _dup_wave_finished(flow, wave, sids, job):
    driver = flow([wave("A"), wave("B", depends_on=["A"]), wave("C", depends_on=["A"])])
    driver.run_wave("A", sids(1))
    return driver, m.WaveFinished("A")


def _dup_actions_claimed(flow, wave, sids, job):
    return flow([wave("A", pre_actions=[action("drain")])]), m.ActionsClaimed("A", "pre")


def _dup_actions_started(flow, wave, sids, job):
    driver = flow([wave("A", pre_actions=[action("drain")])])
    driver.send(m.ActionsClaimed("A", "pre"))
    return driver, m.ActionsStarted("A", "pre", {"drain": "cmd-1"})


def _dup_action_result(flow, wave, sids, job):
    driver = flow([wave("A", pre_actions=[action("drain"), action("warm")])])
    driver.send(m.ActionsClaimed("A", "pre"))
    driver.send(m.ActionsStarted("A", "pre", {"drain": "cmd-1", "warm": "cmd-2"}))
    return driver, m.ActionResult("A", "pre", "cmd-1", ActionStatus.SUCCEEDED)


def _dup_chunk_rejected(flow, wave, sids, job):
    driver = flow([wave("A", default_impact=ImpactLevel.OPTIONAL)])
    driver.resolve("A", sids(150))
    return driver, m.ChunkRejected("A", 0, "ValidationException")


def _dup_resolution_failed(flow, wave, sids, job):
    driver = flow([wave("A", failure_policy=FailurePolicy.CONTINUE), wave("B")])
    return driver, m.ResolutionFailed("A", "matched nothing")


@pytest.mark.parametrize(
    "setup",
    [
        _dup_start,
        _dup_servers_resolved,
        _dup_chunk_started,
        _dup_server_result,
        _dup_job_observed,
        _dup_gate_approved,
        _dup_cancel,
        _dup_wave_finished,
        _dup_actions_claimed,
        _dup_actions_started,
        _dup_action_result,
        _dup_chunk_rejected,
        _dup_resolution_failed,
    ],
    ids=lambda f: f.__name__.removeprefix("_dup_"),
)
def test_duplicate_message_is_a_no_op(setup, flow, wave, sids, job):
    # GIVEN a message that was already applied once
    driver, message = setup(flow, wave, sids, job)
    driver.send(message)
    before = driver.execution

    # WHEN it is delivered again, a little later
    decision = driver.send(message, after=timedelta(seconds=5))

    # THEN nothing changes and nothing is published
    assert decision.changed is False
    assert decision.events == []
    assert decision.execution is before


def test_duplicate_chunk_deferred_is_a_no_op(flow, wave, sids):
    # GIVEN a chunk deferred once
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkDeferred("A", 0, "no capacity"))
    before = driver.execution.model_dump()

    # WHEN the same deferral is delivered again
    decision = driver.send(m.ChunkDeferred("A", 0, "no capacity"))

    # THEN it is a no-op
    assert decision.execution.model_dump() == before
    assert decision.changed is False


def test_duplicate_chunk_starting_is_a_no_op(flow, wave, sids):
    # GIVEN a chunk reserved under token-1
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkStarting("A", 0, "token-1"))

    # WHEN the same ChunkStarting is applied again
    decision = driver.send(m.ChunkStarting("A", 0, "token-1"), after=timedelta(seconds=5))

    # THEN nothing changes
    assert decision.changed is False
    assert driver.wave("A").chunks[0].attempts == 1


def test_chunk_starting_is_refused_while_another_attempt_holds_a_live_lease(flow, wave, sids):
    # GIVEN a chunk reserved under token-1 a few seconds ago
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkStarting("A", 0, "token-1"))

    # WHEN a concurrent launch attempt tries to claim it with its own token
    decision = driver.send(m.ChunkStarting("A", 0, "token-2"), after=timedelta(seconds=5))

    # THEN the first attempt keeps the chunk
    assert decision.changed is False
    assert driver.wave("A").chunks[0].launch_token == "token-1"


def test_chunk_starting_with_a_new_token_is_accepted_once_the_lease_lapsed(flow, wave, sids):
    # GIVEN a chunk whose launch attempt is presumed dead
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkStarting("A", 0, "token-1"))

    # WHEN a new attempt claims it after the lease
    decision = driver.send(m.ChunkStarting("A", 0, "token-2"), after=LAUNCH_LEASE)

    # THEN the new attempt holds it
    chunk = driver.wave("A").chunks[0]
    assert decision.changed is True
    assert (chunk.status, chunk.launch_token, chunk.attempts) == (ChunkStatus.STARTING, "token-2", 2)


def test_server_result_for_an_unknown_job_is_a_no_op(flow, wave, sids):
    # GIVEN a launching wave with one job
    driver = flow([wave("A")])
    driver.launch("A", sids(2))

    # WHEN a result arrives for a job the execution has not recorded
    decision = driver.send(m.ServerResult("drsjob-00000000000unknown", sids(1)[0], LaunchStatus.LAUNCHED))

    # THEN
    assert decision.changed is False
    assert driver.wave("A").servers[sids(1)[0]].launch_status == LaunchStatus.IN_PROGRESS


def test_server_result_for_a_server_outside_the_job_is_a_no_op(flow, wave, sids, job):
    # GIVEN two jobs, one per chunk
    driver = flow([wave("A")])
    servers = sids(3)
    driver.resolve("A", servers, chunk_size=2)
    driver.start_chunk("A", 0)
    driver.start_chunk("A", 1)

    # WHEN job 0 reports a server that belongs to job 1
    decision = driver.send(m.ServerResult(job("A", 0), servers[2], LaunchStatus.LAUNCHED))

    # THEN it is ignored
    assert decision.changed is False
    assert driver.wave("A").servers[servers[2]].launch_status == LaunchStatus.IN_PROGRESS


def test_chunk_started_twice_keeps_the_first_job(flow, wave, sids, job):
    # GIVEN a chunk whose job started
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    driver.start_chunk("A", 0)

    # WHEN another ChunkStarted names a different job
    decision = driver.send(m.ChunkStarted("A", 0, "drsjob-0000000000000other"))

    # THEN the first job is kept
    assert decision.changed is False
    assert driver.wave("A").chunks[0].job_id == job("A", 0)


@pytest.mark.parametrize(
    "message",
    [
        m.ChunkStarting("A", 5, "t"),
        m.ChunkStarted("A", 5, "drsjob-x"),
        m.ChunkDeferred("A", 5, "x"),
        m.ChunkRejected("A", -1, "x"),
        m.ChunkStarted("nope", 0, "drsjob-x"),
        m.ServersResolved("nope", ["s-00000000000000001"]),
        m.ActionsStarted("nope", "pre", {"x": "cmd"}),
        m.ActionResult("A", "post", "cmd-x", ActionStatus.SUCCEEDED),
        m.JobObserved("drsjob-unknown", "COMPLETED"),
    ],
    ids=repr,
)
def test_message_about_an_unknown_wave_chunk_or_job_is_a_no_op(flow, wave, sids, message):
    # GIVEN a resolved one-chunk wave
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    before = driver.execution

    # WHEN a message refers to something that does not exist
    decision = driver.send(message)

    # THEN
    assert decision.changed is False
    assert decision.events == []
    assert decision.execution is before


def test_chunk_started_arriving_before_chunk_starting_is_accepted(flow, wave, sids, job):
    # GIVEN a waiting chunk (its ChunkStarting was lost or comes later)
    driver = flow([wave("A")])
    driver.resolve("A", sids(2))

    # WHEN its ChunkStarted arrives, then the late ChunkStarting
    driver.send(m.ChunkStarted("A", 0, job("A", 0)))
    late = driver.send(m.ChunkStarting("A", 0, "token-late"))

    # THEN the job is tracked and the late claim is ignored
    assert driver.wave("A").chunks[0].status == ChunkStatus.STARTED
    assert late.changed is False


# --- tick: repairs -------------------------------------------------------------------------------------------


def test_tick_asks_again_for_an_unresolved_wave_after_the_retry_delay(flow, wave, types, t0):
    # GIVEN a wave whose launch was requested at t0 and never acknowledged
    driver = flow([wave("A")])

    # WHEN ticks arrive just before and at RETRY_AFTER
    early = driver.send(m.Tick(), after=RETRY_AFTER - timedelta(seconds=1))
    due = driver.send(m.Tick(), after=timedelta(seconds=1))

    # THEN only the second asks again, and records when
    assert early.changed is False
    assert types(due) == [START_REQUESTED]
    assert driver.wave("A").launch_requested_at == t0 + RETRY_AFTER


def test_tick_re_emits_wave_start_requested_for_a_waiting_chunk(flow, wave, sids, types):
    # GIVEN a launching wave whose chunk was deferred for capacity
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkDeferred("A", 0, "no capacity"))

    # WHEN a tick arrives after the retry delay
    decision = driver.send(m.Tick(), after=RETRY_AFTER)

    # THEN the start-wave handler is asked to try again
    assert types(decision) == [START_REQUESTED]
    assert decision.events[0].wave_id == "A"


def test_tick_does_not_re_emit_for_a_chunk_with_a_live_lease(flow, wave, sids):
    # GIVEN a chunk being started 10 s ago
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkStarting("A", 0, "token-1"), after=timedelta(seconds=10))

    # WHEN a tick arrives just before its lease lapses
    decision = driver.send(m.Tick(), after=LAUNCH_LEASE - timedelta(seconds=1))

    # THEN nothing is asked
    assert decision.changed is False


def test_tick_re_emits_wave_start_requested_when_a_launch_lease_lapsed(flow, wave, sids, types):
    # GIVEN a chunk whose launch attempt started and never reported back
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkStarting("A", 0, "token-1"), after=timedelta(seconds=10))

    # WHEN a tick arrives once the lease lapsed
    decision = driver.send(m.Tick(), after=LAUNCH_LEASE)

    # THEN the handler is asked to find or restart the job
    assert lease_lapsed(driver.wave("A").chunks[0], driver.now)
    assert types(decision) == [START_REQUESTED]


def test_tick_re_emits_for_a_lapsed_lease_even_in_an_ended_wave(flow, wave, sids, types):
    # GIVEN a wave that timed out while a chunk was starting
    driver = flow([wave("A", timeout_minutes=10)])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkStarting("A", 0, "token-1"), after=timedelta(minutes=9))
    timeout = driver.send(m.Tick(), after=timedelta(minutes=1))
    assert types(timeout) == [WAVE_FAILED]

    # WHEN a tick arrives after the lease lapsed
    decision = driver.send(m.Tick(), after=LAUNCH_LEASE)

    # THEN the handler is still asked: the job may exist and must be found and tracked
    assert driver.wave("A").status == FAILED
    assert types(decision) == [START_REQUESTED]


def test_tick_re_opens_dependants_when_wave_finished_was_lost(flow, wave, sids, types):
    # GIVEN A completed but its WaveFinished never reached the planner
    driver = flow([wave("A"), wave("B", depends_on=["A"])])
    driver.run_wave("A", sids(1))

    # WHEN a tick arrives
    decision = driver.send(m.Tick(), after=timedelta(seconds=1))

    # THEN B opens
    assert driver.wave("B").status == LAUNCHING
    assert types(decision) == [START_REQUESTED]


def test_tick_with_nothing_to_do_is_a_no_op(flow, wave, sids):
    # GIVEN a wave whose only job is running
    driver = flow([wave("A")])
    driver.launch("A", sids(2))
    before = driver.execution

    # WHEN a tick arrives
    decision = driver.send(m.Tick(), after=timedelta(minutes=1))

    # THEN
    assert decision.changed is False
    assert decision.execution is before


def test_needs_launch_attempt_is_false_once_every_chunk_started(flow, wave, sids):
    # GIVEN
    driver = flow([wave("A")])
    assert needs_launch_attempt(driver.wave("A"), driver.now)  # not resolved yet

    # WHEN every chunk started
    driver.launch("A", sids(3))

    # THEN
    assert not needs_launch_attempt(driver.wave("A"), driver.now)


# --- capacity bookkeeping ----------------------------------------------------------------------------------------


def test_freed_chunks_lists_chunks_that_stopped_holding_capacity(flow, wave, sids):
    # GIVEN a job with one server left to report
    driver = flow([wave("A")])
    servers = sids(2)
    (job_id,) = driver.launch("A", servers)
    driver.report(job_id, servers[:1])
    before = driver.execution

    # WHEN the last server reports
    driver.report(job_id, servers[1:])

    # THEN chunk 0 is freed
    assert freed_chunks(before, driver.execution) == [("A", 0)]


def test_abandoning_a_waiting_chunk_frees_nothing(mid_wave):
    # GIVEN a wave with a waiting chunk
    before = mid_wave.execution

    # WHEN the execution is cancelled (the waiting chunk is abandoned)
    mid_wave.send(m.CancelRequested())

    # THEN no capacity was held by it
    assert freed_chunks(before, mid_wave.execution) == []


# --- purity and terminal executions -------------------------------------------------------------------------------


def test_decide_never_mutates_its_input(flow, wave, sids, job):
    # GIVEN a plan exercising gates, actions, chunks, failures and cancellation
    driver = flow(
        [
            wave("A", pre_actions=[action("drain")], post_actions=[action("smoke")]),
            wave("B", depends_on=["A"], pause_before_wave=ApprovalGate(timeout_minutes=5)),
            wave("C", depends_on=["A"], default_impact=ImpactLevel.OPTIONAL),
        ],
        started=False,
    )
    servers = sids(120)
    script = [
        m.Start(),
        m.ActionsClaimed("A", "pre"),
        m.ActionsStarted("A", "pre", {"drain": "cmd-1"}),
        m.ActionResult("A", "pre", "cmd-1", ActionStatus.SUCCEEDED),
        m.ServersResolved("A", servers),
        m.ChunkStarting("A", 0, "t0"),
        m.ChunkDeferred("A", 1, "busy"),
        m.ChunkStarted("A", 0, job("A", 0)),
        m.Tick(),
        m.ChunkStarted("A", 1, job("A", 1)),
        m.JobObserved(job("A", 0), "COMPLETED", [m.ServerResult(job("A", 0), servers[0], LaunchStatus.LAUNCHED)]),
        *[m.ServerResult(job("A", 1), s, LaunchStatus.LAUNCHED, "i-1") for s in servers[100:]],
        m.ActionsClaimed("A", "post"),
        m.ActionsStarted("A", "post", {"smoke": "cmd-2"}),
        m.ActionResult("A", "post", "cmd-2", ActionStatus.SUCCEEDED),
        m.WaveFinished("A"),
        m.ServersResolved("C", sids(2, start=500)),
        m.ChunkRejected("C", 0, "ValidationException"),
        m.Tick(),
        m.CancelRequested(),
        m.GateApproved("B"),
    ]

    for message in script:
        # WHEN each message is decided
        previous = driver.execution
        before = previous.model_dump()
        driver.send(message, after=timedelta(minutes=1))

        # THEN the execution it was decided on is exactly as it was
        assert previous.model_dump() == before, f"{message!r} mutated its input"
    assert driver.execution.status.terminal


def test_decide_leaves_the_input_object_untouched(flow, wave, sids, job):
    # GIVEN an execution in the middle of a launch and a snapshot of it
    driver = flow([wave("A"), wave("B", depends_on=["A"])])
    driver.resolve("A", sids(150))
    driver.start_chunk("A", 0)
    execution = driver.execution
    snapshot = execution.model_dump()

    # WHEN several different messages are decided against that same object
    for message in [
        m.ServerResult(job("A", 0), sids(1)[0], LaunchStatus.LAUNCHED, "i-1"),
        m.JobObserved(job("A", 0), "COMPLETED"),
        m.ChunkStarting("A", 1, "t1"),
        m.ChunkDeferred("A", 1, "busy"),
        m.CancelRequested(),
        m.Tick(),
    ]:
        decision = decide(execution, message, driver.now + timedelta(hours=5))

        # THEN a changed decision is a new object and the input is unchanged
        assert decision.changed is True
        assert decision.execution is not execution
        assert execution.model_dump() == snapshot


TERMINAL_PROBES = [
    m.Start(),
    m.Tick(),
    m.GateApproved("A"),
    m.CancelRequested(),
    m.PauseRequested(),
    m.ResumeRequested(),
    m.ErrorReported("STAGE", "boom"),
    m.WaveFinished("A"),
    m.ServersResolved("A", ["s-00000000000000001"]),
    m.ResolutionFailed("A", "x"),
    m.ChunkStarting("A", 0, "t"),
    m.ChunkStarted("A", 0, "drsjob-x"),
    m.ChunkDeferred("A", 0, "x"),
    m.ChunkRejected("A", 0, "x"),
    m.LaunchSettingsApplied("A", 0, 1, 1),
    m.LaunchSettingsFailed("A", 0, "x"),
    m.ServerResult("drsjob-0000000000000000a0", "s-00000000000000001", LaunchStatus.FAILED),
    m.JobObserved("drsjob-0000000000000000a0", "COMPLETED"),
    m.ActionsClaimed("A", "pre"),
    m.ActionsStarted("A", "pre", {"x": "y"}),
    m.ActionResult("A", "pre", "y", ActionStatus.FAILED),
]


def test_terminal_probes_cover_every_message_type():
    # THEN the list below exercises every message the core knows
    assert {type(p) for p in TERMINAL_PROBES} == set(m.Message.__args__)


@pytest.mark.parametrize("message", TERMINAL_PROBES, ids=lambda msg: type(msg).__name__)
def test_terminal_execution_ignores_every_message(flow, wave, sids, message):
    # GIVEN a completed execution
    driver = flow([wave("A")])
    driver.run_wave("A", sids(1))
    assert driver.execution.status == ExecutionStatus.COMPLETED
    before = driver.execution

    # WHEN any message arrives, however late
    decision = driver.send(message, after=timedelta(days=30))

    # THEN it is ignored
    assert decision.changed is False
    assert decision.events == []
    assert decision.execution is before


# --- property: random DAG plans always run to a consistent end ----------------------------------------------------


@st.composite
def dag_runs(draw):
    """A random acyclic plan of 3-8 waves, the servers of each wave, their launch outcomes, and a chunk size."""
    count = draw(st.integers(min_value=3, max_value=8))
    waves, servers, outcomes = [], {}, {}
    for i in range(count):
        wave_id = f"w{i}"
        depends_on = draw(st.lists(st.sampled_from([f"w{j}" for j in range(i)]), unique=True, max_size=3)) if i else []
        size = draw(st.integers(min_value=1, max_value=7))
        ids = _wave_server_ids(i, size)
        launched = draw(st.lists(st.booleans(), min_size=size, max_size=size))
        optional = draw(st.lists(st.booleans(), min_size=size, max_size=size))
        waves.append(
            {
                "wave_id": wave_id,
                "depends_on": depends_on,
                "failure_policy": draw(st.sampled_from(FailurePolicy)),
                "server_impact": {s: ImpactLevel.OPTIONAL for s, opt in zip(ids, optional, strict=True) if opt},
            }
        )
        servers[wave_id] = ids
        outcomes.update(
            {s: LaunchStatus.LAUNCHED if ok else LaunchStatus.FAILED for s, ok in zip(ids, launched, strict=True)}
        )
    chunk_size = draw(st.integers(min_value=1, max_value=4))
    return waves, servers, outcomes, chunk_size


def _wave_server_ids(wave_index: int, count: int) -> list[str]:
    return [f"s-{wave_index:03d}{n:014d}" for n in range(count)]


def _assert_no_wave_opened_early(execution) -> None:
    for spec in execution.plan.waves:
        if execution.waves[spec.id].started_at is not None:
            deps = {d: execution.waves[d].status for d in spec.depends_on}
            assert all(s.succeeded for s in deps.values()), f"{spec.id} opened with dependencies {deps}"


def _answer(event, run, job) -> list[m.Message]:
    """What the handlers would report back for one emitted event (every job starts; servers end as drawn)."""
    _, servers, outcomes, chunk_size = run
    if isinstance(event, WaveCompleted | WaveFailed):
        return [m.WaveFinished(event.wave_id)]
    if not isinstance(event, WaveStartRequested):
        return []
    wave_id = event.wave_id
    answers: list[m.Message] = [m.ServersResolved(wave_id, servers[wave_id], chunk_size)]
    for index, ids in enumerate(split_into_chunks(servers[wave_id], chunk_size)):
        answers.append(m.ChunkStarting(wave_id, index, f"token-{wave_id}-{index}"))
        answers.append(m.ChunkStarted(wave_id, index, job(wave_id, index)))
        answers.extend(
            m.ServerResult(
                job(wave_id, index),
                sid,
                outcomes[sid],
                f"i-{sid[-8:]}" if outcomes[sid] is LaunchStatus.LAUNCHED else None,
            )
            for sid in ids
        )
    return answers


def _assert_wave_status_matches_its_servers(state) -> None:
    failed = [s for s in state.servers.values() if s.launch_status is LaunchStatus.FAILED]
    if state.status == WaveStatus.COMPLETED:
        assert {s.launch_status for s in state.servers.values()} == {LaunchStatus.LAUNCHED}
    elif state.status == WaveStatus.COMPLETED_WITH_WARNINGS:
        assert failed
        assert all(s.impact is ImpactLevel.OPTIONAL for s in failed)
    elif state.status == WaveStatus.FAILED:
        assert any(s.impact is ImpactLevel.CRITICAL for s in failed)
    else:
        assert state.status == WaveStatus.SKIPPED
        assert state.started_at is None


def _expected_execution_status(execution) -> ExecutionStatus:
    statuses = {w.status for w in execution.waves.values()}
    if statuses & {WaveStatus.FAILED, WaveStatus.SKIPPED}:
        return ExecutionStatus.FAILED
    if WaveStatus.COMPLETED_WITH_WARNINGS in statuses:
        return ExecutionStatus.COMPLETED_WITH_WARNINGS
    return ExecutionStatus.COMPLETED


@settings(max_examples=120, deadline=None)
@given(run=dag_runs(), data=st.data())
def test_random_dag_plans_always_reach_a_consistent_terminal_state(run, data, flow, wave, job):
    # GIVEN a random DAG plan and a random outcome per server
    specs = run[0]
    driver = flow([wave(**spec) for spec in specs], started=False)
    queue = list(driver.start().events)

    # WHEN every emitted event is answered, in a random order and sometimes twice
    for step in range(5_000):
        if not queue:
            break
        event = queue.pop(data.draw(st.integers(min_value=0, max_value=len(queue) - 1), label="next event"))
        if step < 100 and data.draw(st.booleans(), label="deliver twice"):
            queue.append(event)
        for message in _answer(event, run, job):
            queue.extend(driver.send(message, after=timedelta(seconds=1)).events)
            _assert_no_wave_opened_early(driver.execution)
    assert not queue, "the execution did not converge"

    # THEN the execution and every wave are terminal, nothing is in flight, and statuses agree with the outcomes
    execution = driver.execution
    assert execution.status.terminal
    assert all(w.status.terminal for w in execution.waves.values())
    assert execution.in_flight_jobs() == []
    for state in execution.waves.values():
        _assert_wave_status_matches_its_servers(state)
    assert execution.status == _expected_execution_status(execution)


def test_news_about_an_older_launch_attempt_is_ignored(flow, wave, sids):
    # GIVEN a chunk whose first attempt lapsed and a second attempt now holds the lease
    driver = flow([wave("A")])
    driver.resolve("A", sids(3))
    driver.send(m.ChunkStarting("A", 0, "token-1"))
    driver.send(m.ChunkStarting("A", 0, "token-2"), after=LAUNCH_LEASE)

    # WHEN a late deferral and a late rejection of the first attempt arrive
    deferred = driver.send(m.ChunkDeferred("A", 0, "ConflictException", "token-1"))
    rejected = driver.send(m.ChunkRejected("A", 0, "ValidationException", "token-1"))

    # THEN the second attempt is untouched
    chunk = driver.wave("A").chunks[0]
    assert (deferred.changed, rejected.changed) == (False, False)
    assert (chunk.status, chunk.launch_token) == (ChunkStatus.STARTING, "token-2")


def test_pause_lets_in_flight_work_finish_but_opens_no_new_wave(flow, wave, sids):
    # GIVEN a chain A -> B with A's job in flight
    driver = flow([wave("A"), wave("B", depends_on=["A"])])
    servers = sids(2)
    [job] = driver.launch("A", servers)

    # WHEN the operator pauses, then A's servers launch
    paused = driver.send(m.PauseRequested("alice"))
    driver.report(job, servers)
    driver.send(m.WaveFinished("A"))

    # THEN A completes, B stays PENDING and the execution is PAUSED
    assert paused.execution.status == ExecutionStatus.PAUSED
    assert driver.wave("A").status == WaveStatus.COMPLETED
    assert driver.wave("B").status == WaveStatus.PENDING
    assert driver.execution.status == ExecutionStatus.PAUSED

    # WHEN the operator resumes  THEN B opens
    resumed = driver.send(m.ResumeRequested("alice"))
    assert driver.wave("B").status == WaveStatus.LAUNCHING
    assert "Wave Start Requested" in [e.DETAIL_TYPE for e in resumed.events]
    assert driver.execution.status == ExecutionStatus.RUNNING


def test_duplicate_pause_and_resume_are_no_ops(flow, wave):
    # GIVEN a running execution that was paused once
    driver = flow([wave("A"), wave("B", depends_on=["A"])])
    driver.send(m.PauseRequested("alice"))

    # WHEN the pause is delivered again, resumed twice
    again = driver.send(m.PauseRequested("alice"))
    driver.send(m.ResumeRequested("alice"))
    twice = driver.send(m.ResumeRequested("alice"))

    # THEN the repeats change nothing
    assert again.changed is False
    assert twice.changed is False


def test_a_pause_redelivered_after_its_resume_is_a_no_op(flow, wave, t0):
    # GIVEN a pause requested at t0+5s and a resume requested at t0+35s, both applied
    driver = flow([wave("A"), wave("B", depends_on=["A"])])
    pause = m.PauseRequested("alice", t0 + timedelta(seconds=5))
    driver.send(pause)
    driver.send(m.ResumeRequested("alice", t0 + timedelta(seconds=35)))

    # WHEN EventBridge delivers the same pause again
    again = driver.send(pause)

    # THEN nothing changes: the execution keeps running
    assert again.changed is False
    assert driver.execution.status == ExecutionStatus.RUNNING


def test_a_resume_that_overtakes_its_pause_wins(flow, wave, t0):
    # GIVEN a running execution
    driver = flow([wave("A"), wave("B", depends_on=["A"])])

    # WHEN the resume (requested at t0+35s) arrives before the pause it lifts (requested at t0+5s)
    driver.send(m.ResumeRequested("alice", t0 + timedelta(seconds=35)))
    late = driver.send(m.PauseRequested("alice", t0 + timedelta(seconds=5)))

    # THEN the late pause is outdated and the execution never pauses
    assert late.changed is False
    assert driver.execution.status == ExecutionStatus.RUNNING
    assert driver.execution.paused_by is None


def test_a_newer_pause_after_a_resume_pauses_again(flow, wave, t0):
    # GIVEN a pause and its resume
    driver = flow([wave("A"), wave("B", depends_on=["A"])])
    driver.send(m.PauseRequested("alice", t0 + timedelta(seconds=5)))
    driver.send(m.ResumeRequested("alice", t0 + timedelta(seconds=35)))

    # WHEN the operator pauses again later
    driver.send(m.PauseRequested("bob", t0 + timedelta(seconds=90)))

    # THEN the execution is paused by the newer request
    assert driver.execution.status == ExecutionStatus.PAUSED
    assert driver.execution.paused_by == "bob"


def test_gate_approved_while_paused_opens_only_on_resume(flow, wave):
    # GIVEN a gated root wave waiting for approval, and a paused execution
    driver = flow([wave("A", pause_before_wave=ApprovalGate(timeout_minutes=30))])
    driver.send(m.PauseRequested("alice"))

    # WHEN the gate is approved during the pause
    driver.send(m.GateApproved("A", "bob"))

    # THEN the wave keeps waiting until the resume
    assert driver.wave("A").status == WaveStatus.WAITING_APPROVAL
    driver.send(m.ResumeRequested("alice"))
    assert driver.wave("A").status == WaveStatus.LAUNCHING


def test_an_execution_waits_briefly_for_the_instance_ids_of_launched_servers(flow, wave, sids):
    # GIVEN a one-wave execution whose only server launched, reported without its instance id
    driver = flow([wave("A")])
    [server] = sids(1)
    [job] = driver.launch("A", [server])
    driver.send(m.ServerResult(job, server, LaunchStatus.LAUNCHED))

    # THEN the wave is done but the execution is not final until the id is known
    assert driver.wave("A").status == WaveStatus.COMPLETED
    assert not driver.execution.status.terminal

    # WHEN the reconciler observes the job with the id  THEN the execution finishes with it recorded
    driver.send(m.JobObserved(job, "COMPLETED", [m.ServerResult(job, server, LaunchStatus.LAUNCHED, "i-0f")]))
    assert driver.execution.status == ExecutionStatus.COMPLETED
    assert driver.wave("A").servers[server].recovery_instance_id == "i-0f"


def test_an_execution_does_not_wait_forever_for_a_missing_instance_id(flow, wave, sids):
    # GIVEN a launched server whose instance id never comes
    driver = flow([wave("A")])
    [server] = sids(1)
    [job] = driver.launch("A", [server])
    driver.send(m.ServerResult(job, server, LaunchStatus.LAUNCHED))

    # WHEN ticks pass beyond the grace period  THEN the execution finishes anyway
    driver.send(m.Tick(), after=timedelta(minutes=11))
    assert driver.execution.status == ExecutionStatus.COMPLETED


def test_an_error_reported_from_outside_is_audited_without_changing_the_course(flow, wave):
    # GIVEN a running execution
    driver = flow([wave("A"), wave("B", depends_on=["A"])])
    before = driver.execution.status

    # WHEN a workflow reports an error against it
    decision = driver.send(m.ErrorReported("INITIALIZATION", "Lambda.ServiceException: boom", "lambda:sfn"))

    # THEN the timeline records it and nothing else changes
    entry = driver.execution.timeline[-1]
    assert decision.changed is True
    assert (entry.event, entry.detail) == (
        "ERROR_REPORTED",
        "INITIALIZATION: Lambda.ServiceException: boom (by lambda:sfn)",
    )
    assert driver.execution.status == before
    assert decision.events == []


def test_a_created_execution_whose_start_request_was_lost_is_started_by_the_tick(make_execution, wave, t0, types):
    # GIVEN an execution the control plane created (PENDING) whose "Execution Requested" never arrived
    execution = make_execution([wave("A"), wave("B", depends_on=["A"])])

    # WHEN the tick runs within the grace period  THEN nothing happens yet (the request may still be in flight)
    early = decide(execution, m.Tick(), t0 + timedelta(seconds=90))
    assert early.changed is False

    # WHEN the tick runs after it
    late = decide(execution, m.Tick(), t0 + timedelta(minutes=2))

    # THEN the execution starts as if requested, and says why
    assert late.execution.status == ExecutionStatus.RUNNING
    assert [e.event for e in late.execution.timeline][:2] == ["START_REPAIRED", "EXECUTION_STARTED"]
    assert types(late) == ["Execution Started", "Wave Start Requested"]
    # AND the request arriving even later is a no-op
    assert decide(late.execution, m.Start(), t0 + timedelta(minutes=3)).changed is False
