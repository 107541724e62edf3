"""Track-launch: per-server launch results and job state changes -> wave completion.

Triggered by AWS's "DRS Source Server Launch Result" (best effort) and by our own
"DRS Job State Change" (derived by the reconciler when it sees a job change).
"""

from __future__ import annotations

from typing import Any

from drwave.adapters.sessions import AccountAccessError
from drwave.core import messages as m
from drwave.core.observe import failure_reasons, job_observed, last_pending_in_chunk, observation
from drwave.engine.log import logger
from drwave.engine.loop import apply
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.common import InvalidEvent, detail_of
from drwave.models.events import DrsJobStateChange
from drwave.models.execution import LaunchStatus

LAUNCH_STATES = {"RECOVERY_LAUNCH_SUCCEEDED": LaunchStatus.LAUNCHED, "RECOVERY_LAUNCH_FAILED": LaunchStatus.FAILED}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> None:
    """Entry point for both event kinds."""
    deps = deps or default_dependencies()
    if event.get("source") == "aws.drs":
        _on_launch_result(deps, event)
    else:
        change = DrsJobStateChange.model_validate(detail_of(event))
        logger.append_keys(correlation_id=change.execution_id)
        apply(deps, change.execution_id, [job_observed(change)])


def _on_launch_result(deps: Dependencies, event: dict[str, Any]) -> None:
    detail = detail_of(event)
    job_id, state, resources = detail.get("job-id"), detail.get("state"), event.get("resources") or []
    if not job_id or state not in LAUNCH_STATES or not resources:
        raise InvalidEvent("detail.job-id, detail.state and resources[0] are required")
    owner = deps.store.get_owner("JOB", job_id)
    if owner is None:
        logger.info("launch result for a job drwave did not start", job_id=job_id)
        return
    execution_id = owner["executionId"]
    logger.append_keys(correlation_id=execution_id)
    server_id = str(resources[0]).rsplit("/", 1)[-1]
    execution = deps.store.load_execution(execution_id)
    if execution is None:
        return
    try:
        gateway = deps.drs_for(execution.account_id, execution.region)
    except AccountAccessError as err:
        # The event alone still says how the launch went; only the job log's reason is out of reach.
        logger.warning("cannot read the job", execution_id=execution_id, error=str(err))
        status = LAUNCH_STATES[state]
        error = state if status is LaunchStatus.FAILED else None
        apply(deps, execution_id, [m.ServerResult(job_id, server_id, status, error=error)], loaded=execution)
        return
    error = None
    if LAUNCH_STATES[state] is LaunchStatus.FAILED:
        # The event says that it failed, not why: the job log does, and the operator will ask.
        reasons = failure_reasons(gateway.describe_job_log_items(job_id))
        error = reasons.get(server_id, state)
    result = m.ServerResult(job_id, server_id, LAUNCH_STATES[state], error=error)
    messages: list[m.Message] = [result]
    if last_pending_in_chunk(execution, result):
        # The event carries no instance id; read the job once, before the wave may move on to post-actions.
        messages = [
            observation(
                job.job_id,
                job.status,
                ((s.source_server_id, s.launch_status, s.recovery_instance_id) for s in job.servers),
                {server_id: error} if error else None,
            )
            for job in gateway.describe_jobs([job_id])
        ]
        messages.append(result)
    apply(deps, execution_id, messages, loaded=execution)
