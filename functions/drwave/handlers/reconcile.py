"""Reconcile-jobs: the poll tick. Time-based decisions for every active execution, and one
DescribeJobs per account+region for in-flight jobs, emitting "DRS Job State Change" only on change.

This is the safety net for best-effort DRS events and for any event drwave lost itself.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from drwave.adapters.sessions import AccountAccessError
from drwave.core import messages as m
from drwave.core.actions import actions_to_poll, ssm_status
from drwave.core.decide import Decision
from drwave.core.observe import failure_reasons, job_changed, jobs_to_poll, newly_failed, observation, state_change
from drwave.engine.log import logger
from drwave.engine.loop import apply, drain_outbox
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.cleanup_drill import sweep as sweep_cleanups
from drwave.models.events import DrsJobStateChange
from drwave.models.execution import ActionStatus, Execution


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> dict[str, int]:
    """Entry point for the poll-tick schedule; returns counts for observability."""
    deps = deps or default_dependencies()
    resent = drain_outbox(deps)
    executions: list[Execution] = []
    repaired = failed = 0
    for execution_id in deps.store.active_execution_ids():
        try:
            decision, results = _tick_one(deps, execution_id)
        except Exception:  # one execution that cannot be loaded or saved must not stop the tick for the others
            logger.exception("tick failed for one execution", execution_id=execution_id)
            failed += 1
            continue
        repaired += results
        if decision is not None and not decision.execution.status.terminal:
            executions.append(decision.execution)
    changes = _poll_jobs(deps, executions)
    deps.publisher.publish(changes)
    cleanups = sweep_cleanups(deps)  # finished drills whose TTL is due: warn, then terminate their instances
    if cleanups["cleanupsPending"]:
        logger.info("drill cleanups", extra=cleanups)
    counts = {
        "activeExecutions": len(executions),
        "jobChanges": len(changes),
        "actionsRepaired": repaired,
        "eventsResent": resent,
        "executionsFailed": failed,
    }
    logger.info("tick", extra=counts)
    return counts


def _tick_one(deps: Dependencies, execution_id: str) -> tuple[Decision | None, int]:
    """The tick's decision for one execution, and how many overdue action results it repaired."""
    loaded = deps.store.load_execution(execution_id)
    if loaded is None:
        return None, 0
    # SSM is asked before the tick's timeouts, so a run that ended while its status change was lost is
    # recorded as it ended rather than timed out.
    results = _overdue_action_results(deps, loaded)
    return apply(deps, execution_id, [*results, m.Tick()], loaded=loaded), len(results)


def _overdue_action_results(deps: Dependencies, execution: Execution) -> list[m.Message]:
    """Results of SSM runs whose aws.ssm status change is overdue and that SSM says have ended."""
    running = actions_to_poll(execution, deps.now())
    if not running:
        return []
    try:
        ssm = deps.ssm_for(execution.account_id, execution.region)
    except AccountAccessError as err:
        logger.warning("cannot poll actions", execution_id=execution.execution_id, error=str(err))
        return []
    results: list[m.Message] = []
    for run in running:
        raw = ssm.status(run.action_type, run.run_id)
        status = ssm_status(raw) if raw else None
        if status is not None:
            error = None if status is ActionStatus.SUCCEEDED else f"SSM status {raw}"
            results.append(m.ActionResult(run.wave_id, run.phase, run.run_id, status, error))
    return results


def _poll_jobs(deps: Dependencies, executions: list[Execution]) -> list[DrsJobStateChange]:
    """One batched DescribeJobs per account+region; a change event per job whose state moved on."""
    now = deps.now()
    owners: dict[tuple[str, str], dict[str, Execution]] = defaultdict(dict)
    for execution in executions:
        for job_id in jobs_to_poll(execution, now, deps.poll_tick_seconds):
            owners[(execution.account_id, execution.region)][job_id] = execution
    changes: list[DrsJobStateChange] = []
    for (account_id, region), by_job in owners.items():
        try:
            gateway = deps.drs_for(account_id, region)
        except AccountAccessError as err:
            # One unreachable account must not stop the tick for the others; aws.drs events may still arrive.
            logger.warning("cannot poll jobs", account_id=account_id, region=region, error=str(err))
            continue
        for job in gateway.describe_jobs(sorted(by_job)):
            execution = by_job[job.job_id]
            seen = observation(
                job.job_id,
                job.status,
                ((s.source_server_id, s.launch_status, s.recovery_instance_id) for s in job.servers),
            )
            if not job_changed(execution, seen):
                continue
            # Only a newly failed server is worth reading the job log for: it says why.
            reasons = (
                failure_reasons(gateway.describe_job_log_items(job.job_id)) if newly_failed(execution, seen) else {}
            )
            changes.append(state_change(execution, seen, reasons))
    return changes
