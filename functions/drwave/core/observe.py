"""Comparing what DRS reports with what an execution has recorded."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from drwave.core import messages as m
from drwave.models.events import DrsJobStateChange, ServerLaunch
from drwave.models.execution import ChunkStatus, Execution, LaunchStatus

FAILURE_EVENTS = frozenset({"SNAPSHOT_FAIL", "CONVERSION_FAIL", "LAUNCH_FAILED", "USING_PREVIOUS_SNAPSHOT_FAILED"})


def observation(
    job_id: str, status: str, servers: Iterable[tuple[str, str, str | None]], errors: dict[str, str] | None = None
) -> m.JobObserved:
    """A JobObserved message from (server id, launch status, recovery instance id) triples and known errors."""
    errors = errors or {}
    return m.JobObserved(
        job_id,
        status,
        [m.ServerResult(job_id, sid, LaunchStatus(st), iid, errors.get(sid)) for sid, st, iid in servers],
    )


def job_observed(change: DrsJobStateChange) -> m.JobObserved:
    """The message a "DRS Job State Change" event carries."""
    return m.JobObserved(
        change.job_id,
        change.status,
        [
            m.ServerResult(change.job_id, s.source_server_id, s.launch_status, s.recovery_instance_id, s.error)
            for s in change.servers
        ],
    )


def job_changed(execution: Execution, seen: m.JobObserved) -> bool:
    """True when DRS reports something about this job that the execution has not recorded."""
    found = execution.wave_for_job(seen.job_id)
    if found is None:
        return False
    wave, chunk = found
    if chunk.job_status != seen.status:
        return True
    for result in seen.servers:
        server = wave.servers.get(result.source_server_id)
        if server is None:
            continue
        if not server.launch_status.final and result.launch_status.final:
            return True
        if result.recovery_instance_id and result.recovery_instance_id != server.recovery_instance_id:
            return True
    return False


def newly_failed(execution: Execution, seen: m.JobObserved) -> list[str]:
    """Servers DRS reports FAILED that the execution does not yet know failed."""
    found = execution.wave_for_job(seen.job_id)
    if found is None:
        return []
    wave, _ = found
    return [
        r.source_server_id
        for r in seen.servers
        if r.launch_status is LaunchStatus.FAILED
        and (s := wave.servers.get(r.source_server_id)) is not None
        and s.launch_status is not LaunchStatus.FAILED
    ]


def failure_reasons(log_items: Iterable[dict]) -> dict[str, str]:
    """Server id -> the first failure DRS logged for it (event name and raw error)."""
    reasons: dict[str, str] = {}
    for item in log_items:
        event = item.get("event", "")
        data = item.get("eventData") or {}
        sid = data.get("sourceServerID")
        if event in FAILURE_EVENTS and sid and sid not in reasons:
            reasons[sid] = f"{event}: {data['rawError']}" if data.get("rawError") else event
    return reasons


def state_change(execution: Execution, seen: m.JobObserved, reasons: dict[str, str]) -> DrsJobStateChange:
    """The "DRS Job State Change" event for an observed job."""
    found = execution.wave_for_job(seen.job_id)
    assert found is not None
    wave, _ = found
    return DrsJobStateChange(
        execution_id=execution.execution_id,
        wave_id=wave.wave_id,
        job_id=seen.job_id,
        status=seen.status,
        servers=[
            ServerLaunch(
                source_server_id=r.source_server_id,
                launch_status=r.launch_status,
                recovery_instance_id=r.recovery_instance_id,
                error=reasons.get(r.source_server_id),
            )
            for r in seen.servers
        ],
    )


def jobs_to_poll(execution: Execution, now: datetime, tick_seconds: int) -> list[str]:
    """Job ids worth a DescribeJobs on this tick: in flight, or ended with instance ids still unknown.

    Polling is adaptive by job age (every 15 s for the first 2 min, 30 s until 10 min, then 60 s),
    computed from the tick period so no per-job bookkeeping write is needed; with ticks of 60 s
    or more every in-flight job is polled on every tick.
    """
    due: list[str] = []
    for wave in execution.waves.values():
        for chunk in wave.chunks:
            if chunk.job_id is None or chunk.started_at is None:
                continue
            missing_ids = chunk.status is ChunkStatus.ENDED and any(
                wave.servers[s].launch_status is LaunchStatus.LAUNCHED and not wave.servers[s].recovery_instance_id
                for s in chunk.source_server_ids
            )
            if missing_ids or (chunk.status is ChunkStatus.STARTED and poll_due(now - chunk.started_at, tick_seconds)):
                due.append(chunk.job_id)
    return due


def poll_interval(age: timedelta) -> int:
    """Seconds between polls of a job of this age: 15 -> 30 -> 60."""
    if age < timedelta(minutes=2):
        return 15
    if age < timedelta(minutes=10):
        return 30
    return 60


def poll_due(age: timedelta, tick_seconds: int) -> bool:
    """True when a poll boundary of the job's interval fell within the last tick period."""
    interval = poll_interval(age)
    if tick_seconds >= interval:
        return True
    seconds = age.total_seconds()
    return int(seconds // interval) != int((seconds - tick_seconds) // interval)


def last_pending_in_chunk(execution: Execution, result: m.ServerResult) -> bool:
    """True when this result is the last one its chunk waits for."""
    found = execution.wave_for_job(result.job_id)
    if found is None:
        return False
    wave, chunk = found
    pending = [s for s in chunk.source_server_ids if not wave.servers[s].launch_status.final]
    return pending == [result.source_server_id] and result.launch_status.final
