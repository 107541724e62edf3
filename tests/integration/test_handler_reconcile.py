"""reconcile handler (the poll tick) in the local runtime: batched DescribeJobs, changes only, self-repair."""

from __future__ import annotations

from typing import Any

from drwave.core.decide import LAUNCH_LEASE
from drwave.models.execution import ChunkStatus, ExecutionStatus, LaunchStatus, WaveStatus
from drwave.models.plan import ProtectionGroup, RecoveryPlan, Wave


def started(h: Any, execution_id: str = "exe-0001") -> str:
    h.request(execution_id)
    h.start_wave(execution_id, "app")
    job_id: str = h.execution(execution_id).waves["app"].chunks[0].job_id
    return job_id


def test_tick_reports_a_finished_job_once_per_change_from_one_describe_jobs(harness, one_wave, sid, job_seconds):
    # GIVEN a launched wave whose DRS job has finished, its launch-result events lost
    h = harness(one_wave([sid(1), sid(2)]))
    job_id = started(h)
    h.advance(job_seconds)
    h.bus.clear()
    h.rt.drs.calls.clear()
    # WHEN the poll tick runs
    outcome = h.tick()
    # THEN one DescribeJobs found the change and "DRS Job State Change" carries DRS's view of the job
    assert outcome == {
        "activeExecutions": 1,
        "jobChanges": 1,
        "actionsRepaired": 0,
        "eventsResent": 0,
        "executionsFailed": 0,
    }
    assert dict(h.drs_calls) == {"DescribeJobs": 1}
    (change,) = h.bus.of("DRS Job State Change")
    truth = {r.source_server_id: r.instance_id for r in h.rt.drs.jobs[job_id].runs}
    assert change["jobId"] == job_id
    assert change["status"] == "COMPLETED"
    assert {s["sourceServerId"]: (s["launchStatus"], s["recoveryInstanceId"]) for s in change["servers"]} == {
        s: ("LAUNCHED", i) for s, i in truth.items()
    }
    # AND once track_launch applied it, the wave is complete and the next tick has nothing to report
    h.deliver_new("DRS Job State Change", "track_launch")
    assert h.execution("exe-0001").waves["app"].status is WaveStatus.COMPLETED
    h.bus.clear()
    assert h.tick()["jobChanges"] == 0
    assert h.bus.of("DRS Job State Change") == []


def test_tick_reads_the_job_log_only_for_a_newly_failed_server_and_reports_why(harness, one_wave, sid, job_seconds):
    # GIVEN a finished job in which one server failed at launch
    h = harness(one_wave([sid(1), sid(2)]), fail_at={sid(2): "LAUNCH"})
    started(h)
    h.advance(job_seconds)
    h.bus.clear()
    # WHEN the tick runs
    h.tick()
    # THEN the job log was read once and the failure reason travels with the change
    assert h.drs_calls["DescribeJobLogItems"] == 1
    (change,) = h.bus.of("DRS Job State Change")
    failed = next(s for s in change["servers"] if s["sourceServerId"] == sid(2))
    assert failed["launchStatus"] == "FAILED"
    assert failed["error"] == f"LAUNCH_FAILED: simulated LAUNCH failure for {sid(2)}"
    # AND applying it records the reason on the server
    h.deliver_new("DRS Job State Change", "track_launch")
    assert h.execution("exe-0001").waves["app"].servers[sid(2)].error == failed["error"]


def test_jobs_of_several_executions_are_polled_in_one_describe_jobs(harness, one_wave, sid, job_seconds):
    # GIVEN two executions of two plans over different servers, both with a job in flight
    h = harness(one_wave([sid(1)]), servers=2)
    store = h.rt.deps.store
    store.put_group(ProtectionGroup(id="pg-other", name="Other", source_server_ids=[sid(2)]))
    store.put_plan(
        RecoveryPlan(id="plan-other", name="Other", waves=[Wave(id="app", protection_group_ids=["pg-other"])])
    )
    started(h, "exe-0001")
    h.request("exe-0002", plan_id="plan-other")
    h.start_wave("exe-0002", "app")
    h.advance(60)
    h.rt.drs.calls.clear()
    h.bus.clear()
    # WHEN the tick runs
    outcome = h.tick()
    # THEN both jobs were read with a single call and each execution got its own change
    assert outcome == {
        "activeExecutions": 2,
        "jobChanges": 2,
        "actionsRepaired": 0,
        "eventsResent": 0,
        "executionsFailed": 0,
    }
    assert dict(h.drs_calls) == {"DescribeJobs": 1}
    assert sorted(c["executionId"] for c in h.bus.of("DRS Job State Change")) == ["exe-0001", "exe-0002"]


