"""Start-wave: resolve a wave's servers and launch its DRS jobs, at most one job per chunk.

Triggered by "Wave Start Requested" (from the planner, the tick, or capacity being released).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from drwave.adapters.drs import DrsError, DrsGateway
from drwave.adapters.launch_settings import EC2_RETRYABLE, LaunchSettingsApplier, LaunchTemplateError
from drwave.adapters.sessions import AccountAccessError, acting_for
from drwave.adapters.store import ConcurrentUpdate
from drwave.core import messages as m
from drwave.core.capacity import add_waiter, admission_denial, chunk_key, reserve
from drwave.core.decide import HALT_CANCEL, decide, lease_lapsed
from drwave.core.launch import effective_launch_settings, group_for_server, validate_launch_settings
from drwave.core.recovery_points import describe, missing_snapshots
from drwave.core.servers import resolve_wave_servers
from drwave.engine.log import logger
from drwave.engine.loop import MAX_ATTEMPTS, apply
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.common import detail_of
from drwave.models.events import WaveStartRequested
from drwave.models.execution import Chunk, ChunkStatus, Execution, WaveStatus
from drwave.models.plan import ProtectionGroup

TOKEN_TAG = "drwave:launch-token"
RETRYABLE = frozenset({"ConflictException", "ServiceQuotaExceededException", "ThrottlingException"})


@logger.inject_lambda_context(correlation_id_path="detail.executionId", clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> None:
    """Entry point for "Wave Start Requested"."""
    request = WaveStartRequested.model_validate(detail_of(event))
    launch_wave(deps or default_dependencies(), request.execution_id, request.wave_id)


def launch_wave(deps: Dependencies, execution_id: str, wave_id: str) -> None:
    """Resolve servers if needed, then start every chunk that may start now, in order."""
    execution = deps.store.load_execution(execution_id)
    if execution is None or execution.status.terminal or wave_id not in execution.waves:
        return
    with acting_for(execution_id):
        try:
            _launch_wave(deps, execution, wave_id)
        except AccountAccessError as err:
            if err.retryable:
                raise  # STS throttled or unreachable: the event's retry (or the tick) comes back
            logger.warning("target account unreachable", execution_id=execution_id, wave_id=wave_id, error=str(err))
            _account_unreachable(deps, execution_id, wave_id, str(err))


def _launch_wave(deps: Dependencies, execution: Execution, wave_id: str) -> None:
    execution_id = execution.execution_id
    gateway = deps.drs_for(execution.account_id, execution.region)
    if execution.waves[wave_id].status is WaveStatus.LAUNCHING and not execution.waves[wave_id].servers_resolved:
        groups = [execution.protection_groups[g] for g in execution.plan.wave(wave_id).protection_group_ids]
        inventory = gateway.describe_source_servers() if any(g.server_selection_tags for g in groups) else []
        resolved = apply(
            deps, execution_id, [resolve_wave_servers(wave_id, groups, inventory, deps.limits.servers_per_job)]
        )
        if resolved is None:
            return
        execution = resolved.execution
    for chunk in list(execution.waves[wave_id].chunks):
        if not _launch_chunk(deps, gateway, execution_id, wave_id, chunk.index):
            break  # no capacity for this chunk means none for the next ones either


def _launch_chunk(deps: Dependencies, gateway: DrsGateway, execution_id: str, wave_id: str, index: int) -> bool:
    """Try to start one chunk's job; False when it must wait for capacity."""
    execution = deps.store.load_execution(execution_id)
    if execution is None:
        return False
    wave = execution.waves[wave_id]
    chunk = wave.chunks[index]
    if lease_lapsed(chunk, deps.now()) and chunk.launch_token and chunk.starting_at:
        # An earlier attempt died after reserving: its job may exist. Adopt it rather than start a second.
        job = gateway.find_job_by_tag(TOKEN_TAG, chunk.launch_token, chunk.starting_at - timedelta(minutes=5))
        if job is not None:
            points = _recovery_points(gateway, execution, chunk.source_server_ids)
            _record_started(deps, execution, wave_id, index, job.job_id, points if isinstance(points, dict) else {})
            return True
        if wave.status is not WaveStatus.LAUNCHING or execution.halt == HALT_CANCEL:
            lost = "launch attempt lost; wave no longer launching"
            apply(deps, execution_id, [m.ChunkDeferred(wave_id, index, lost, chunk.launch_token)])
            return True
    elif chunk.status is not ChunkStatus.WAITING:
        return True  # started, ended, or another invocation holds a live lease on it
    if wave.status is not WaveStatus.LAUNCHING or execution.halt == HALT_CANCEL:
        return True
    if not chunk.launch_settings_applied:
        blocked = _apply_launch_settings(deps, gateway, execution, wave_id, chunk)
        if blocked is not None:
            return blocked
    points = _recovery_points(gateway, execution, chunk.source_server_ids)
    if isinstance(points, str):
        apply(deps, execution_id, [m.ChunkRejected(wave_id, index, points)])
        return True
    token = _reserve(deps, execution_id, wave_id, index)
    if token is None:
        return False
    servers = chunk.source_server_ids
    tags = {
        "drwave:execution-id": execution_id,
        "drwave:wave-id": wave_id,
        "drwave:chunk": str(index),
        TOKEN_TAG: token,
    }
    try:
        job = gateway.start_recovery(
            servers, is_drill=execution.is_drill, tags=tags, snapshot_ids={s: p[0] for s, p in points.items()}
        )
    except DrsError as err:
        logger.warning("StartRecovery refused", execution_id=execution_id, wave_id=wave_id, code=err.code)
        message = m.ChunkDeferred if err.code in RETRYABLE else m.ChunkRejected
        apply(deps, execution_id, [message(wave_id, index, str(err), token)])
        return message is m.ChunkRejected
    _record_started(deps, execution, wave_id, index, job.job_id, points)
    return True


