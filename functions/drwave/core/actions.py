"""Pure rules for pre/post-wave actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drwave.models.execution import ActionStatus, Execution, WaveStatus
from drwave.models.plan import ActionType

# A status change normally arrives within seconds of the run ending; after this long without one, the tick asks.
ACTION_POLL_AFTER = timedelta(seconds=60)
_PHASE_OF = {WaveStatus.PRE_ACTIONS: "pre", WaveStatus.POST_ACTIONS: "post"}

_FINAL_SSM_STATUS = {
    "Success": ActionStatus.SUCCEEDED,
    "Failed": ActionStatus.FAILED,
    "Cancelled": ActionStatus.FAILED,
    "Cancelling": None,
    "TimedOut": ActionStatus.TIMED_OUT,
    "Undeliverable": ActionStatus.FAILED,
    "Terminated": ActionStatus.FAILED,
    "DeliveryTimedOut": ActionStatus.TIMED_OUT,
    "ExecutionTimedOut": ActionStatus.TIMED_OUT,
    "CompletedWithFailure": ActionStatus.FAILED,
}


def ssm_status(raw: str) -> ActionStatus | None:
    """Our status for a final SSM command/automation status; None while it is still running."""
    return _FINAL_SSM_STATUS.get(raw)


def action_targets(execution: Execution, wave_id: str, phase: str) -> list[str]:
    """Instances a Run Command action targets: post -> this wave's recovered instances,
    pre -> those recovered by the waves it depends on (e.g. check the database before the app tier)."""
    wave_ids = [wave_id] if phase == "post" else execution.plan.wave(wave_id).depends_on
    return [
        s.recovery_instance_id
        for w in wave_ids
        for s in execution.waves[w].servers.values()
        if s.recovery_instance_id and s.launch_status == "LAUNCHED"
    ]


@dataclass(frozen=True)
class RunningAction:
    """An SSM run the tick should ask about, because its status change may have been lost."""

    wave_id: str
    phase: str
    run_id: str
    action_type: ActionType


def actions_to_poll(execution: Execution, now: datetime) -> list[RunningAction]:
    """SSM runs still RUNNING in a wave's action phase, started at least ACTION_POLL_AFTER ago."""
    polled = []
    for wave_id, state in execution.waves.items():
        phase = _PHASE_OF.get(state.status)
        if phase is None:
            continue
        specs = {a.name: a for a in execution.plan.wave(wave_id).actions(phase)}
        for run in state.action_runs(phase).values():
            started, run_id, spec = run.started_at, run.command_id or "not-started:", specs[run.name]
            # Asked before its timeout can be declared: a run is never timed out without asking SSM first.
            wait = min(ACTION_POLL_AFTER, timedelta(seconds=spec.timeout_seconds))
            overdue = started is not None and now - started >= wait
            if run.status is ActionStatus.RUNNING and overdue and not run_id.startswith("not-started:"):
                polled.append(RunningAction(wave_id, phase, run_id, spec.type))
    return polled
