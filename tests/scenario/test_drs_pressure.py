"""DRS under pressure: quotas shared by concurrent executions, and API throttling.

drwave admits chunks against a capacity ledger shared by every execution of an account+region, so
DRS itself should never have to refuse a job; the simulator enforces the real quotas (20 active jobs,
500 servers in active jobs, one active job per server) and would answer ServiceQuotaExceeded or
Conflict if drwave got it wrong.
"""

from __future__ import annotations

from typing import Any

from drwave.core.capacity import DrsLimits
from drwave.models.execution import ExecutionStatus, ExecutionType, LaunchStatus, WaveStatus


def parallel_waves(prefix: str, count: int, servers: int = 1) -> list[dict[str, Any]]:
    """`count` independent waves (no dependencies), so they all want DRS capacity at once."""
    return [{"id": f"{prefix}{i:02d}", "servers": servers} for i in range(count)]


def assert_drs_never_refused(rt: Any, kit: Any, *execution_ids: str) -> None:
    """Every StartRecovery call created a job, and no chunk was rejected or deferred by DRS itself."""
    assert rt.drs.calls["StartRecovery"] == len(kit.launch_jobs(rt))
    for exe_id in execution_ids:
        exe = rt.execution(exe_id)
        assert kit.timeline(exe, "CHUNK_REJECTED") == []
        refused = [e for e in kit.timeline(exe, "CHUNK_WAITING") if "Exception" in e.detail]
        assert refused == [], refused


def test_two_executions_exceeding_the_job_quota_take_turns_without_drs_refusing(scenario, kit):
    # GIVEN two plans of three parallel waves each, and a DRS account allowing only 2 active jobs
    scenario.plan("orders", *parallel_waves("orders-", 3, servers=2))
    scenario.plan("payments", *parallel_waves("payments-", 3, servers=2))
    with scenario.run(limits=DrsLimits(active_jobs=2)) as rt:
        # WHEN both are started together
        first = rt.request_execution("orders")
        second = rt.request_execution("payments")
        rt.run()

        # THEN both complete with every wave COMPLETED
        for exe_id, prefix in ((first, "orders-"), (second, "payments-")):
            exe = rt.execution(exe_id)
            assert exe.status is ExecutionStatus.COMPLETED
            assert kit.statuses(exe) == {f"{prefix}{i:02d}": WaveStatus.COMPLETED for i in range(3)}
        # AND DRS never ran more than 2 jobs at once (it did run 2: the quota was used, not serialised)
        jobs = kit.launch_jobs(rt)
        assert len(jobs) == 6
        assert kit.peak(jobs) == 2
        # AND chunks waited for drwave's own admission, never for a DRS error
        waits = [e.detail for x in (first, second) for e in kit.timeline(rt.execution(x), "CHUNK_WAITING")]
        assert waits and all("concurrent DRS jobs in use" in w for w in waits), waits
        assert_drs_never_refused(rt, kit, first, second)
        assert kit.invariant_violations(rt, first, second) == []


def test_two_executions_over_the_real_20_job_quota_never_hit_a_drs_quota_error(scenario, kit):
    # GIVEN two plans of 11 parallel waves each (22 jobs) and the real DRS quotas
    scenario.plan("east", *parallel_waves("east-", 11))
    scenario.plan("west", *parallel_waves("west-", 11))
    with scenario.run() as rt:
        # WHEN both run at the same time
        first = rt.request_execution("east")
        second = rt.request_execution("west")
        rt.run()

        # THEN both complete
        assert rt.execution(first).status is ExecutionStatus.COMPLETED
        assert rt.execution(second).status is ExecutionStatus.COMPLETED
        assert set(kit.statuses(rt.execution(second)).values()) == {WaveStatus.COMPLETED}
        # AND at most 20 jobs were active at any instant, and DRS never refused one
        jobs = kit.launch_jobs(rt)
        assert len(jobs) == 22
        assert kit.peak(jobs) == 20
        assert_drs_never_refused(rt, kit, first, second)
        assert kit.invariant_violations(rt, first, second) == []


