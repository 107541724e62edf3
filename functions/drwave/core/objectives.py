"""RTO and RPO objectives: what an execution measured against what its plan and waves declared (pure).

Measured RTO: per server, from its DRS job starting to drwave recording it LAUNCHED (the launch duration); per
wave, from the wave opening (after any approval) to its end; per execution, from its start to its end. RPO per
server is its data-loss window (core.recovery_points). A target is met when the measure is at or under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from drwave.core.recovery_points import data_loss_window
from drwave.models.execution import Execution, LaunchStatus, ServerState, WaveState


@dataclass(frozen=True)
class Objective:
    """One measure against its target (target None: measured only; met None: not measurable)."""

    kind: str  # RTO | RPO
    scope: str  # EXECUTION | WAVE | SERVER
    subject: str  # execution, wave or source server id
    measured: timedelta | None
    target: timedelta | None

    @property
    def met(self) -> bool | None:
        """True at or under the target; None without a target or a measure."""
        if self.target is None or self.measured is None:
            return None
        return self.measured <= self.target

    @property
    def verdict(self) -> str:
        """PASS, FAIL or '-' (nothing to compare)."""
        return {True: "PASS", False: "FAIL", None: "-"}[self.met]

    def to_wire(self) -> dict[str, Any]:
        """JSON form (seconds and minutes)."""
        wire: dict[str, Any] = {"kind": self.kind, "scope": self.scope, "subject": self.subject}
        if self.measured is not None:
            wire["measuredSeconds"] = round(self.measured.total_seconds(), 3)
        if self.target is not None:
            wire["targetMinutes"] = self.target.total_seconds() / 60
        if self.met is not None:
            wire["met"] = self.met
        return wire


def _minutes(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(minutes=value)


def server_rto(wave: WaveState, server: ServerState) -> timedelta | None:
    """How long the server's launch took once its DRS job had started (None unless it launched)."""
    if server.launch_status is not LaunchStatus.LAUNCHED or server.updated_at is None:
        return None
    chunk = next((c for c in wave.chunks if c.job_id and c.job_id == server.job_id), None)
    if chunk is None or chunk.started_at is None:
        return None
    return server.updated_at - chunk.started_at


def wave_rto(exe: Execution, wave: WaveState) -> Objective:
    """The wave's RTO against its own target."""
    measured = wave.ended_at - wave.started_at if wave.started_at and wave.ended_at else None
    target = _minutes(exe.plan.wave(wave.wave_id).target_rto_minutes)
    return Objective("RTO", "WAVE", wave.wave_id, measured, target)


def execution_rto(exe: Execution) -> Objective:
    """The execution's RTO against the plan's target."""
    measured = exe.ended_at - exe.started_at if exe.started_at and exe.ended_at else None
    return Objective("RTO", "EXECUTION", exe.execution_id, measured, _minutes(exe.plan.target_rto_minutes))


def server_objectives(exe: Execution) -> list[Objective]:
    """Per launched server: its RTO (against its wave's target) and its RPO (against the plan's)."""
    found = []
    rpo_target = _minutes(exe.plan.target_rpo_minutes)
    for wave in exe.waves.values():
        rto_target = _minutes(exe.plan.wave(wave.wave_id).target_rto_minutes)
        for server in wave.servers.values():
            if not server.job_id:
                continue
            sid = server.source_server_id
            found.append(Objective("RTO", "SERVER", sid, server_rto(wave, server), rto_target))
            found.append(Objective("RPO", "SERVER", sid, data_loss_window(exe, wave, server), rpo_target))
    return found


def worst_rpo(exe: Execution) -> Objective:
    """The largest data-loss window of any server, against the plan's RPO target."""
    windows = [o.measured for o in server_objectives(exe) if o.kind == "RPO" and o.measured is not None]
    return Objective(
        "RPO", "EXECUTION", exe.execution_id, max(windows, default=None), _minutes(exe.plan.target_rpo_minutes)
    )


def evaluate(exe: Execution) -> list[Objective]:
    """Every measure: the execution's RTO and worst RPO, each wave's RTO, each server's RTO and RPO."""
    return [
        execution_rto(exe),
        worst_rpo(exe),
        *(wave_rto(exe, w) for w in exe.waves.values()),
        *server_objectives(exe),
    ]


def _text(objective: Objective) -> str:
    measured = "not measured" if objective.measured is None else f"{objective.measured.total_seconds() / 60:.1f} min"
    target = "" if objective.target is None else f" (target {objective.target.total_seconds() / 60:g} min)"
    return f"{objective.kind} {measured}{target}"


def timeline_lines(objectives: list[Objective]) -> list[tuple[str, str]]:
    """(timeline event, detail) for every objective that has a target: RTO_MET, RPO_MISSED, ..."""
    return [(f"{o.kind}_{'MET' if o.met else 'MISSED'}", _text(o)) for o in objectives if o.met is not None]


def event_fields(objectives: list[Objective]) -> dict[str, Any]:
    """Fields of a Wave Completed / Wave Failed / Execution Finished event: measured seconds, targets, pass/fail."""
    fields: dict[str, Any] = {}
    for o in objectives:
        key = o.kind.lower()
        if o.measured is not None:
            fields[f"{key}_seconds"] = round(o.measured.total_seconds(), 3)
        if o.target is not None:
            fields[f"target_{key}_minutes"] = int(o.target.total_seconds() // 60)
        if o.met is not None:
            fields[f"{key}_met"] = o.met
    return fields
