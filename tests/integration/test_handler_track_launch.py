"""track_launch handler in the local runtime: aws.drs launch results and derived job state changes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drwave.core.capacity import DrsLimits
from drwave.handlers.common import InvalidEvent
from drwave.models.events import DrsJobStateChange, ServerLaunch
from drwave.models.execution import ChunkStatus, LaunchStatus, WaveStatus

LAUNCH_RESULT = "DRS Source Server Launch Result"


def started(h: Any, execution_id: str = "exe-0001") -> str:
    """Request the execution, start its wave; the DRS job id."""
    h.request(execution_id)
    h.start_wave(execution_id, "app")
    job_id: str = h.execution(execution_id).waves["app"].chunks[0].job_id
    return job_id


def ledger(h: Any) -> Any:
    return h.rt.deps.store.load_ledger("111122223333", "us-east-1")


# --- aws.drs launch results ---------------------------------------------------------------------------------


def test_launch_results_complete_the_wave_with_every_recovery_instance(harness, one_wave, sid, job_seconds):
    # GIVEN a launched wave of three servers whose DRS job has finished
    h = harness(one_wave([sid(1), sid(2), sid(3)]))
    job_id = started(h)
    h.advance(job_seconds)
    assert len(h.launch_results()) == 3
    # WHEN DRS's three launch results are delivered
    delivered = h.deliver_new(LAUNCH_RESULT, "track_launch")
    # THEN every server is LAUNCHED with the instance DRS reports, read with a single DescribeJobs
    assert delivered == 3
    wave = h.execution("exe-0001").waves["app"]
    truth = {r.source_server_id: r.instance_id for r in h.rt.drs.jobs[job_id].runs}
    assert {s: (v.launch_status, v.recovery_instance_id) for s, v in wave.servers.items()} == {
        s: (LaunchStatus.LAUNCHED, i) for s, i in truth.items()
    }
    assert h.drs_calls["DescribeJobs"] == 1
    # AND the chunk ended, its capacity was released, and the wave completed
    assert wave.chunks[0].status is ChunkStatus.ENDED
    assert ledger(h).reservations == {}
    assert wave.status is WaveStatus.COMPLETED
    completed = h.bus.of("Wave Completed")
    assert [c.pop("rtoSeconds") > 0 for c in completed] == [True]  # the wave's measured RTO (no target declared)
    assert completed == [
        {
            "schemaVersion": "1",
            "executionId": "exe-0001",
            "waveId": "app",
            "status": "COMPLETED",
            "launched": 3,
            "failed": 0,
        }
    ]


def test_a_critical_server_failing_to_launch_fails_the_wave(harness, one_wave, sid, job_seconds):
    # GIVEN a wave whose second server fails at conversion
    h = harness(one_wave([sid(1), sid(2)]), fail_at={sid(2): "CONVERSION"})
    started(h)
    h.advance(job_seconds)
    # WHEN the launch results are delivered
    h.deliver_new(LAUNCH_RESULT, "track_launch")
    # THEN the wave FAILED naming the server and "Wave Failed" is published
    wave = h.execution("exe-0001").waves["app"]
    assert wave.servers[sid(2)].launch_status is LaunchStatus.FAILED
    assert wave.status is WaveStatus.FAILED
    (failed,) = h.bus.of("Wave Failed")
    assert failed["status"] == "FAILED"
    assert sid(2) in failed["reason"]


def test_an_optional_server_failing_completes_the_wave_with_warnings(harness, one_wave, sid, job_seconds):
    # GIVEN the failing server is OPTIONAL in its wave
    h = harness(one_wave([sid(1), sid(2)], serverImpact={sid(2): "OPTIONAL"}), fail_at={sid(2): "LAUNCH"})
    started(h)
    h.advance(job_seconds)
    # WHEN the results are delivered THEN the wave completes with a warning about that server
    h.deliver_new(LAUNCH_RESULT, "track_launch")
    wave = h.execution("exe-0001").waves["app"]
    assert wave.status is WaveStatus.COMPLETED_WITH_WARNINGS
    assert wave.warnings == [f"optional server {sid(2)} failed to launch"]


def test_duplicate_launch_result_is_a_no_op(harness, one_wave, sid, job_seconds):
    # GIVEN every launch result of a two-server job delivered once
    h = harness(one_wave([sid(1), sid(2)]))
    started(h)
    h.advance(job_seconds)
    h.deliver_new(LAUNCH_RESULT, "track_launch")
    before = h.stored("exe-0001")
    published = len(h.bus.events)
    calls = dict(h.drs_calls)
    # WHEN each is delivered again
    for event in h.launch_results():
        h.invoke("track_launch", event)
    # THEN nothing is written, published or asked of DRS
    assert h.stored("exe-0001") == before
    assert len(h.bus.events) == published
    assert dict(h.drs_calls) == calls


def test_launch_result_for_a_job_drwave_did_not_start_is_ignored(harness, one_wave, sid, job_seconds):
    # GIVEN a running execution and a DRS job someone else started
    h = harness(one_wave([sid(1)]), servers=2)
    h.request("exe-0001")
    before = h.stored("exe-0001")
    h.rt.deps.drs_for("111122223333", "us-east-1").start_recovery([sid(2)], is_drill=True, tags={})
    h.rt.drs.calls.clear()
    h.advance(job_seconds)
    (foreign,) = h.launch_results()
    # WHEN its launch result arrives THEN it is ignored without reading DRS or writing anything
    h.invoke("track_launch", foreign)
    assert sum(h.drs_calls.values()) == 0
    assert h.stored("exe-0001") == before


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e["detail"].pop("job-id"), "detail.job-id"),
        (lambda e: e["detail"].update(state="RECOVERY_LAUNCH_STARTED"), "detail.state"),
        (lambda e: e.update(resources=[]), "resources[0]"),
    ],
)
def test_malformed_launch_result_is_an_invalid_event_and_changes_nothing(
    harness, one_wave, sid, job_seconds, mutate, field
):
    # GIVEN a finished job and its launch result with a required part broken
    h = harness(one_wave([sid(1)]))
    started(h)
    h.advance(job_seconds)
    (event,) = h.launch_results()
    mutate(event)
    before = h.stored("exe-0001")
    # WHEN it is delivered THEN InvalidEvent names the field and the execution is unchanged
    with pytest.raises(InvalidEvent) as error:
        h.invoke("track_launch", event)
    assert field in str(error.value)
    assert h.stored("exe-0001") == before


def test_released_capacity_nudges_the_wave_that_was_waiting_for_it(harness, one_wave, sid, job_seconds):
    # GIVEN room for one DRS job and a wave of two chunks, the second waiting
    h = harness(one_wave([sid(n) for n in range(1, 151)]), servers=150)
    h.rt.deps.limits = DrsLimits(active_jobs=1)
    started(h)
    h.bus.clear()
    # WHEN the first job's results arrive
    h.advance(job_seconds)
    h.deliver_new(LAUNCH_RESULT, "track_launch")
    # THEN its capacity is released and the waiting wave is asked to start again
    assert ledger(h).reservations == {}
    assert h.bus.of("Wave Start Requested") == [{"schemaVersion": "1", "executionId": "exe-0001", "waveId": "app"}]
    # AND that request launches the second chunk
    h.deliver_new("Wave Start Requested", "start_wave")
    assert [c.status for c in h.execution("exe-0001").waves["app"].chunks] == [
        ChunkStatus.ENDED,
        ChunkStatus.STARTED,
    ]
    assert h.drs_calls["StartRecovery"] == 2


# --- derived "DRS Job State Change" -------------------------------------------------------------------------


def job_change(job_id: str, servers: dict[str, tuple[str, str | None]], status: str = "COMPLETED") -> DrsJobStateChange:
    return DrsJobStateChange(
        execution_id="exe-0001",
        wave_id="app",
        job_id=job_id,
        status=status,
        servers=[
            ServerLaunch(source_server_id=s, launch_status=st, recovery_instance_id=iid)
            for s, (st, iid) in servers.items()
        ],
    )


def test_job_state_change_records_statuses_and_instances_and_ends_the_wave(harness, one_wave, sid):
    # GIVEN a launched wave of two servers
    h = harness(one_wave([sid(1), sid(2)]))
    job_id = started(h)
    # WHEN a completed-job change arrives with both servers launched
    change = job_change(job_id, {sid(1): ("LAUNCHED", "i-00000000000000001"), sid(2): ("LAUNCHED", "i-2")})
    h.send("track_launch", change)
    # THEN the servers, the chunk and the wave reflect it
    wave = h.execution("exe-0001").waves["app"]
    assert wave.servers[sid(1)].recovery_instance_id == "i-00000000000000001"
    assert wave.chunks[0].job_status == "COMPLETED"
    assert wave.status is WaveStatus.COMPLETED


def test_completed_job_missing_a_server_counts_it_as_failed(harness, one_wave, sid):
    # GIVEN a launched wave of two servers
    h = harness(one_wave([sid(1), sid(2)]))
    job_id = started(h)
    # WHEN DRS reports the job COMPLETED with only one server launched and the other still in progress
    h.send("track_launch", job_change(job_id, {sid(1): ("LAUNCHED", "i-1"), sid(2): ("IN_PROGRESS", None)}))
    # THEN the silent server is FAILED and the wave fails
    wave = h.execution("exe-0001").waves["app"]
    assert wave.servers[sid(2)].launch_status is LaunchStatus.FAILED
    assert wave.status is WaveStatus.FAILED


def test_duplicate_job_state_change_is_a_no_op(harness, one_wave, sid):
    # GIVEN a job state change already applied
    h = harness(one_wave([sid(1)]))
    job_id = started(h)
    change = job_change(job_id, {sid(1): ("LAUNCHED", "i-1")})
    h.send("track_launch", change)
    before = h.stored("exe-0001")
    published = len(h.bus.events)
    # WHEN it is delivered again THEN nothing is written or published
    h.send("track_launch", change)
    assert h.stored("exe-0001") == before
    assert len(h.bus.events) == published


def test_job_state_change_for_an_unknown_execution_or_job_is_ignored(harness, one_wave, sid):
    # GIVEN a launched wave
    h = harness(one_wave([sid(1)]))
    job_id = started(h)
    before = h.stored("exe-0001")
    # WHEN changes arrive for an execution that does not exist, and for a job this execution does not own
    ghost = job_change(job_id, {sid(1): ("LAUNCHED", "i-1")}).model_copy(update={"execution_id": "exe-ghost"})
    h.send("track_launch", ghost)
    h.send("track_launch", job_change("drsjob-0000000000000000x", {sid(1): ("LAUNCHED", "i-1")}))
    # THEN nothing is written
    assert h.rt.deps.store.load_execution("exe-ghost") is None
    assert h.stored("exe-0001") == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "DONE"}, "status"),
        ({"servers": [{"sourceServerId": "s-00000000000000001", "launchStatus": "EXPLODED"}]}, "launchStatus"),
        ({"jobId": None}, "jobId"),
    ],
)
def test_invalid_job_state_change_raises_naming_the_field_and_changes_nothing(harness, one_wave, sid, change, field):
    # GIVEN a launched wave
    h = harness(one_wave([sid(1)]))
    job_id = started(h)
    before = h.stored("exe-0001")
    detail = job_change(job_id, {sid(1): ("LAUNCHED", "i-1")}).model_dump(mode="json", by_alias=True)
    detail.update(change)
    # WHEN a change breaking the contract arrives THEN ValidationError names the field, nothing is written
    with pytest.raises(ValidationError) as error:
        h.send("track_launch", detail, "DRS Job State Change")
    assert field in str(error.value)
    assert h.stored("exe-0001") == before
