"""start_wave handler in the local runtime: resolve servers, reserve capacity, at most one DRS job per chunk."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drwave.core.capacity import DrsLimits
from drwave.core.decide import LAUNCH_LEASE
from drwave.handlers.start_wave import TOKEN_TAG
from drwave.models.execution import ChunkStatus, ExecutionStatus, LaunchStatus, WaveStatus


def ledger(h: Any) -> Any:
    return h.rt.deps.store.load_ledger("111122223333", "us-east-1")


# --- happy path ---------------------------------------------------------------------------------------------


def test_wave_start_launches_one_tagged_drill_job_and_records_it(harness, one_wave, sid):
    # GIVEN a running execution whose only wave is launching
    h = harness(one_wave([sid(1), sid(2), sid(3)]))
    h.request("exe-0001")
    h.bus.clear()
    # WHEN start_wave handles "Wave Start Requested"
    h.start_wave("exe-0001", "app")
    # THEN one DRS drill job holds the three servers and carries drwave's tags
    assert h.drs_calls["StartRecovery"] == 1
    (job,) = h.rt.drs.jobs.values()
    assert job.is_drill
    assert [r.source_server_id for r in job.runs] == [sid(1), sid(2), sid(3)]
    assert job.tags["drwave:execution-id"] == "exe-0001"
    assert job.tags["drwave:wave-id"] == "app"
    assert job.tags["drwave:chunk"] == "0"
    # AND the chunk is STARTED with that job, whose token is the one on the job
    wave = h.execution("exe-0001").waves["app"]
    (chunk,) = wave.chunks
    assert (chunk.status, chunk.job_id) == (ChunkStatus.STARTED, job.job_id)
    assert chunk.launch_token == job.tags[TOKEN_TAG]
    assert {s.launch_status for s in wave.servers.values()} == {LaunchStatus.IN_PROGRESS}
    # AND the job is indexed for aws.drs events, capacity is held, and "DRS Job Started" is published
    assert h.rt.deps.store.get_owner("JOB", job.job_id) == {"executionId": "exe-0001", "waveId": "app"}
    assert list(ledger(h).reservations) == ["exe-0001#app#0"]
    assert h.bus.of("DRS Job Started") == [
        {
            "schemaVersion": "1",
            "executionId": "exe-0001",
            "waveId": "app",
            "jobId": job.job_id,
            "chunkIndex": 0,
            "serverCount": 3,
        }
    ]


def test_recovery_execution_launches_a_real_recovery_not_a_drill(harness, one_wave, sid):
    # GIVEN a RECOVERY execution WHEN its wave starts THEN the DRS job is not a drill
    h = harness(one_wave([sid(1)]))
    h.request("exe-0001", kind="RECOVERY")
    h.start_wave("exe-0001", "app")
    (job,) = h.rt.drs.jobs.values()
    assert not job.is_drill
    assert job.initiated_by == "START_RECOVERY"


def test_a_wave_of_250_servers_is_launched_as_three_jobs_of_at_most_100(harness, one_wave, sid):
    # GIVEN a wave of 250 servers
    h = harness(one_wave([sid(n) for n in range(1, 251)]), servers=250)
    h.request("exe-0001")
    # WHEN it starts
    h.start_wave("exe-0001", "app")
    # THEN three jobs of 100, 100 and 50 servers hold every server once
    sizes = [len(job.runs) for job in h.rt.drs.jobs.values()]
    assert sizes == [100, 100, 50]
    chunks = h.execution("exe-0001").waves["app"].chunks
    assert [c.status for c in chunks] == [ChunkStatus.STARTED] * 3
    assert len(ledger(h).reservations) == 3


def test_tag_selected_group_resolves_against_the_drs_inventory(harness, sid):
    # GIVEN a group selecting Tier=database (case-insensitively) among four servers
    plan = {
        "protectionGroups": [
            {"id": "pg-db", "name": "DB", "serverSelectionTags": [{"key": "tier", "value": "Database"}]}
        ],
        "recoveryPlan": {"id": "plan-it", "name": "P", "waves": [{"id": "app", "protectionGroupIds": ["pg-db"]}]},
    }
    tags = {sid(1): {"Tier": "database"}, sid(2): {"Tier": "web"}, sid(3): {" TIER ": "DATABASE"}}
    h = harness(plan, servers=4, tags=tags)
    h.request("exe-0001")
    # WHEN the wave starts
    h.start_wave("exe-0001", "app")
    # THEN DRS was asked for its inventory once, and only the matching servers were launched
    assert h.drs_calls["DescribeSourceServers"] == 1
    assert list(h.execution("exe-0001").waves["app"].servers) == [sid(1), sid(3)]
    (job,) = h.rt.drs.jobs.values()
    assert [r.source_server_id for r in job.runs] == [sid(1), sid(3)]


def test_tag_selector_matching_nothing_fails_the_wave_without_any_job(harness, sid):
    # GIVEN a group whose selector matches no server
    plan = {
        "protectionGroups": [{"id": "pg-x", "name": "X", "serverSelectionTags": [{"key": "Tier", "value": "none"}]}],
        "recoveryPlan": {"id": "plan-it", "name": "P", "waves": [{"id": "app", "protectionGroupIds": ["pg-x"]}]},
    }
    h = harness(plan)
    h.request("exe-0001")
    # WHEN the wave starts THEN it fails naming the group, no job is started, and "Wave Failed" is published
    h.start_wave("exe-0001", "app")
    wave = h.execution("exe-0001").waves["app"]
    assert wave.status is WaveStatus.FAILED
    assert wave.reason == "protection group pg-x matched no source servers"
    assert h.drs_calls["StartRecovery"] == 0
    (failed,) = h.bus.raw("Wave Failed")
    # AND once the planner sees that event the execution is FAILED
    h.invoke("advance_plan", failed)
    assert h.execution("exe-0001").status is ExecutionStatus.FAILED


# --- idempotency --------------------------------------------------------------------------------------------


def test_duplicate_wave_start_is_a_no_op(harness, one_wave, sid):
    # GIVEN a wave whose job already started
    h = harness(one_wave([sid(1), sid(2)]))
    h.request("exe-0001")
    h.start_wave("exe-0001", "app")
    before = h.stored("exe-0001")
    published = len(h.bus.events)
    # WHEN "Wave Start Requested" is delivered again
    h.start_wave("exe-0001", "app")
    # THEN no second job is started, nothing is written and nothing published
    assert h.drs_calls["StartRecovery"] == 1
    assert h.stored("exe-0001") == before
    assert len(h.bus.events) == published


def test_wave_start_for_an_unknown_execution_is_ignored(harness, one_wave, sid):
    # GIVEN no execution "exe-ghost" WHEN its wave start arrives THEN DRS is not called and nothing is stored
    h = harness(one_wave([sid(1)]))
    h.start_wave("exe-ghost", "app")
    assert sum(h.drs_calls.values()) == 0
    assert h.rt.deps.store.load_execution("exe-ghost") is None
    assert h.bus.events == []


def test_wave_start_for_an_unknown_wave_is_ignored(harness, one_wave, sid):
    # GIVEN a running execution WHEN a start arrives for a wave it does not have THEN nothing happens
    h = harness(one_wave([sid(1)]))
    h.request("exe-0001")
    before = h.stored("exe-0001")
    h.start_wave("exe-0001", "no-such-wave")
    assert sum(h.drs_calls.values()) == 0
    assert h.stored("exe-0001") == before


@pytest.mark.parametrize(
    ("detail", "field"),
    [
        ({"executionId": "exe-0001"}, "waveId"),
        ({"waveId": "app"}, "executionId"),
        ({"executionId": "exe-0001", "waveId": "app", "schemaVersion": "2"}, "schemaVersion"),
    ],
)
def test_invalid_wave_start_raises_naming_the_field_and_leaves_the_execution_unchanged(
    harness, one_wave, sid, detail, field
):
    # GIVEN a running execution
    h = harness(one_wave([sid(1)]))
    h.request("exe-0001")
    before = h.stored("exe-0001")
    # WHEN a "Wave Start Requested" breaking the contract arrives
    with pytest.raises(ValidationError) as error:
        h.send("start_wave", detail, "Wave Start Requested")
    # THEN the error names the field; no server was resolved and no job started
    assert field in str(error.value)
    assert h.stored("exe-0001") == before
    assert sum(h.drs_calls.values()) == 0


# --- a launch attempt that died -----------------------------------------------------------------------------


def test_lapsed_lease_with_a_job_carrying_its_token_is_adopted_not_relaunched(harness, one_wave, sid):
    # GIVEN a start_wave that died after DRS accepted StartRecovery but before recording the job
    h = harness(one_wave([sid(1), sid(2)]))
    h.request("exe-0001")
    h.launch_dies("exe-0001", "app", after_start_recovery=True)
    (job,) = h.rt.drs.jobs.values()
    chunk = h.execution("exe-0001").waves["app"].chunks[0]
    assert chunk.status is ChunkStatus.STARTING
    assert chunk.launch_token == job.tags[TOKEN_TAG]
    # WHEN the launch lease has lapsed and the wave start is retried
    h.advance_by(LAUNCH_LEASE)
    h.start_wave("exe-0001", "app")
    # THEN the existing job is adopted: no second StartRecovery, the chunk tracks that job
    assert h.drs_calls["StartRecovery"] == 1
    assert len(h.rt.drs.jobs) == 1
    chunk = h.execution("exe-0001").waves["app"].chunks[0]
    assert (chunk.status, chunk.job_id) == (ChunkStatus.STARTED, job.job_id)
    # AND it is indexed for DRS events, still holds exactly one reservation, and is announced
    assert h.rt.deps.store.get_owner("JOB", job.job_id) == {"executionId": "exe-0001", "waveId": "app"}
    assert list(ledger(h).reservations) == ["exe-0001#app#0"]
    assert [d["jobId"] for d in h.bus.of("DRS Job Started")] == [job.job_id]


def test_lapsed_lease_without_a_job_launches_once_with_a_fresh_token(harness, one_wave, sid):
    # GIVEN a start_wave that died after reserving capacity but before StartRecovery reached DRS
    h = harness(one_wave([sid(1), sid(2)]))
    h.request("exe-0001")
    h.launch_dies("exe-0001", "app", after_start_recovery=False)
    lost_token = h.execution("exe-0001").waves["app"].chunks[0].launch_token
    assert h.rt.drs.jobs == {}
    # WHEN the lease lapses and the wave start is retried
    h.advance_by(LAUNCH_LEASE)
    h.start_wave("exe-0001", "app")
    # THEN exactly one job is started, under a new token, and recorded
    assert h.drs_calls["StartRecovery"] == 1
    (job,) = h.rt.drs.jobs.values()
    assert job.tags[TOKEN_TAG] != lost_token
    chunk = h.execution("exe-0001").waves["app"].chunks[0]
    assert (chunk.status, chunk.job_id, chunk.attempts) == (ChunkStatus.STARTED, job.job_id, 2)
    assert list(ledger(h).reservations) == ["exe-0001#app#0"]


def test_a_live_lease_is_left_alone_by_a_concurrent_wave_start(harness, one_wave, sid):
    # GIVEN a launch attempt still inside its lease (its StartRecovery may be in flight)
    h = harness(one_wave([sid(1)]))
    h.request("exe-0001")
    h.launch_dies("exe-0001", "app", after_start_recovery=True)
    before = h.stored("exe-0001")
    h.rt.drs.calls.clear()
    # WHEN another wave start arrives just before the lease lapses
    h.advance_by(LAUNCH_LEASE / 2)
    h.start_wave("exe-0001", "app")
    # THEN it neither looks for the job nor starts one, and writes nothing
    assert sum(h.drs_calls.values()) == 0
    assert h.stored("exe-0001") == before


# --- DRS refusals and capacity ------------------------------------------------------------------------------


def test_conflict_from_drs_defers_the_chunk_and_releases_its_capacity(harness, one_wave, sid):
    # GIVEN one of the wave's servers is already in a DRS job drwave did not start
    h = harness(one_wave([sid(1), sid(2)]))
    h.request("exe-0001")
    gateway = h.rt.deps.drs_for("111122223333", "us-east-1")
    gateway.start_recovery([sid(2)], is_drill=True, tags={})
    # WHEN the wave starts
    h.start_wave("exe-0001", "app")
    # THEN StartRecovery was refused, the chunk waits with the reason, and no capacity stays held
    chunk = h.execution("exe-0001").waves["app"].chunks[0]
    assert chunk.status is ChunkStatus.WAITING
    assert chunk.last_error is not None
    assert "ConflictException" in chunk.last_error
    assert chunk.launch_token is None
    assert ledger(h).reservations == {}
    assert h.execution("exe-0001").waves["app"].status is WaveStatus.LAUNCHING


def test_servers_drs_does_not_know_are_rejected_and_fail_the_wave(harness, one_wave, sid):
    # GIVEN a plan naming a server that does not replicate into DRS
    h = harness(one_wave([sid(1), sid(9)]), servers=1)
    h.request("exe-0001")
    # WHEN the wave starts
    h.start_wave("exe-0001", "app")
    # THEN the chunk is abandoned, its servers FAILED with DRS's reason, capacity released, execution FAILED
    execution = h.execution("exe-0001")
    wave = execution.waves["app"]
    assert wave.chunks[0].status is ChunkStatus.ABANDONED
    assert {s.launch_status for s in wave.servers.values()} == {LaunchStatus.FAILED}
    assert "ValidationException" in (wave.servers[sid(9)].error or "")
    assert wave.status is WaveStatus.FAILED
    assert execution.status is ExecutionStatus.FAILED
    assert ledger(h).reservations == {}


def test_chunk_beyond_the_concurrent_job_quota_waits_and_the_wave_is_listed_as_waiting(harness, one_wave, sid):
    # GIVEN a wave of two chunks and room for one concurrent DRS job
    h = harness(one_wave([sid(n) for n in range(1, 151)]), servers=150)
    h.rt.deps.limits = DrsLimits(active_jobs=1)
    h.request("exe-0001")
    # WHEN the wave starts
    h.start_wave("exe-0001", "app")
    # THEN only the first chunk is launched; the second waits with the quota as reason
    assert h.drs_calls["StartRecovery"] == 1
    first, second = h.execution("exe-0001").waves["app"].chunks
    assert first.status is ChunkStatus.STARTED
    assert second.status is ChunkStatus.WAITING
    assert second.last_error == "1 of 1 concurrent DRS jobs in use"
    # AND the wave is remembered as waiting for capacity
    assert list(ledger(h).waiters) == ["exe-0001#app"]


def test_chunks_follow_the_configured_servers_per_job_limit(harness, one_wave, sid):
    # GIVEN a per-job limit of 2 servers and a wave of 3
    h = harness(one_wave([sid(1), sid(2), sid(3)]))
    h.rt.deps.limits = DrsLimits(servers_per_job=2)
    h.request("exe-0001")
    # WHEN the wave starts THEN it is split into jobs of at most 2 servers, all started
    h.start_wave("exe-0001", "app")
    assert [len(j.runs) for j in h.rt.drs.jobs.values()] == [2, 1]
