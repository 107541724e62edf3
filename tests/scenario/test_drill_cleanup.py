"""Automatic drill cleanup in whole executions: the TTL terminates a drill's instances, never a recovery's."""

from __future__ import annotations

from datetime import timedelta

from drwave.control.roles import Caller, Role
from drwave.control.service import ControlPlane
from drwave.core.evidence import build_evidence
from drwave.core.evidence_render import to_html
from drwave.handlers import cleanup_drill
from drwave.models.cleanup import BatchStatus, CleanupStatus
from drwave.models.execution import ExecutionType


def _live(rt, instance_ids):
    """Those of these recovery instances DRS still reports RUNNING, once any TERMINATE job has had time to run."""
    rt.clock.advance_to(rt.clock.now() + timedelta(minutes=5))
    described = rt.deps.drs_for(rt.env.account_id, rt.env.region).describe_recovery_instances(instance_ids)
    return {d["recoveryInstanceID"] for d in described if d.get("ec2InstanceState") == "RUNNING"}


def _instances(execution):
    return [
        s.recovery_instance_id for w in execution.waves.values() for s in w.servers.values() if s.recovery_instance_id
    ]


def test_a_drill_is_warned_about_then_terminated_by_its_ttl_and_the_report_records_it(scenario, kit):
    # GIVEN a plan whose drills live 60 minutes, warned 15 minutes before
    plan = scenario.plan("ttl", {"id": "w", "servers": 3})
    plan.recovery_plan.drill_ttl_minutes = 60
    plan.recovery_plan.drill_cleanup_notice_minutes = 15
    with scenario.run() as rt:
        seen = kit.record(rt)
        # WHEN a drill runs and the clock runs on until nothing is pending
        execution_id = rt.request_execution("ttl")
        rt.run()
        execution = rt.execution(execution_id)
        cleanup = rt.deps.cleanup_store.load(execution_id)
        live = _live(rt, _instances(execution))
        jobs = [j for j in rt.drs.jobs.values() if j.job_type == "TERMINATE"]
    # THEN the warning came 15 minutes before the TTL, and the instances were terminated in one batch after it
    assert cleanup is not None and cleanup.status is CleanupStatus.DONE
    assert execution.ended_at is not None and cleanup.expires_at == execution.ended_at + timedelta(minutes=60)
    warnings = [e for e in seen if e.detail_type == "Drill Cleanup Warning"]
    cleaned = [e for e in seen if e.detail_type == "Drill Cleaned Up"]
    assert len(warnings) == 1 and cleanup.expires_at - timedelta(minutes=16) <= warnings[0].at < cleanup.expires_at
    assert len(cleaned) == 1 and cleaned[0].at >= cleanup.expires_at and cleaned[0].detail["terminated"] == 3
    assert [b.status for b in cleanup.batches] == [BatchStatus.STARTED] and len(jobs) == 1
    assert live == set()
    # AND the evidence report records the cleanup
    evidence = build_evidence(execution, cleanup=cleanup)
    assert evidence["cleanup"]["status"] == "DONE" and evidence["cleanup"]["terminated"] == 3
    assert jobs[0].job_id in to_html(evidence)


def test_a_recovery_s_instances_survive_any_ttl(scenario):
    # GIVEN a plan with a drill TTL of 10 minutes
    plan = scenario.plan("rec", {"id": "w", "servers": 2})
    plan.recovery_plan.drill_ttl_minutes = 10
    with scenario.run() as rt:
        # WHEN it runs as a RECOVERY and the clock runs 3 more hours
        execution_id = rt.request_execution("rec", ExecutionType.RECOVERY)
        rt.run()
        rt.clock.advance_to(rt.clock.now() + timedelta(hours=3))
        rt.run()
        execution = rt.execution(execution_id)
        cleanup = rt.deps.cleanup_store.load(execution_id)
        live = _live(rt, _instances(execution))
        terminations = [j for j in rt.drs.jobs.values() if j.job_type == "TERMINATE"]
    # THEN nothing was scheduled or terminated, and the report says why
    assert cleanup is None and terminations == []
    assert live == set(_instances(execution)) and len(live) == 2
    assert build_evidence(execution)["cleanup"]["status"] == "NOT_APPLICABLE"


def test_an_operator_keeps_a_drill_and_nothing_is_terminated(scenario):
    # GIVEN a drill whose TTL is 30 minutes
    plan = scenario.plan("keep", {"id": "w", "servers": 1})
    plan.recovery_plan.drill_ttl_minutes = 30
    with scenario.run() as rt:
        execution_id = rt.request_execution("keep")
        while rt.clock.step():
            if rt.deps.cleanup_store.load(execution_id) is not None:
                break
        # WHEN an operator keeps it forever before the TTL
        kept = ControlPlane(rt.deps).change_cleanup(
            Caller(identity="olga", role=Role.OPERATOR), execution_id, {"keepForever": True}
        )
        rt.clock.advance_to(rt.clock.now() + timedelta(hours=2))
        rt.run()
        execution = rt.execution(execution_id)
        live = _live(rt, _instances(execution))
    # THEN it is recorded as kept by her and its instance still runs
    assert kept["status"] == "KEPT" and kept["keptBy"] == "olga"
    assert len(live) == 1


def test_a_cleanup_that_dies_after_terminating_is_resumed_by_the_tick_without_a_second_call(scenario, monkeypatch):
    # GIVEN a drill with a TTL of 0 minutes whose first cleanup attempt dies right after DRS accepted the batch
    plan = scenario.plan("crash", {"id": "w", "servers": 2})
    plan.recovery_plan.drill_ttl_minutes = 0
    real_record = cleanup_drill.rules.record_batch
    crashes = []

    def dying_record(*args, **kwargs):
        if not crashes:
            crashes.append(kwargs)
            raise RuntimeError("Lambda timed out after TerminateRecoveryInstances")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(cleanup_drill.rules, "record_batch", dying_record)
    with scenario.run() as rt:
        execution_id = rt.request_execution("crash")
        # WHEN the ticks run on
        rt.run()
        cleanup = rt.deps.cleanup_store.load(execution_id)
        terminations = [j for j in rt.drs.jobs.values() if j.job_type == "TERMINATE"]
        live = _live(rt, _instances(rt.execution(execution_id)))
    # THEN a later tick found the instances terminating, recorded the batch and finished, with one DRS call only
    assert crashes and cleanup is not None and cleanup.status is CleanupStatus.DONE
    assert len(terminations) == 1 and live == set()
    assert cleanup.batches[0].status is BatchStatus.STARTED and "earlier attempt" in (cleanup.batches[0].error or "")
