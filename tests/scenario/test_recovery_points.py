"""Whole drills that recover to a chosen point in time."""

from __future__ import annotations

from datetime import timedelta

from drwave.control.roles import Caller, Role
from drwave.control.service import ControlPlane
from drwave.core.evidence import build_evidence
from drwave.core.evidence_render import to_html, to_markdown
from drwave.core.recovery_points import data_loss_window
from drwave.models.execution import ExecutionStatus, ExecutionType
from drwave.models.recovery import RecoveryPoint, RecoveryPointMode


def test_a_drill_to_a_point_in_time_launches_every_server_from_its_newest_snapshot_before_it(scenario, kit):
    # GIVEN a two-wave plan whose servers are snapshotted every 10 minutes
    scenario.plan("pit", {"id": "db", "servers": 2}, {"id": "app", "dependsOn": ["db"], "servers": 3})
    with scenario.run() as rt:
        at = rt.clock.now() - timedelta(minutes=42)
        point = RecoveryPoint(mode=RecoveryPointMode.POINT_IN_TIME, at=at)
        # WHEN a drill recovers to 42 minutes ago
        execution_id = rt.request_execution("pit", ExecutionType.DRILL, recovery_point=point)
        rt.run()
        execution = rt.execution(execution_id)
        runs = {run.source_server_id: run for job in rt.drs.jobs.values() for run in job.runs}
    # THEN it completes, every server launched from a snapshot taken at or before that instant
    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.recovery_point.at == at
    servers = [(w, s) for w in execution.waves.values() for s in w.servers.values()]
    assert len(servers) == 5
    for wave, server in servers:
        snapshot = runs[server.source_server_id].snapshot
        assert snapshot is not None and server.recovery_snapshot_id == snapshot.snapshot_id
        assert server.snapshot_taken_at is not None and server.snapshot_taken_at <= at
        # AND its data-loss window is the chosen instant minus the snapshot time, under one cadence
        window = data_loss_window(execution, wave, server)
        assert window == at - server.snapshot_taken_at
        assert timedelta(0) <= window < timedelta(minutes=10)
    # AND the evidence report shows each server's snapshot and data-loss window, in JSON, HTML and Markdown
    evidence = build_evidence(execution)
    rows = {s["sourceServerId"]: s for w in evidence["waves"] for s in w["servers"]}
    html, markdown = to_html(evidence), to_markdown(evidence)
    assert evidence["recoveryPoint"]["mode"] == "POINT_IN_TIME"
    for wave, server in servers:
        row = rows[server.source_server_id]
        window = data_loss_window(execution, wave, server)
        assert row["recoverySnapshotId"] == server.recovery_snapshot_id
        assert row["dataLossSeconds"] == window.total_seconds()
        cell = f"{window.total_seconds() / 60:.1f} min"
        for text in (html, markdown):
            assert server.recovery_snapshot_id in text and cell in text


def test_a_latest_drill_passes_no_snapshot_and_loses_no_data(scenario):
    # GIVEN a one-wave plan
    scenario.plan("latest", {"id": "only", "servers": 2})
    with scenario.run() as rt:
        # WHEN it is drilled with the default recovery point
        execution_id = rt.request_execution("latest")
        rt.run()
        execution = rt.execution(execution_id)
        runs = [run for job in rt.drs.jobs.values() for run in job.runs]
    # THEN DRS got no recoverySnapshotID and the data-loss window is zero
    assert all(run.snapshot is None for run in runs)
    wave = execution.waves["only"]
    assert all(data_loss_window(execution, wave, s) == timedelta(0) for s in wave.servers.values())


def test_preflight_names_the_server_with_no_snapshot_at_or_before_the_point(scenario):
    # GIVEN a plan where one server has replicated only since now (no older snapshot)
    scenario.plan("young", {"id": "w", "servers": [{}, {"snapshots": {"cadenceMinutes": 10, "historyMinutes": 0}}]})
    young = scenario.servers_of("young", "w")[1]
    with scenario.run() as rt:
        plane = ControlPlane(rt.deps)
        admin = Caller(identity="alice", role=Role.ADMIN)
        point = RecoveryPoint(mode=RecoveryPointMode.POINT_IN_TIME, at=rt.clock.now() - timedelta(minutes=30))
        # WHEN pre-flight checks a drill to 30 minutes ago
        report = plane.preflight(admin, "young", point)
        # AND a point in the future
        future = plane.preflight(
            admin, "young", RecoveryPoint(mode=RecoveryPointMode.POINT_IN_TIME, at=rt.clock.now() + timedelta(hours=1))
        )
    # THEN exactly that server is named as having no snapshot
    assert [(p.code, p.source_server_id) for p in report.problems] == [("NO_RECOVERY_SNAPSHOT", young)]
    assert young in report.problems[0].message
    assert [p.code for p in future.problems] == ["RECOVERY_POINT_IN_FUTURE"]
