"""What the Step Functions wrapper shows: which of its waiting steps an execution's state resolves, and how.

The wrapper (infrastructure/statemachine/execution.asl.json) waits on one task token per step: a wave's approval
gate, the wave itself, and the execution's outcome. A step is resolved from the stored execution alone, so a late,
duplicated or reordered event resolves the same step the same way, and a token registered after its wave ended
is resolved at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from drwave.models.execution import Execution, WaveStatus

StepKind = Literal["gate", "wave", "finish"]
# Outcomes the wrapper ends in Succeed with; anything else ends in Fail with the status as its error.
SUCCEEDED = frozenset({"COMPLETED", "COMPLETED_WITH_WARNINGS"})


@dataclass(frozen=True)
class Step:
    """One waiting state of the wrapper: a wave's gate, a wave, or the execution's outcome."""

    kind: StepKind
    wave_id: str = ""

    @property
    def key(self) -> str:
        """Where its task token is stored, e.g. "wave:db"."""
        return self.kind if self.kind == "finish" else f"{self.kind}:{self.wave_id}"


@dataclass(frozen=True)
class Resolution:
    """SendTaskSuccess with `output`, or SendTaskFailure with `error` and `cause`."""

    succeeded: bool
    output: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    cause: str = ""


def workflow_input(execution: Execution) -> dict[str, Any]:
    """The wrapper's input: one Map item per wave of the plan snapshot."""
    return {
        "executionId": execution.execution_id,
        "planId": execution.plan.id,
        "executionType": str(execution.execution_type),
        "waves": [
            {"waveId": w.id, "name": w.name, "gated": w.pause_before_wave is not None, "dependsOn": list(w.depends_on)}
            for w in execution.plan.waves
        ],
    }


def every_step(execution: Execution) -> list[Step]:
    """Every step the wrapper of this execution may wait on."""
    steps = [Step(kind, w.id) for w in execution.plan.waves for kind in ("gate", "wave") if _has(execution, kind, w.id)]
    return [*steps, Step("finish")]


def steps_for(execution: Execution, detail_type: str, wave_id: str | None) -> list[Step]:
    """The steps a drwave event may have resolved (the finish event settles everything still waiting)."""
    if detail_type == "Execution Finished":
        return every_step(execution)
    if wave_id is None or wave_id not in execution.waves:
        return []
    kinds: tuple[StepKind, ...] = ("gate",) if detail_type == "Wave Gate Approved" else ("gate", "wave")
    return [Step(k, wave_id) for k in kinds if _has(execution, k, wave_id)]


def resolve(execution: Execution, step: Step, approved_by: str | None = None) -> Resolution | None:
    """How the stored execution resolves a step, or None while it is still undecided.

    `approved_by` is an approval being delivered right now: it opens a gate that still waits, since the planner
    records every approval of a waiting gate (it may simply not have saved it yet).
    """
    ended = execution.status.terminal
    if step.kind == "finish":
        if not ended:
            return None
        return Resolution(True, {"status": str(execution.status), "cause": _cause(execution)})
    wave = execution.waves.get(step.wave_id)
    if wave is None:
        return Resolution(False, error="UNKNOWN_WAVE", cause=f"wave {step.wave_id!r} is not in the plan snapshot")
    if step.kind == "gate":
        approver = wave.approved_by or (approved_by if wave.status is WaveStatus.WAITING_APPROVAL else None)
        if approver is not None:
            return Resolution(True, {"approvedBy": approver})
    elif wave.status.terminal:
        if wave.status.succeeded:
            return Resolution(True, {"status": str(wave.status), "warnings": list(wave.warnings)})
        return Resolution(False, error=str(wave.status), cause=wave.reason or str(wave.status))
    if wave.status.terminal or ended:
        status = wave.status if wave.status.terminal else execution.status
        return Resolution(False, error=str(status), cause=wave.reason or f"execution ended {execution.status}")
    return None


def _has(execution: Execution, kind: str, wave_id: str) -> bool:
    if kind != "gate":
        return True
    return any(w.id == wave_id and w.pause_before_wave is not None for w in execution.plan.waves)


def _cause(execution: Execution) -> str:
    failed = [f"{w.wave_id} {w.status}: {w.reason}" for w in execution.waves.values() if w.reason]
    return "; ".join(failed)[:32768] or str(execution.status)
