"""Run-wave-actions: pre/post-wave SSM documents, made event-driven by aws.ssm status changes.

Triggered by "Wave Actions Requested" and by aws.ssm "EC2 Command Status-change Notification" /
"EC2 Automation Execution Status-change Notification".
"""

from __future__ import annotations

from typing import Any

from drwave.adapters.sessions import AccountAccessError
from drwave.adapters.ssm import ActionStartError
from drwave.core import messages as m
from drwave.core.actions import action_targets, ssm_status
from drwave.engine.log import logger
from drwave.engine.loop import apply
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.common import InvalidEvent, detail_of
from drwave.models.events import WaveActionsRequested
from drwave.models.execution import ActionStatus


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> None:
    """Entry point for action requests and SSM status changes."""
    deps = deps or default_dependencies()
    if event.get("source") == "aws.ssm":
        _on_ssm_status(deps, detail_of(event))
    else:
        request = WaveActionsRequested.model_validate(detail_of(event))
        logger.append_keys(correlation_id=request.execution_id)
        _start_actions(deps, request)


def _start_actions(deps: Dependencies, request: WaveActionsRequested) -> None:
    """Claim the phase's pending runs (one invocation wins), send them, record their ids."""
    claimed = apply(deps, request.execution_id, [m.ActionsClaimed(request.wave_id, request.phase)])
    if claimed is None or not claimed.changed:
        return
    execution = claimed.execution
    runs = execution.waves[request.wave_id].action_runs(request.phase)
    mine = [r.name for r in runs.values() if r.status is ActionStatus.RUNNING and r.command_id is None]
    try:
        ssm = deps.ssm_for(execution.account_id, execution.region)
    except AccountAccessError as err:
        # The runs are claimed: fail them now with the reason, or they would wait for their timeout.
        ids = {name: f"not-started:{name}" for name in mine}
        results = [
            m.ActionResult(request.wave_id, request.phase, i, ActionStatus.FAILED, str(err)) for i in ids.values()
        ]
        apply(deps, execution.execution_id, [m.ActionsStarted(request.wave_id, request.phase, ids), *results])
        return
    targets = action_targets(execution, request.wave_id, request.phase)
    started: dict[str, str] = {}
    failed: list[m.Message] = []
    for action in execution.plan.wave(request.wave_id).actions(request.phase):
        if action.name not in mine:
            continue
        try:
            command_id = ssm.start(action, targets, comment=f"drwave {execution.execution_id} {request.wave_id}")
        except ActionStartError as err:
            command_id = f"not-started:{action.name}"
            failed.append(m.ActionResult(request.wave_id, request.phase, command_id, ActionStatus.FAILED, str(err)))
        else:
            owner = {"executionId": execution.execution_id, "waveId": request.wave_id, "phase": request.phase}
            deps.store.put_owner("ACTION", command_id, owner)
        started[action.name] = command_id
    apply(deps, execution.execution_id, [m.ActionsStarted(request.wave_id, request.phase, started), *failed])


def _on_ssm_status(deps: Dependencies, detail: dict[str, Any]) -> None:
    run_id = detail.get("command-id") or detail.get("ExecutionId")
    raw_status = detail.get("status") or detail.get("Status")
    if not run_id or not raw_status:
        raise InvalidEvent("detail.command-id/ExecutionId and detail.status/Status are required")
    status = ssm_status(str(raw_status))
    if status is None:
        return  # not a final status (Pending, InProgress, ...)
    owner = deps.store.get_owner("ACTION", str(run_id))
    if owner is None:
        return  # an SSM run drwave did not start
    logger.append_keys(correlation_id=owner["executionId"])
    error = None if status is ActionStatus.SUCCEEDED else f"SSM status {raw_status}"
    apply(deps, owner["executionId"], [m.ActionResult(owner["waveId"], owner["phase"], str(run_id), status, error)])
