"""Cleanup-drill: schedule a finished DRILL's automatic cleanup, and (from the tick) carry out the due ones.

Triggered by "Execution Finished" (the record is created once); `sweep` runs on every poll tick. Every step is saved
before the next DRS call, so a Lambda that dies midway leaves a record the next tick resumes: nothing leaks.
"""

from __future__ import annotations

from typing import Any

from drwave.adapters.cleanup_store import CleanupStore
from drwave.adapters.drs import THROTTLED, DrsError, DrsGateway
from drwave.adapters.store import ConcurrentUpdate
from drwave.core import cleanup as rules
from drwave.engine.log import logger
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.common import detail_of
from drwave.models.cleanup import BatchStatus, CleanupStatus, DrillCleanup
from drwave.models.events import DrillCleanedUp, DrillCleanupWarning, ExecutionFinished


@logger.inject_lambda_context(correlation_id_path="detail.executionId", clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> dict[str, Any]:
    """Entry point for "Execution Finished": create the drill's cleanup record when it has a TTL."""
    deps = deps or default_dependencies()
    finished = ExecutionFinished.model_validate(detail_of(event))
    scheduled = schedule_cleanup(deps, finished.execution_id)
    return {"executionId": finished.execution_id, "scheduled": scheduled is not None}


def schedule_cleanup(deps: Dependencies, execution_id: str) -> DrillCleanup | None:
    """The drill's cleanup record (created now, or the one a duplicate delivery created); None: no cleanup."""
    execution = deps.store.load_execution(execution_id)
    if execution is None or not execution.status.terminal:
        return None
    cleanup = rules.schedule(execution)
    if cleanup is None:
        return None
    store = deps.cleanup_store
    if store.create(cleanup):
        logger.info("drill cleanup scheduled", execution_id=execution_id, expires_at=str(cleanup.expires_at))
    return store.load(execution_id)


def sweep(deps: Dependencies) -> dict[str, int]:
    """The tick's part: warn before, and terminate after, each pending cleanup's TTL."""
    store = deps.cleanup_store
    counts = {"cleanupsPending": 0, "cleanupsFailed": 0}
    for execution_id in store.pending():
        counts["cleanupsPending"] += 1
        try:
            cleanup = store.load(execution_id)
            if cleanup is not None:
                advance(deps, store, cleanup)
        except ConcurrentUpdate:
            continue  # another invocation moved it on; the next tick looks again
        except Exception:  # one cleanup that fails must not stop the others (or the tick)
            logger.exception("drill cleanup failed", execution_id=execution_id)
            counts["cleanupsFailed"] += 1
    return counts


def advance(deps: Dependencies, store: CleanupStore, cleanup: DrillCleanup) -> DrillCleanup:
    """Do what is due for one cleanup now, saving after every step."""
    now = deps.now()
    if rules.notice_due(cleanup, now):
        deps.publisher.publish(
            [
                DrillCleanupWarning(
                    execution_id=cleanup.execution_id,
                    expires_at=cleanup.expires_at,
                    instance_count=len(cleanup.instance_ids),
                )
            ]
        )
        cleanup = store.save(cleanup.model_copy(update={"notified_at": now}))
    if not rules.termination_due(cleanup, now):
        return cleanup
    drs = deps.drs_for(cleanup.account_id, cleanup.region)
    if cleanup.status is CleanupStatus.SCHEDULED:
        execution = deps.store.load_execution(cleanup.execution_id)
        job_ids = {c.job_id for w in execution.waves.values() for c in w.chunks if c.job_id} if execution else set()
        described = drs.describe_recovery_instances(cleanup.instance_ids)
        cleanup = store.save(rules.plan_batches(cleanup, described, job_ids))
    for batch in cleanup.batches:
        if batch.status is BatchStatus.PENDING:
            cleanup = _send(deps, store, drs, cleanup, batch.index)
            if cleanup.batches[batch.index].status is BatchStatus.PENDING:
                return cleanup  # throttled or refused for now: the next tick tries again
    if not cleanup.batches or all(b.status is not BatchStatus.PENDING for b in cleanup.batches):
        done = cleanup.model_copy(update={"status": CleanupStatus.DONE, "finished_at": cleanup.finished_at or now})
        summary = rules.summary(done)
        deps.publisher.publish(  # before the final save: a crash in between publishes again (at least once)
            [
                DrillCleanedUp(
                    execution_id=done.execution_id,
                    terminated=summary["terminated"],
                    failed=summary["failed"],
                    skipped=summary["skippedCount"],
                    job_ids=[b.job_id for b in done.batches if b.job_id],
                )
            ]
        )
        cleanup = store.save(done)
        logger.info("drill cleaned up", execution_id=done.execution_id, terminated=summary["terminated"])
    return cleanup


def _send(deps: Dependencies, store: CleanupStore, drs: DrsGateway, cleanup: DrillCleanup, index: int) -> DrillCleanup:
    """One TerminateRecoveryInstances call for a batch, its result recorded.

    A batch tried before may have been accepted by a Lambda that died before recording it: only the instances
    DRS still reports running are sent again (none left: the earlier call worked).
    """
    batch = cleanup.batches[index]
    ids = batch.recovery_instance_ids
    if batch.attempts or batch.at is not None:
        running = {
            d["recoveryInstanceID"]
            for d in drs.describe_recovery_instances(ids)
            if (d.get("ec2InstanceState") or "").upper() not in ("SHUTTING-DOWN", "TERMINATED")
        }
        ids = [i for i in ids if i in running]
        if not ids:
            note = "terminated by an earlier attempt whose result was not recorded"
            return store.save(rules.record_batch(cleanup, index, deps.now(), job_id="(earlier attempt)", error=note))
    else:
        marked = cleanup.model_copy(deep=True)
        marked.batches[index].at = deps.now()  # "being sent": a crash from here on makes the retry check first
        cleanup = store.save(marked)
    try:
        job = drs.terminate_recovery_instances(ids)
    except DrsError as err:
        logger.warning("TerminateRecoveryInstances refused", execution_id=cleanup.execution_id, code=err.code)
        if err.code in THROTTLED:
            return cleanup  # the gateway's backoff ran out: the next tick tries again, attempts untouched
        return store.save(rules.record_batch(cleanup, index, deps.now(), error=str(err)))
    return store.save(rules.record_batch(cleanup, index, deps.now(), job_id=job.job_id))
