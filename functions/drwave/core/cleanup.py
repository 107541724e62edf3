"""Automatic drill cleanup decisions (pure): the TTL, the notice, which instances, the batches, operator changes.

Only instances both the execution's own record and DRS call this drill's are terminated: a RECOVERY execution
gets no cleanup at all, and an instance DRS reports as not a drill, or as launched by another job, is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from drwave.models.cleanup import BatchStatus, CleanupBatch, CleanupStatus, DrillCleanup
from drwave.models.execution import Execution, LaunchStatus

MAX_PER_CALL = 200  # TerminateRecoveryInstances recoveryInstanceIDs max
DEFAULT_NOTICE_MINUTES = 30
MAX_ATTEMPTS = 5  # refused (non-throttling) calls are retried on later ticks this often before the batch fails


def ttl_minutes(execution: Execution) -> int | None:
    """The drill's TTL: the start's override, else the plan's default; None for RECOVERY or when none is set."""
    if not execution.is_drill:
        return None
    if execution.drill_ttl_minutes is not None:
        return execution.drill_ttl_minutes
    return execution.plan.drill_ttl_minutes


def launched_instances(execution: Execution) -> list[str]:
    """The recovery instances the execution recorded launching (its own record)."""
    return [
        s.recovery_instance_id
        for w in execution.waves.values()
        for s in w.servers.values()
        if s.recovery_instance_id and s.launch_status is LaunchStatus.LAUNCHED
    ]


def schedule(execution: Execution) -> DrillCleanup | None:
    """The cleanup record of a finished drill with a TTL and instances; None when there is nothing to schedule."""
    ttl = ttl_minutes(execution)
    instances = launched_instances(execution)
    if ttl is None or execution.ended_at is None or not instances:
        return None
    notice = execution.plan.drill_cleanup_notice_minutes
    return DrillCleanup(
        execution_id=execution.execution_id,
        account_id=execution.account_id,
        region=execution.region,
        ttl_minutes=ttl,
        notice_minutes=DEFAULT_NOTICE_MINUTES if notice is None else notice,
        ended_at=execution.ended_at,
        expires_at=execution.ended_at + timedelta(minutes=ttl),
        instance_ids=instances,
    )


def notice_due(cleanup: DrillCleanup, now: datetime) -> bool:
    """True once the warning should go out (and has not yet)."""
    return (
        cleanup.status is CleanupStatus.SCHEDULED
        and cleanup.notified_at is None
        and now >= cleanup.expires_at - timedelta(minutes=cleanup.notice_minutes)
    )


def termination_due(cleanup: DrillCleanup, now: datetime) -> bool:
    """True once the TTL has run out (or termination is under way)."""
    if cleanup.status is CleanupStatus.TERMINATING:
        return True
    return cleanup.status is CleanupStatus.SCHEDULED and now >= cleanup.expires_at


def plan_batches(cleanup: DrillCleanup, described: Iterable[Mapping[str, Any]], job_ids: set[str]) -> DrillCleanup:
    """Batches of the instances DRS still knows as this drill's; the others are recorded as skipped."""
    known = {d["recoveryInstanceID"]: d for d in described}
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    for instance_id in cleanup.instance_ids:
        found = known.get(instance_id)
        if found is None:
            skipped[instance_id] = "DRS no longer knows it (terminated already?)"
        elif not found.get("isDrill"):
            skipped[instance_id] = "DRS says it is not a drill instance: never terminated automatically"
        elif found.get("jobID") not in job_ids:
            skipped[instance_id] = f"launched by job {found.get('jobID')}, not by this drill"
        else:
            chosen.append(instance_id)
    batches = [
        CleanupBatch(index=i, recovery_instance_ids=chosen[start : start + MAX_PER_CALL])
        for i, start in enumerate(range(0, len(chosen), MAX_PER_CALL))
    ]
    return cleanup.model_copy(update={"status": CleanupStatus.TERMINATING, "batches": batches, "skipped": skipped})


def record_batch(
    cleanup: DrillCleanup, index: int, now: datetime, *, job_id: str | None = None, error: str | None = None
) -> DrillCleanup:
    """One batch's result: a TERMINATE job, or an error (failed for good after MAX_ATTEMPTS)."""
    done = cleanup.model_copy(deep=True)
    batch = done.batches[index]
    batch.attempts += 1
    batch.at = now
    if job_id is not None:
        batch.status, batch.job_id, batch.error = BatchStatus.STARTED, job_id, error
    else:
        batch.error = error
        if batch.attempts >= MAX_ATTEMPTS:
            batch.status = BatchStatus.FAILED
    if all(b.status is not BatchStatus.PENDING for b in done.batches):
        done.status, done.finished_at = CleanupStatus.DONE, now
    return done


def extend(cleanup: DrillCleanup, minutes: int, by: str, now: datetime) -> DrillCleanup:
    """An operator pushed the TTL back; the warning goes out again before the new expiry."""
    if cleanup.status is not CleanupStatus.SCHEDULED:
        raise ValueError(f"cleanup is {cleanup.status}: only a scheduled cleanup can be extended")
    return cleanup.model_copy(
        update={
            "expires_at": max(cleanup.expires_at, now) + timedelta(minutes=minutes),
            "notified_at": None,
            "extensions": [*cleanup.extensions, f"{by} +{minutes} min at {now.isoformat()}"],
        }
    )


def keep(cleanup: DrillCleanup, by: str) -> DrillCleanup:
    """An operator keeps the instances for good: nothing is terminated automatically."""
    if cleanup.status is not CleanupStatus.SCHEDULED:
        raise ValueError(f"cleanup is {cleanup.status}: only a scheduled cleanup can be kept")
    return cleanup.model_copy(update={"status": CleanupStatus.KEPT, "kept_by": by})


def summary(cleanup: DrillCleanup) -> dict[str, Any]:
    """The cleanup as the report and the events show it."""
    terminated = [i for b in cleanup.batches if b.status is BatchStatus.STARTED for i in b.recovery_instance_ids]
    failed = [i for b in cleanup.batches if b.status is BatchStatus.FAILED for i in b.recovery_instance_ids]
    return {
        **cleanup.to_wire(),
        "terminated": len(terminated),
        "failed": len(failed),
        "skippedCount": len(cleanup.skipped),
    }
