"""Start-execution: snapshot the plan into a new execution and open its first waves.

Triggered by "Execution Requested" (API, CLI, schedules, alarm rules).
"""

from __future__ import annotations

from typing import Any

from drwave.core import messages as m
from drwave.core.create import PlanNotRunnable, new_execution, subplan
from drwave.engine.log import logger
from drwave.engine.loop import apply
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.common import detail_of
from drwave.models.events import ExecutionRequested


@logger.inject_lambda_context(correlation_id_path="detail.executionId", clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> dict[str, Any]:
    """Entry point for "Execution Requested"; returns the outcome for direct invocation."""
    deps = deps or default_dependencies()
    request = ExecutionRequested.model_validate(detail_of(event))
    plan = deps.store.get_plan(request.plan_id)
    if plan is None:
        logger.error("plan not found", execution_id=request.execution_id, plan_id=request.plan_id)
        return {"error": "NOT_FOUND", "message": f"planId: no recovery plan {request.plan_id!r}"}
    if request.wave_ids:
        try:
            plan = subplan(plan, request.wave_ids)
        except PlanNotRunnable as err:
            logger.error("retry not runnable", execution_id=request.execution_id, reason=str(err))
            return {"error": "INVALID_PLAN", "message": str(err)}
    groups = {
        g: group for g in {g for w in plan.waves for g in w.protection_group_ids} if (group := deps.store.get_group(g))
    }
    try:
        execution = new_execution(
            request.execution_id,
            plan,
            groups,
            request.execution_type,
            default_account_id=deps.account_id,
            started_by=request.started_by,
            retry_of=request.retry_of,
            recovery_point=request.recovery_point,
            drill_ttl_minutes=request.drill_ttl_minutes,
            now=deps.now(),
        )
    except PlanNotRunnable as err:
        logger.error("plan not runnable", execution_id=request.execution_id, reason=str(err))
        return {"error": "INVALID_PLAN", "message": str(err)}
    if not deps.store.create_execution(execution):
        logger.info("duplicate request; execution exists", execution_id=request.execution_id)
    # Start is idempotent, so a duplicate request also repairs a crash between create and start.
    decision = apply(deps, request.execution_id, [m.Start()])
    status = decision.execution.status if decision else "UNKNOWN"
    return {"executionId": request.execution_id, "status": str(status)}
