"""DRS refusing a StartRecovery: for now (Conflict, quota, throttling) or for good (Validation).

A refused chunk must go back to WAITING (retried by the tick or when capacity is released) or, for a
permanent refusal, be ABANDONED with its servers FAILED; either way the capacity it reserved is
released and the execution still reaches a terminal state.
"""

from __future__ import annotations

from datetime import timedelta

from drwave.models.execution import ChunkStatus, ExecutionStatus, LaunchStatus, WaveStatus

REFUSAL_NEWS_DROPPED = (
    "BUG: handlers/start_wave.py _launch_chunk applies m.ChunkDeferred / m.ChunkRejected after a refused "
    "StartRecovery without launch_token=token (nor chunk.launch_token on the lapsed-lease path), while "
    "core/decide.py _on_chunk_deferred/_on_chunk_rejected now ignore news about a STARTING chunk whose token "
    "differs (_stale_attempt, commit b4739ae); the refusal is dropped and the chunk stays STARTING"
)


def ledger_reservations(rt, execution) -> dict:
    """The DRS capacity still reserved in the execution's account+region."""
    return rt.deps.store.load_ledger(execution.account_id, execution.region).reservations


def test_a_transient_drs_refusal_puts_the_chunk_back_to_waiting_and_the_next_tick_retries_it(scenario, kit):
    # GIVEN a one-wave plan and DRS answering the first StartRecovery with ConflictException
    scenario.plan("refused", {"id": "db", "servers": 2})
    with scenario.run() as rt:
        rt.drs.inject_error("StartRecovery", "ConflictException", 1)
        exe_id = rt.request_execution("refused")
        after_refusal = []
        # WHEN it runs (looking at the chunk 10 s in, after the refusal)
        rt.clock.call_later(10, lambda: after_refusal.append(rt.execution(exe_id)))
        assert kit.settle(rt) == []
        exe = rt.execution(exe_id)

        # THEN right after the refusal the chunk was WAITING again, with the reason recorded and logged
        (snapshot,) = after_refusal
        chunk = snapshot.waves["db"].chunks[0]
        assert chunk.status is ChunkStatus.WAITING, chunk
        assert "ConflictException" in (chunk.last_error or "")
        assert any("ConflictException" in e.detail for e in kit.timeline(snapshot, "CHUNK_WAITING"))
        # AND the retry came with the next tick (60 s), not only once a 2-minute launch lease lapsed
        (job,) = kit.launch_jobs(rt, exe_id)
        assert (job.created - exe.started_at) <= timedelta(seconds=90)
        assert exe.status is ExecutionStatus.COMPLETED
        assert kit.invariant_violations(rt, exe_id) == []


def test_a_permanent_drs_rejection_fails_the_chunks_servers_and_the_wave_right_away(scenario, kit):
    # GIVEN db -> app, where db's protection group lists a server DRS does not know (decommissioned):
    #       DRS answers StartRecovery with ValidationException, however often it is asked
    scenario.plan(
        "rejected",
        {"id": "db", "servers": [{}, {"inDrs": False}], "timeoutMinutes": 20},
        {"id": "app", "servers": 1, "dependsOn": ["db"]},
    )
    with scenario.run() as rt:
        # WHEN it runs
        exe_id = rt.request_execution("rejected")
        stalled = kit.settle(rt, max_virtual=timedelta(hours=1))
        exe = rt.execution(exe_id)

        # THEN the execution ended (instead of staying RUNNING with a chunk STARTING forever)
        assert stalled == []
        # AND DRS was asked once, the chunk abandoned and its servers FAILED with DRS's reason
        assert rt.drs.calls["StartRecovery"] == 1
        db = exe.waves["db"]
        assert db.chunks[0].status is ChunkStatus.ABANDONED
        assert all(s.launch_status is LaunchStatus.FAILED for s in db.servers.values())
        assert all("DRS rejected the job" in (s.error or "") for s in db.servers.values())
        assert kit.timeline(exe, "CHUNK_REJECTED", "db")
        # AND the wave FAILED for that reason (not by timing out), app SKIPPED, the execution FAILED
        assert kit.statuses(exe) == {"db": WaveStatus.FAILED, "app": WaveStatus.SKIPPED}
        assert "critical server(s) failed to launch" in (db.reason or "")
        assert exe.status is ExecutionStatus.FAILED
        # AND the capacity it reserved was given back
        assert ledger_reservations(rt, exe) == {}
        assert kit.invariant_violations(rt, exe_id) == []


def test_cancel_right_after_a_drs_refusal_ends_cancelled_and_frees_the_capacity(scenario, kit):
    # GIVEN db -> app, and DRS answering the first StartRecovery with ConflictException
    scenario.plan("refused", {"id": "db", "servers": 2}, {"id": "app", "servers": 1, "dependsOn": ["db"]})
    with scenario.run() as rt:
        rt.drs.inject_error("StartRecovery", "ConflictException", 1)
        exe_id = rt.request_execution("refused")
        # WHEN the operator cancels 30 s in, before any retry
        rt.clock.call_later(30, lambda: rt.cancel(exe_id))
        stalled = kit.settle(rt, max_virtual=timedelta(hours=1))
        exe = rt.execution(exe_id)

        # THEN the execution ended CANCELLED (instead of staying CANCELLING forever) without any DRS job
        assert stalled == []
        assert exe.status is ExecutionStatus.CANCELLED
        assert kit.statuses(exe) == {"db": WaveStatus.CANCELLED, "app": WaveStatus.CANCELLED}
        assert kit.launch_jobs(rt, exe_id) == []
        # AND no capacity stays reserved for a chunk that will never launch
        assert ledger_reservations(rt, exe) == {}
        assert kit.invariant_violations(rt, exe_id) == []
