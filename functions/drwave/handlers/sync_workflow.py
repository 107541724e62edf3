"""Sync-workflow: mirrors an execution in the Step Functions wrapper (it only shows; the engine never waits on it).

Starts the wrapper on "Execution Started" (again, idempotently, on "Execution Finished" in case the start was lost),
stores the task token of each step the wrapper waits on ("Workflow Task Waiting"), and completes every stored token
whose step the saved execution resolves. Any order of deliveries, duplicates included, ends the same way.
"""

from __future__ import annotations

from typing import Any

from drwave.core.workflow import Step, resolve, steps_for, workflow_input
from drwave.engine.log import logger
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.common import InvalidEvent, detail_of
from drwave.models.events import ExecutionFinished, ExecutionStarted, parse_detail
from drwave.models.workflow import WORKFLOW_SOURCE, WorkflowTaskWaiting

TOKEN_KIND = "WORKFLOW"  # state table item WORKFLOW#<executionId>#<step> / OWNER holds a step's task token


@logger.inject_lambda_context(correlation_id_path="detail.executionId", clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> None:
    """Store a token or start the wrapper, then complete the stored tokens the saved state now resolves."""
    deps = deps or default_dependencies()
    workflow = deps.workflow
    if workflow is None:
        raise InvalidEvent("STATE_MACHINE_ARN: sync-workflow runs only where the wrapper is deployed")
    waiting, detail = None, None
    if event.get("source") == WORKFLOW_SOURCE:
        waiting = WorkflowTaskWaiting.model_validate(detail_of(event))
        execution_id = waiting.execution_id
        # Stored before the state is read: whichever of this and the wave's own event runs last sees both.
        deps.store.put_owner(TOKEN_KIND, f"{execution_id}#{Step(waiting.step, waiting.wave_id).key}", waiting.to_wire())
    else:
        detail = parse_detail(str(event.get("detail-type")), detail_of(event))
        execution_id = detail.execution_id
    execution = deps.store.load_execution(execution_id)
    if execution is None:
        logger.warning("unknown execution", execution_id=execution_id)
        return
    if isinstance(detail, ExecutionStarted | ExecutionFinished):
        started = workflow.start(execution_id, workflow_input(execution))
        logger.info("wrapper started" if started else "wrapper already started", execution_id=execution_id)
    if waiting is not None:
        steps = [Step(waiting.step, waiting.wave_id)]
    else:
        steps = steps_for(execution, str(event.get("detail-type")), getattr(detail, "wave_id", None))
    for step in steps:
        token = deps.store.get_owner(TOKEN_KIND, f"{execution_id}#{step.key}")
        outcome = resolve(execution, step, getattr(detail, "approved_by", None)) if token else None
        if token is None or outcome is None:
            continue
        if outcome.succeeded:
            sent = workflow.succeed(token["taskToken"], outcome.output)
        else:
            sent = workflow.fail(token["taskToken"], outcome.error, outcome.cause)
        logger.info("step resolved", execution_id=execution_id, step=step.key, succeeded=outcome.succeeded, sent=sent)
