"""RTO and RPO measured against the plan's and the waves' objectives (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drwave.core import objectives
from drwave.core.create import new_execution
from drwave.models.execution import Chunk, ChunkStatus, ExecutionStatus, ExecutionType, LaunchStatus, ServerState
from drwave.models.plan import ProtectionGroup, RecoveryPlan
from drwave.models.recovery import RecoveryPoint, RecoveryPointMode

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
A, B = "s-00000000000000001", "s-00000000000000002"


def _finished(*, plan_rto: int | None, wave_rto: int | None, rpo: int | None, point: RecoveryPoint | None = None):
    """A finished one-wave execution: wave 10..40 min, the job started at 12 min, A launched at 30, B at 50."""
    plan = RecoveryPlan.model_validate(
        {
            "id": "p",
            "name": "P",
            "targetRtoMinutes": plan_rto,
            "targetRpoMinutes": rpo,
            "waves": [{"id": "w", "protectionGroupIds": ["g"], "targetRtoMinutes": wave_rto}],
        }
    )
    group = ProtectionGroup(id="g", name="G", source_server_ids=[A, B])
    exe = new_execution(
        "e",
        plan,
        {"g": group},
        ExecutionType.DRILL,
        default_account_id="111122223333",
        started_by="ann",
        now=T0,
        recovery_point=point,
    )
    exe.status, exe.started_at, exe.ended_at = ExecutionStatus.COMPLETED, T0, T0 + timedelta(minutes=45)
    wave = exe.waves["w"]
    wave.started_at, wave.ended_at = T0 + timedelta(minutes=10), T0 + timedelta(minutes=40)
    wave.chunks = [
        Chunk(
            index=0,
            source_server_ids=[A, B],
            status=ChunkStatus.ENDED,
            job_id="drsjob-1",
            started_at=T0 + timedelta(minutes=12),
        )
    ]
    for sid, minute in ((A, 30), (B, 50)):
        wave.servers[sid] = ServerState(
            source_server_id=sid,
            launch_status=LaunchStatus.LAUNCHED,
            job_id="drsjob-1",
            updated_at=T0 + timedelta(minutes=minute),
            recovery_snapshot_id="pit-00000000000000001",
            snapshot_taken_at=T0 - timedelta(minutes=17 if sid == A else 4),
        )
    return exe


def test_a_wave_within_its_target_passes_and_a_slower_plan_fails():
    # GIVEN a 30-minute wave with a 35-minute target in a 45-minute execution with a 40-minute target
    exe = _finished(plan_rto=40, wave_rto=35, rpo=None)
    # WHEN the objectives are evaluated
    wave = objectives.wave_rto(exe, exe.waves["w"])
    whole = objectives.execution_rto(exe)
    # THEN the wave passes and the execution fails, each with its measure
    assert (wave.measured, wave.met) == (timedelta(minutes=30), True)
    assert (whole.measured, whole.met, whole.verdict) == (timedelta(minutes=45), False, "FAIL")


def test_server_rto_is_its_launch_duration_from_the_job_start():
    # GIVEN servers launched 18 and 38 minutes after their job started, with a 35-minute wave target
    exe = _finished(plan_rto=None, wave_rto=35, rpo=None)
    rtos = {o.subject: o for o in objectives.server_objectives(exe) if o.kind == "RTO"}
    # THEN A passes and B fails against the wave's target
    assert rtos[A].measured == timedelta(minutes=18) and rtos[A].met is True
    assert rtos[B].measured == timedelta(minutes=38) and rtos[B].met is False


def test_rpo_per_server_is_the_data_loss_window_of_a_point_in_time_recovery():
    # GIVEN a recovery to T0 from snapshots taken 17 and 4 minutes before it, with a 10-minute RPO target
    point = RecoveryPoint(mode=RecoveryPointMode.POINT_IN_TIME, at=T0)
    exe = _finished(plan_rto=None, wave_rto=None, rpo=10, point=point)
    # WHEN the RPO objectives are evaluated
    rpos = {o.subject: o for o in objectives.server_objectives(exe) if o.kind == "RPO"}
    worst = objectives.worst_rpo(exe)
    # THEN A misses its RPO, B meets it, and the execution's worst RPO is A's
    assert (rpos[A].measured, rpos[A].met) == (timedelta(minutes=17), False)
    assert (rpos[B].measured, rpos[B].met) == (timedelta(minutes=4), True)
    assert (worst.measured, worst.met) == (timedelta(minutes=17), False)


def test_without_targets_nothing_passes_or_fails_and_no_timeline_line_is_written():
    # GIVEN a plan without objectives
    exe = _finished(plan_rto=None, wave_rto=None, rpo=None)
    measured = objectives.evaluate(exe)
    # THEN every measure is taken but none is judged
    assert all(o.met is None and o.verdict == "-" for o in measured)
    assert objectives.timeline_lines(measured) == []
    assert objectives.event_fields([objectives.execution_rto(exe)]) == {"rto_seconds": 2700.0}


def test_event_fields_and_timeline_lines_carry_the_verdict():
    # GIVEN an execution that missed its 40-minute RTO
    exe = _finished(plan_rto=40, wave_rto=None, rpo=None)
    rto = [objectives.execution_rto(exe)]
    # THEN the event says so in fields and the timeline in words
    assert objectives.event_fields(rto) == {"rto_seconds": 2700.0, "target_rto_minutes": 40, "rto_met": False}
    assert objectives.timeline_lines(rto) == [("RTO_MISSED", "RTO 45.0 min (target 40 min)")]