def _recovery_points(
    gateway: DrsGateway, execution: Execution, servers: list[str]
) -> dict[str, tuple[str, datetime]] | str:
    """Each server's PIT snapshot (id, time) for the execution's recovery point, or why the chunk cannot launch.

    LATEST needs none (DRS snapshots at launch). A DescribeRecoverySnapshots per server otherwise; DRS errors other
    than throttling (retried by the gateway) propagate, so the event's retry or the tick comes back.
    """
    point = execution.recovery_point
    found = gateway.snapshots_for(point, servers)
    missing = missing_snapshots(point, servers, found)
    if missing:
        return f"no recovery snapshot for {describe(point)}: {', '.join(missing)}"
    return {sid: (f.snapshot_id, f.taken_at) for sid, f in found.items() if f is not None}


def _apply_launch_settings(
    deps: Dependencies, gateway: DrsGateway, execution: Execution, wave_id: str, chunk: Chunk
) -> bool | None:
    """Apply the chunk's launch settings before its capacity is reserved (outside the launch lease).

    None when the chunk may launch; otherwise what `_launch_chunk` returns (it failed, or must wait).
    """
    execution_id, index = execution.execution_id, chunk.index
    groups = [execution.protection_groups[g] for g in execution.plan.wave(wave_id).protection_group_ids]
    if not any(g.has_launch_settings() for g in groups):
        return None
    wave_servers = list(execution.waves[wave_id].servers)
    # A server takes the settings of the first group that holds it; tag selectors need its tags to say which.
    tagged = any(g.server_selection_tags for g in groups)
    tags = {s.source_server_id: s.tags for s in gateway.describe_source_servers(wave_servers)} if tagged else {}
    owner = {sid: group_for_server(groups, sid, tags.get(sid)) for sid in wave_servers}
    problems = _problems(groups, owner, {g.id for s in chunk.source_server_ids if (g := owner.get(s))})
    if problems:
        apply(deps, execution_id, [m.LaunchSettingsFailed(wave_id, index, "; ".join(problems))])
        return True
    ec2 = deps.ec2_for(execution.account_id, execution.region) if deps.ec2_for else None
    applier = LaunchSettingsApplier(gateway, ec2)
    servers = changed = 0
    for sid in chunk.source_server_ids:
        group = owner.get(sid)
        settings = effective_launch_settings(group, sid) if group else None
        if settings is None or settings.is_empty():
            continue
        try:
            applied = applier.apply(sid, settings, note=f"drwave {execution_id} wave {wave_id}")
        except (DrsError, LaunchTemplateError) as err:
            logger.warning("launch settings not applied", execution_id=execution_id, server=sid, error=str(err))
            if err.code in RETRYABLE | EC2_RETRYABLE:
                apply(deps, execution_id, [m.ChunkDeferred(wave_id, index, f"applying launch settings: {err}")])
                return False
            apply(deps, execution_id, [m.LaunchSettingsFailed(wave_id, index, f"{sid}: {err}")])
            return True
        servers += 1
        changed += applied.changed
    apply(deps, execution_id, [m.LaunchSettingsApplied(wave_id, index, servers, changed)])
    return None


