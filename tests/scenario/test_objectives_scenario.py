"""Whole drills judged against their RTO and RPO objectives: timeline, events, notifications, API and summary."""

from __future__ import annotations

from datetime import timedelta

from drwave.control.views import execution_view
from drwave.core.notifications import notification_for
from drwave.models.events import ExecutionFinished, WaveCompleted
from drwave.models.recovery import RecoveryPoint, RecoveryPointMode
from drwave_local.cli.report import build_report, summary_table


def test_a_drill_shows_pass_and_fail_against_its_objectives_everywhere(scenario, kit):
    # GIVEN a plan whose fast wave has a generous RTO target, whose slow wave has an impossible one,
    # and whose whole-plan RTO and RPO targets are generous
    plan = scenario.plan(
        "obj",
        {"id": "fast", "servers": 1, "targetRtoMinutes": 60},
        {"id": "slow", "dependsOn": ["fast"], "servers": 2, "targetRtoMinutes": 1},
    )
    plan.recovery_plan.target_rto_minutes = 120
    plan.recovery_plan.target_rpo_minutes = 15
    with scenario.run() as rt:
        seen = kit.record(rt)
        point = RecoveryPoint(mode=RecoveryPointMode.POINT_IN_TIME, at=rt.clock.now() - timedelta(minutes=5))
        # WHEN it is drilled to five minutes ago
        execution_id = rt.request_execution("obj", recovery_point=point)
        rt.run()
        execution = rt.execution(execution_id)
        report = build_report(
            execution, ground_truth={}, drs_calls={}, invocations={}, events_published={}, hostnames={}
        )
    # THEN the timeline records the fast wave's RTO met, the slow wave's missed, and the execution's RTO and RPO met
    assert [e.wave_id for e in kit.timeline(execution, "RTO_MET") if e.wave_id] == ["fast"]
    assert [e.wave_id for e in kit.timeline(execution, "RTO_MISSED")] == ["slow"]
    assert len([e for e in kit.timeline(execution, "RTO_MET") if e.wave_id is None]) == 1
    assert len(kit.timeline(execution, "RPO_MET")) == 1
    # AND the events carry the verdicts
    waves = {e.detail["waveId"]: e.detail for e in seen if e.detail_type == "Wave Completed"}
    assert waves["fast"]["rtoMet"] is True and waves["slow"]["rtoMet"] is False
    (finished,) = [e.detail for e in seen if e.detail_type == "Execution Finished"]
    assert finished["rtoMet"] is True and finished["rpoMet"] is True and finished["targetRpoMinutes"] == 15
    # AND the notifications say PASS / FAIL
    slow = notification_for(WaveCompleted.model_validate(waves["slow"]), execution)
    assert "RTO:" in slow.text and "FAIL" in slow.text
    done = notification_for(ExecutionFinished.model_validate(finished), execution)
    assert "RPO:" in done.text and "PASS" in done.text and done.data["objectives"]["rpo"]["met"] is True
    # AND the API's execution view and the CLI summary list them
    api = {(o["scope"], o["subject"], o["kind"]): o for o in execution_view(execution)["objectives"]}
    assert api[("WAVE", "slow", "RTO")]["met"] is False and api[("EXECUTION", execution_id, "RPO")]["met"] is True
    text = summary_table(report)
    assert "RTO wave slow:" in text and ": FAIL" in text and "RPO execution (worst server):" in text
