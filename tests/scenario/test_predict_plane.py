"""The control plane's prediction (POST /plans/{id}/predict) and pre-flight's predicted-RTO warning."""

from __future__ import annotations

from drwave.control.roles import Caller, Role
from drwave.control.service import ControlPlane

VIEWER = Caller(identity="vera", role=Role.VIEWER)


def test_preflight_warns_when_the_predicted_p90_exceeds_the_target_and_predict_learns_from_history(scenario):
    # GIVEN a two-wave plan whose target (5 minutes) no launch can meet, after one drill ran
    plan = scenario.plan("tight", {"id": "a", "servers": 2}, {"id": "b", "dependsOn": ["a"], "servers": 2})
    plan.recovery_plan.target_rto_minutes = 5
    with scenario.run() as rt:
        plane = ControlPlane(rt.deps)
        before = plane.predict(VIEWER, "tight", {"runs": 20, "historyExecutions": 0})
        rt.request_execution("tight")
        rt.run()
        # WHEN pre-flight runs, and the plan is predicted from the drill's history
        report = plane.preflight(VIEWER, "tight")
        learned = plane.predict(VIEWER, "tight", {"runs": 20})
    # THEN pre-flight warns with the predicted p90, and the prediction never meets the target
    (warning,) = [w for w in report.warnings if w.code == "PREDICTED_RTO_OVER_TARGET"]
    assert "exceeds the target of 5 min" in warning.message and report.ok
    assert before["probabilityMeetingTarget"] == 0.0 and before["historyServers"] == 0
    assert learned["historyServers"] == 4 and learned["criticalPath"] == ["a", "b"]
    assert learned["planRtoSeconds"]["p10"] <= learned["planRtoSeconds"]["p50"] <= learned["planRtoSeconds"]["p90"]