def test_server_quota_is_shared_across_executions(scenario, kit):
    # GIVEN two plans of two parallel 3-server waves, and at most 5 servers in active jobs
    scenario.plan("orders", *parallel_waves("orders-", 2, servers=3))
    scenario.plan("payments", *parallel_waves("payments-", 2, servers=3))
    with scenario.run(limits=DrsLimits(servers_in_active_jobs=5)) as rt:
        # WHEN both run together
        first = rt.request_execution("orders")
        second = rt.request_execution("payments")
        rt.run()

        # THEN both complete, one 3-server job at a time
        assert rt.execution(first).status is ExecutionStatus.COMPLETED
        assert rt.execution(second).status is ExecutionStatus.COMPLETED
        jobs = kit.launch_jobs(rt)
        assert len(jobs) == 4
        assert kit.peak(jobs, weight="servers") == 3
        assert_drs_never_refused(rt, kit, first, second)
        assert kit.invariant_violations(rt, first, second) == []


def test_quota_configured_above_the_real_one_is_survived_by_deferring_refused_chunks(scenario, kit):
    # GIVEN drwave misconfigured to believe DRS allows 40 active jobs, and 22 parallel single-server waves
    scenario.plan("east", *parallel_waves("east-", 11))
    scenario.plan("west", *parallel_waves("west-", 11))
    with scenario.run(limits=DrsLimits(active_jobs=40)) as rt:
        # WHEN both run together
        first = rt.request_execution("east")
        second = rt.request_execution("west")
        rt.run()

        # THEN DRS did refuse the jobs over its quota (how a refusal is recorded: test_drs_refusals.py) ...
        assert rt.drs.calls["StartRecovery"] > len(kit.launch_jobs(rt))
        # ... but the refused chunks were retried rather than failed: everything completed
        for exe_id in (first, second):
            exe = rt.execution(exe_id)
            assert kit.timeline(exe, "CHUNK_REJECTED") == []
            assert set(kit.statuses(exe).values()) == {WaveStatus.COMPLETED}
            assert exe.status is ExecutionStatus.COMPLETED
        assert kit.peak(kit.launch_jobs(rt)) <= 20
        assert kit.invariant_violations(rt, first, second) == []


def test_a_drill_and_a_recovery_of_the_same_plan_never_put_a_server_in_two_jobs(scenario, kit):
    # GIVEN one plan db -> app
    scenario.plan("shared", {"id": "db", "servers": 2}, {"id": "app", "servers": 1, "dependsOn": ["db"]})
    with scenario.run() as rt:
        # WHEN a DRILL and a RECOVERY of it are started at the same moment
        drill = rt.request_execution("shared")
        recovery = rt.request_execution("shared", execution_type=ExecutionType.RECOVERY)
        rt.run()

        # THEN the second to ask waited for the servers instead of getting a ConflictException
        waits = [e.detail for x in (drill, recovery) for e in kit.timeline(rt.execution(x), "CHUNK_WAITING")]
        assert waits and all("already in an active job" in w for w in waits), waits
        assert_drs_never_refused(rt, kit, drill, recovery)
        # AND both completed, the drill with drill jobs and the recovery with recovery jobs
        for exe_id, is_drill in ((drill, True), (recovery, False)):
            exe = rt.execution(exe_id)
            assert exe.status is ExecutionStatus.COMPLETED
            assert kit.statuses(exe) == {"db": WaveStatus.COMPLETED, "app": WaveStatus.COMPLETED}
            assert {rt.drs.jobs[j.job_id].is_drill for j in kit.launch_jobs(rt, exe_id)} == {is_drill}
        # AND the invariants (no server in two active jobs among them) hold
        assert kit.invariant_violations(rt, drill, recovery) == []


