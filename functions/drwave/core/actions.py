"""Pure rules for pre/post-wave actions."""

from __future__ import annotations

from drwave.models.execution import ActionStatus, Execution

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