def test_tick_with_no_active_execution_does_nothing(harness, one_wave, sid):
    # GIVEN no execution WHEN the tick runs THEN it reports zero and makes no DRS call
    h = harness(one_wave([sid(1)]))
    assert h.tick() == {
        "activeExecutions": 0,
        "jobChanges": 0,
        "actionsRepaired": 0,
        "eventsResent": 0,
        "executionsFailed": 0,
    }
    assert sum(h.drs_calls.values()) == 0
    assert h.bus.events == []


def test_repeated_ticks_never_start_jobs_or_rewrite_an_unchanged_execution(harness, one_wave, sid):
    # GIVEN a wave whose job is in flight
    h = harness(one_wave([sid(1)]))
    started(h)
    h.advance(30)
    h.tick()
    before = h.stored("exe-0001")
    # WHEN the same tick is delivered again (a duplicate)
    h.tick()
    # THEN no second job was started and the execution was not rewritten
    assert h.drs_calls["StartRecovery"] == 1
    assert h.stored("exe-0001") == before


def test_tick_asks_start_wave_again_for_a_launch_whose_lease_lapsed(harness, one_wave, sid):
    # GIVEN a start_wave that died after reserving capacity, before StartRecovery
    h = harness(one_wave([sid(1)]))
    h.request("exe-0001")
    h.launch_dies("exe-0001", "app", after_start_recovery=False)
    assert h.execution("exe-0001").waves["app"].chunks[0].status is ChunkStatus.STARTING
    h.bus.clear()
    # WHEN the lease lapses and the tick runs
    h.advance_by(LAUNCH_LEASE)
    h.tick()
    # THEN it requests the wave's start again without calling StartRecovery itself
    assert h.bus.of("Wave Start Requested") == [{"schemaVersion": "1", "executionId": "exe-0001", "waveId": "app"}]
    assert h.drs_calls["StartRecovery"] == 0
    # AND delivering that request launches exactly one job
    h.deliver_new("Wave Start Requested", "start_wave")
    assert h.drs_calls["StartRecovery"] == 1
    assert h.execution("exe-0001").waves["app"].chunks[0].status is ChunkStatus.STARTED


def test_tick_times_out_an_unapproved_gate(harness, one_wave, sid):
    # GIVEN a wave waiting for approval with a one-minute gate
    h = harness(one_wave([sid(1)], pauseBeforeWave={"timeoutMinutes": 1}))
    h.request("exe-0001")
    assert h.execution("exe-0001").status is ExecutionStatus.WAITING_APPROVAL
    # WHEN the tick runs after the gate's timeout
    h.advance(60)
    h.tick()
    # THEN the wave failed for the timeout and nothing was launched
    wave = h.execution("exe-0001").waves["app"]
    assert wave.status is WaveStatus.FAILED
    assert wave.reason == "approval gate timed out after 1 min"
    assert h.drs_calls["StartRecovery"] == 0


def test_tick_fills_in_recovery_instances_missing_after_launch_events(harness, one_wave, sid, job_seconds):
    # GIVEN two servers whose launch results arrived, the first one alone so its instance id is unknown
    h = harness(one_wave([sid(1), sid(2)], postActions=[{"name": "check", "documentName": "AWS-RunShellScript"}]))
    started(h)
    h.advance(job_seconds)
    first, _second = h.launch_results()
    h.invoke("track_launch", first)
    server = h.execution("exe-0001").waves["app"].servers[first["resources"][0].rsplit("/", 1)[-1]]
    assert server.launch_status is LaunchStatus.LAUNCHED
    assert server.recovery_instance_id is None
    # WHEN the tick runs and its change is applied
    h.tick()
    h.deliver_new("DRS Job State Change", "track_launch")
    # THEN the server's recovery instance is known
    server = h.execution("exe-0001").waves["app"].servers[server.source_server_id]
    assert server.recovery_instance_id is not None


def test_tick_does_not_depend_on_the_scheduled_events_content(harness, one_wave, sid, job_seconds):
    # GIVEN a finished job (the tick reads state from the store, not from its trigger)
    h = harness(one_wave([sid(1)]))
    started(h)
    h.advance(job_seconds)
    # WHEN the tick is invoked with a bare event, as a manual invocation would do
    outcome = h.invoke("reconcile", {})
    # THEN it polls and reports exactly as a scheduled tick does
    assert outcome == {
        "activeExecutions": 1,
        "jobChanges": 1,
        "actionsRepaired": 0,
        "eventsResent": 0,
        "executionsFailed": 0,
    }