def test_cancelling_an_execution_waiting_for_capacity_lets_the_other_one_finish(scenario, kit):
    # GIVEN one job of capacity, a plan holding it and a second plan whose wave waits for it
    scenario.plan("first", {"id": "db", "servers": 2}, {"id": "app", "servers": 2, "dependsOn": ["db"]})
    scenario.plan("second", {"id": "batch", "servers": 2})
    with scenario.run(limits=DrsLimits(active_jobs=1)) as rt:
        first = rt.request_execution("first")
        rt.clock.call_later(1, lambda: second.append(rt.request_execution("second")))
        second: list[str] = []
        # WHEN the waiting execution is cancelled before it ever got capacity
        rt.clock.call_later(120, lambda: rt.cancel(second[0]))
        rt.run()

        # THEN it ends CANCELLED without ever having started a DRS job
        cancelled = rt.execution(second[0])
        assert cancelled.status is ExecutionStatus.CANCELLED
        assert kit.statuses(cancelled) == {"batch": WaveStatus.CANCELLED}
        assert kit.launch_jobs(rt, second[0]) == []
        assert all(not s.launch_status.final for s in cancelled.waves["batch"].servers.values())
        # AND the other execution completes, its second wave admitted as usual
        done = rt.execution(first)
        assert done.status is ExecutionStatus.COMPLETED
        assert kit.statuses(done) == {"db": WaveStatus.COMPLETED, "app": WaveStatus.COMPLETED}
        assert kit.invariant_violations(rt, first, second[0]) == []


# --- throttling -----------------------------------------------------------------------------------------


def test_throttled_drs_calls_are_retried_with_backoff_and_the_execution_completes(scenario, kit):
    # GIVEN a two-wave plan (the second wave tag-selected) and DRS throttling its next
    #       3 StartRecovery and 5 DescribeJobs calls
    scenario.plan(
        "throttled",
        {"id": "db", "servers": 2},
        {"id": "app", "servers": 3, "dependsOn": ["db"], "selectTags": {"Tier": "app"}},
    )
    with scenario.run() as rt:
        rt.drs.inject_throttling("StartRecovery", 3)
        rt.drs.inject_throttling("DescribeJobs", 5)
        # WHEN it runs
        exe_id = rt.request_execution("throttled")
        rt.run()
        exe = rt.execution(exe_id)

        # THEN the gateway backed off once per throttled call
        assert len(rt.backoff_seconds) == 8
        # AND the execution completed, each chunk with exactly one job
        assert kit.statuses(exe) == {"db": WaveStatus.COMPLETED, "app": WaveStatus.COMPLETED}
        assert exe.status is ExecutionStatus.COMPLETED
        assert len(kit.launch_jobs(rt, exe_id)) == 2
        assert all(s.launch_status is LaunchStatus.LAUNCHED for w in exe.waves.values() for s in w.servers.values())
        assert kit.invariant_violations(rt, exe_id) == []


def test_throttling_beyond_the_gateways_retries_defers_the_work_to_a_later_attempt(scenario, kit):
    # GIVEN DRS throttling more calls than the gateway retries (6 attempts per call):
    #       StartRecovery, DescribeJobs and the tag resolution's DescribeSourceServers
    scenario.plan(
        "throttled",
        {"id": "db", "servers": 2, "selectTags": {"Tier": "db"}},
        {"id": "app", "servers": 3, "dependsOn": ["db"]},
    )
    with scenario.run(lose_launch_results=0.5) as rt:
        rt.drs.inject_throttling("DescribeSourceServers", 8)
        rt.drs.inject_throttling("StartRecovery", 8)
        rt.drs.inject_throttling("DescribeJobs", 14)
        # WHEN it runs
        exe_id = rt.request_execution("throttled")
        rt.run()
        exe = rt.execution(exe_id)

        # THEN the first launch attempt gave up (6 throttled calls) and a later attempt started the chunk
        assert rt.drs.calls["StartRecovery"] > 8
        # AND still exactly one job per chunk, and the execution completed
        assert len(kit.launch_jobs(rt, exe_id)) == 2
        assert kit.statuses(exe) == {"db": WaveStatus.COMPLETED, "app": WaveStatus.COMPLETED}
        assert exe.status is ExecutionStatus.COMPLETED
        assert kit.invariant_violations(rt, exe_id) == []