def _problems(groups: list[ProtectionGroup], owner: dict[str, ProtectionGroup | None], involved: set[str]) -> list[str]:
    """Launch-settings problems of the groups owning this chunk's servers, checked over their servers in the wave."""
    problems: list[str] = []
    for group in groups:
        if group.id in involved and group.has_launch_settings():
            members = [sid for sid, g in owner.items() if g is not None and g.id == group.id]
            problems.extend(f"protection group {group.id}: {p}" for p in validate_launch_settings(group, members))
    return problems


def _account_unreachable(deps: Dependencies, execution_id: str, wave_id: str, reason: str) -> None:
    """The target account refused us: an unresolved wave fails; a resolved one's waiting chunks are rejected."""
    execution = deps.store.load_execution(execution_id)
    if execution is None:
        return
    wave = execution.waves[wave_id]
    if not wave.servers_resolved:
        apply(deps, execution_id, [m.ResolutionFailed(wave_id, reason)], loaded=execution)
        return
    # A STARTING chunk may have a job we can no longer see: it stays for the tick to retry rather than be dropped.
    waiting = [c.index for c in wave.chunks if c.status is ChunkStatus.WAITING]
    apply(deps, execution_id, [m.ChunkRejected(wave_id, i, reason) for i in waiting], loaded=execution)


def _reserve(deps: Dependencies, execution_id: str, wave_id: str, index: int) -> str | None:
    """Atomically reserve DRS capacity and mark the chunk STARTING; the launch token, or None if denied."""
    for _ in range(MAX_ATTEMPTS):
        execution = deps.store.load_execution(execution_id)
        if execution is None:
            return None
        chunk = execution.waves[wave_id].chunks[index]
        ledger = deps.store.load_ledger(execution.account_id, execution.region)
        key = chunk_key(execution_id, wave_id, index)
        denial = admission_denial(ledger, key, chunk.source_server_ids, deps.limits)
        now = deps.now()
        if denial:
            logger.info("chunk waits for DRS capacity", execution_id=execution_id, wave_id=wave_id, reason=denial)
            # The tick retries waiting chunks anyway; the waiter list only makes the retry prompt.
            with suppress(ConcurrentUpdate):
                deps.store.save_ledger(add_waiter(ledger, execution_id, wave_id, now))
            apply(deps, execution_id, [m.ChunkDeferred(wave_id, index, denial)])
            return None
        token = uuid4().hex
        decision = decide(execution, m.ChunkStarting(wave_id, index, token), now)
        if not decision.changed:
            return None
        try:
            deps.store.save_execution(
                decision.execution, reserve(ledger, key, execution_id, wave_id, chunk.source_server_ids, now)
            )
        except ConcurrentUpdate:
            continue
        return token
    raise ConcurrentUpdate(execution_id)  # Lambda's retry of the whole invocation takes it from here


def _record_started(
    deps: Dependencies,
    execution: Execution,
    wave_id: str,
    index: int,
    job_id: str,
    points: dict[str, tuple[str, datetime]],
) -> None:
    """Index the job for aws.drs events, then record it (and the servers' recovery points) on the chunk."""
    deps.store.put_owner("JOB", job_id, {"executionId": execution.execution_id, "waveId": wave_id})
    apply(deps, execution.execution_id, [m.ChunkStarted(wave_id, index, job_id, points)])
    logger.info("DRS job started", execution_id=execution.execution_id, wave_id=wave_id, job_id=job_id)
