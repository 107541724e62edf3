"""The decision core: `decide(execution, message, now)` -> new execution + events to publish.

Pure: no boto3, no clock, no I/O. Every message is idempotent against the state it is applied to,
so duplicated, late and reordered deliveries are no-ops, and the Tick repairs what lost ones left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from drwave.core import messages as m
from drwave.core import objectives
from drwave.core.capacity import split_into_chunks
from drwave.models.base import to_millis
from drwave.models.events import (
    DrsJobStarted,
    EventDetail,
    ExecutionFinished,
    ExecutionStarted,
    WaveActionsRequested,
    WaveCompleted,
    WaveFailed,
    WaveGateWaiting,
    WaveStartRequested,
)
from drwave.models.execution import (
    ActionRun,
    ActionStatus,
    Chunk,
    ChunkStatus,
    Execution,
    ExecutionStatus,
    LaunchStatus,
    ServerState,
    TimelineEntry,
    WaveState,
    WaveStatus,
)
from drwave.models.plan import FailurePolicy, ImpactLevel, Wave

# A launch token older than this without a job is presumed lost (its Lambda timed out or crashed).
LAUNCH_LEASE = timedelta(minutes=2)
# How long a requested step may stay unacknowledged before the tick asks again.
RETRY_AFTER = timedelta(seconds=30)
HALT_CANCEL = "CANCEL"
HALT_FAILURE = "FAILURE"


@dataclass
class Decision:
    """The new state and the events that must be published after it is saved."""

    execution: Execution
    events: list[EventDetail] = field(default_factory=list)
    changed: bool = False


class _Ctx:
    """Mutable scratchpad for one decision: the copy being changed, the events, and `now`.

    Copy-on-write: the execution is copied shallowly, and a wave, chunk, server or action run is copied the
    first time this decision changes it (`wave`, `chunk`, `server`, `run`). Everything else is shared with the
    input, which is never mutated; the store writes only the parts that are new objects.
    """

    def __init__(self, execution: Execution, now: datetime) -> None:
        self.exe = execution.model_copy(update={"waves": dict(execution.waves), "timeline": list(execution.timeline)})
        self.now = now
        self.events: list[EventDetail] = []
        self.changed = False
        self._own: set[int] = set()  # ids of the objects and containers this decision copied, so may change

    def log(self, event: str, wave_id: str | None = None, detail: str = "") -> None:
        self.exe.timeline.append(TimelineEntry(at=self.now, event=event, wave_id=wave_id, detail=detail))
        self.changed = True

    def emit(self, event: EventDetail) -> None:
        self.events.append(event)
        self.changed = True

    def peek(self, wave_id: str) -> WaveState | None:
        """The wave as this decision sees it, for reading only."""
        return self.exe.waves.get(wave_id)

    def wave(self, wave_id: str) -> WaveState | None:
        """The wave, copied on first use so this decision may change its own fields."""
        state = self.exe.waves.get(wave_id)
        if state is None or id(state) in self._own:
            return state
        state = state.model_copy()
        self._own.add(id(state))
        self.exe.waves[wave_id] = state
        return state

    def writable(self, state: WaveState) -> WaveState:
        """The changeable copy of a wave, whichever version of it the caller holds."""
        found = self.wave(state.wave_id)
        assert found is not None  # waves are never removed from an execution
        return found

    def _container(self, owner: Any, name: str) -> Any:
        current = getattr(owner, name)
        if id(current) not in self._own:
            current = current.copy()
            self._own.add(id(current))
            setattr(owner, name, current)
        return current

    def warnings(self, state: WaveState) -> list[str]:
        """The wave's warnings, to append to."""
        return self._container(self.writable(state), "warnings")

    def chunk(self, state: WaveState, index: int) -> Chunk:
        """A chunk of the wave that this decision may change."""
        chunks = self._container(self.writable(state), "chunks")
        chunk = chunks[index]
        if id(chunk) not in self._own:
            chunk = chunk.model_copy()
            self._own.add(id(chunk))
            chunks[index] = chunk
        return chunk

    def server(self, state: WaveState, server_id: str) -> ServerState:
        """A server of the wave that this decision may change."""
        servers = self._container(self.writable(state), "servers")
        server = servers[server_id]
        if id(server) not in self._own:
            server = server.model_copy()
            self._own.add(id(server))
            servers[server_id] = server
        return server

    def run(self, state: WaveState, phase: str, name: str) -> ActionRun:
        """An action run of the wave that this decision may change."""
        runs = self._container(self.writable(state), "pre_actions" if phase == "pre" else "post_actions")
        run = runs[name]
        if id(run) not in self._own:
            run = run.model_copy()
            self._own.add(id(run))
            runs[name] = run
        return run

    def spec(self, wave_id: str) -> Wave:
        return self.exe.plan.wave(wave_id)


def decide(execution: Execution, message: m.Message, now: datetime) -> Decision:
    """Apply one message to an execution; the input is never mutated."""
    if execution.status.terminal:
        return Decision(execution)
    ctx = _Ctx(execution, to_millis(now))  # what it records reads back equal: stores may keep it in memory
    _HANDLERS[type(message)](ctx, message)
    _refresh_status(ctx)
    if not ctx.changed:
        return Decision(execution)
    return Decision(ctx.exe, ctx.events, True)


# --- planner: dependency graph, gates, halting ------------------------------------------------------


def _on_start(ctx: _Ctx, _: m.Start) -> None:
    if ctx.exe.status is not ExecutionStatus.PENDING:
        return
    ctx.exe.status = ExecutionStatus.RUNNING
    ctx.exe.started_at = ctx.now
    ctx.log("EXECUTION_STARTED", detail=f"{ctx.exe.execution_type} of plan {ctx.exe.plan.id}")
    ctx.emit(
        ExecutionStarted(
            execution_id=ctx.exe.execution_id,
            plan_id=ctx.exe.plan.id,
            execution_type=ctx.exe.execution_type,
            wave_count=len(ctx.exe.plan.waves),
        )
    )
    _advance(ctx)


def _on_wave_finished(ctx: _Ctx, _: m.WaveFinished) -> None:
    _advance(ctx)


def _advance(ctx: _Ctx) -> None:
    """Open every wave whose dependencies completed; skip those that can never run."""
    if ctx.exe.status is ExecutionStatus.PENDING:
        return
    progressed = True
    while progressed:  # skipping one wave can make its dependants skippable: iterate to a fixpoint
        progressed = False
        for spec in ctx.exe.plan.waves:
            state = ctx.exe.waves[spec.id]
            if state.status not in (WaveStatus.PENDING, WaveStatus.WAITING_APPROVAL):
                continue
            if ctx.exe.halt:
                _close_unstarted(ctx, state)
                progressed = True
                continue
            if state.status is WaveStatus.WAITING_APPROVAL:
                if state.approved_by and not ctx.exe.paused_by:  # approved while the execution was paused
                    _open_wave(ctx, state, spec)
                    progressed = True
                continue
            deps = [ctx.exe.waves[d] for d in spec.depends_on]
            blocked = [d for d in deps if d.status.terminal and not d.status.succeeded]
            if blocked:
                _end_wave(ctx, state, WaveStatus.SKIPPED, f"dependency {blocked[0].wave_id} {blocked[0].status}")
                progressed = True
            elif all(d.status.succeeded for d in deps) and not ctx.exe.paused_by:
                _open_wave(ctx, state, spec)
                progressed = True
    _finish_if_done(ctx)


def _open_wave(ctx: _Ctx, state: WaveState, spec: Wave) -> None:
    state = ctx.writable(state)
    if spec.pause_before_wave is not None and state.approved_by is None:
        state.status = WaveStatus.WAITING_APPROVAL
        state.gate_opened_at = ctx.now
        timeout_at = ctx.now + timedelta(minutes=spec.pause_before_wave.timeout_minutes)
        ctx.log("GATE_WAITING", spec.id, f"approval needed before {timeout_at:%H:%M:%S}")
        ctx.emit(
            WaveGateWaiting(
                execution_id=ctx.exe.execution_id,
                wave_id=spec.id,
                timeout_at=timeout_at,
                message=spec.pause_before_wave.message,
            )
        )
        return
    state.started_at = ctx.now
    if spec.pre_actions:
        state.status = WaveStatus.PRE_ACTIONS
        _request_actions(ctx, state, spec, "pre")
    else:
        _request_launch(ctx, state)


def _on_gate_approved(ctx: _Ctx, msg: m.GateApproved) -> None:
    state = ctx.wave(msg.wave_id)
    if state is None or state.status is not WaveStatus.WAITING_APPROVAL:
        return
    if state.approved_by is not None:
        return
    state.approved_by = msg.approved_by
    ctx.log("GATE_APPROVED", state.wave_id, f"by {msg.approved_by}")
    if ctx.exe.halt:
        _close_unstarted(ctx, state)
    elif not ctx.exe.paused_by:
        _open_wave(ctx, state, ctx.spec(state.wave_id))
    _finish_if_done(ctx)


def _newest_hold_request(ctx: _Ctx, requested_at: datetime | None) -> bool:
    """Record a pause/resume request unless a newer one was already applied (last request wins)."""
    newest = ctx.exe.hold_requested_at
    if requested_at is not None and newest is not None and requested_at <= newest:
        return False
    if requested_at is not None:  # an untimed request (an older client) applies as the newest, as it always did
        ctx.exe.hold_requested_at = requested_at
        ctx.changed = True
    return True


def _on_pause(ctx: _Ctx, msg: m.PauseRequested) -> None:
    if ctx.exe.halt or not _newest_hold_request(ctx, msg.requested_at) or ctx.exe.paused_by:
        return
    ctx.exe.paused_by = msg.requested_by
    ctx.log("EXECUTION_PAUSED", detail=f"by {msg.requested_by}: in-flight work continues, no new wave opens")


def _on_resume(ctx: _Ctx, msg: m.ResumeRequested) -> None:
    # A resume that overtakes its pause is still recorded, so the late pause then finds itself outdated.
    if not _newest_hold_request(ctx, msg.requested_at) or not ctx.exe.paused_by:
        return
    ctx.exe.paused_by = None
    ctx.log("EXECUTION_RESUMED", detail=f"by {msg.requested_by}")
    _advance(ctx)


def _on_error_reported(ctx: _Ctx, msg: m.ErrorReported) -> None:
    # Audit only: an outside caller's error never changes the execution's course (it may cancel for that).
    ctx.log("ERROR_REPORTED", detail=f"{msg.stage}: {msg.error[:500]} (by {msg.reported_by})")


def _on_cancel(ctx: _Ctx, msg: m.CancelRequested) -> None:
    if ctx.exe.halt == HALT_CANCEL:
        return
    ctx.exe.halt = HALT_CANCEL
    ctx.log("CANCEL_REQUESTED", detail=f"by {msg.requested_by}")
    for state in list(ctx.exe.waves.values()):
        if state.status in (WaveStatus.PENDING, WaveStatus.WAITING_APPROVAL):
            _close_unstarted(ctx, state)
        elif state.status is WaveStatus.LAUNCHING:
            _abandon_waiting_chunks(ctx, state, "execution cancelled")
            _check_wave(ctx, state)
        elif state.status is WaveStatus.PRE_ACTIONS:
            if all(r.status is ActionStatus.PENDING for r in state.pre_actions.values()):
                _end_wave(ctx, state, WaveStatus.CANCELLED, "execution cancelled before its pre-actions ran")
            else:
                _check_wave(ctx, state)
    _finish_if_done(ctx)


def _close_unstarted(ctx: _Ctx, state: WaveState) -> None:
    """End a wave that never started because the execution is halting."""
    if ctx.exe.halt == HALT_CANCEL:
        _end_wave(ctx, state, WaveStatus.CANCELLED, "execution cancelled before the wave started")
    else:
        _end_wave(ctx, state, WaveStatus.SKIPPED, "execution stopped after a failure")


def _finish_if_done(ctx: _Ctx) -> None:
    exe = ctx.exe
    if any(not w.status.terminal for w in exe.waves.values()) or _jobs_in_flight(exe):
        return
    if _awaiting_instance_ids(exe, ctx.now):
        return  # a terminal execution takes no more news: first learn which instances to clean up

    statuses = {w.status for w in exe.waves.values()}
    if exe.halt == HALT_CANCEL:
        final = ExecutionStatus.CANCELLED
    elif WaveStatus.FAILED in statuses or WaveStatus.SKIPPED in statuses:
        final = ExecutionStatus.FAILED
    elif WaveStatus.COMPLETED_WITH_WARNINGS in statuses:
        final = ExecutionStatus.COMPLETED_WITH_WARNINGS
    else:
        final = ExecutionStatus.COMPLETED
    exe.status = final
    exe.ended_at = ctx.now
    ctx.log("EXECUTION_FINISHED", detail=str(final))
    measured = [objectives.execution_rto(exe), objectives.worst_rpo(exe)]
    for event, detail in objectives.timeline_lines(measured):
        ctx.log(event, detail=detail)
    ctx.emit(
        ExecutionFinished(
            execution_id=exe.execution_id,
            execution_type=exe.execution_type,
            status=final,
            started_at=exe.started_at,
            ended_at=ctx.now,
            **objectives.event_fields(measured),
        )
    )


# How long an ended job may take to report its recovery instance ids before the execution ends without them.
INSTANCE_ID_GRACE = timedelta(minutes=10)


def _awaiting_instance_ids(exe: Execution, now: datetime) -> bool:
    """True while a recently ended job still owes the recovery instance id of a launched server."""
    return any(
        c.status is ChunkStatus.ENDED
        and c.ended_at is not None
        and now - c.ended_at < INSTANCE_ID_GRACE
        and any(
            w.servers[s].launch_status is LaunchStatus.LAUNCHED and not w.servers[s].recovery_instance_id
            for s in c.source_server_ids
        )
        for w in exe.waves.values()
        for c in w.chunks
    )


def _jobs_in_flight(exe: Execution) -> bool:
    return any(c.status in (ChunkStatus.STARTING, ChunkStatus.STARTED) for w in exe.waves.values() for c in w.chunks)


def _only_gates_wait(exe: Execution) -> bool:
    """True when some wave waits for approval and nothing else is in flight."""
    waves = exe.waves.values()
    return any(w.status is WaveStatus.WAITING_APPROVAL for w in waves) and not any(w.status.active for w in waves)


def _refresh_status(ctx: _Ctx) -> None:
    """Derive RUNNING / WAITING_APPROVAL / PAUSED / CANCELLING from the waves (terminal ones are set explicitly)."""
    exe = ctx.exe
    if exe.status.terminal or exe.status is ExecutionStatus.PENDING:
        return
    if exe.halt == HALT_CANCEL:
        status = ExecutionStatus.CANCELLING
    elif exe.paused_by:
        status = ExecutionStatus.PAUSED
    elif _only_gates_wait(exe):
        status = ExecutionStatus.WAITING_APPROVAL
    else:
        status = ExecutionStatus.RUNNING
    if status is not exe.status:
        exe.status = status
        ctx.changed = True


# --- wave lifecycle: actions -> launch -> results -> completion ------------------------------------------


def _request_actions(ctx: _Ctx, state: WaveState, spec: Wave, phase: str) -> None:
    state = ctx.writable(state)
    runs = {a.name: ActionRun(name=a.name) for a in spec.actions(phase)}
    if phase == "pre":
        state.pre_actions = runs
    else:
        state.post_actions = runs
    ctx.log("ACTIONS_REQUESTED", state.wave_id, f"{phase}: {', '.join(a.name for a in spec.actions(phase))}")
    ctx.emit(WaveActionsRequested(execution_id=ctx.exe.execution_id, wave_id=state.wave_id, phase=phase))


def _request_launch(ctx: _Ctx, state: WaveState) -> None:
    state = ctx.writable(state)
    state.status = WaveStatus.LAUNCHING
    state.launch_requested_at = ctx.now
    ctx.log("WAVE_LAUNCH_REQUESTED", state.wave_id)
    ctx.emit(WaveStartRequested(execution_id=ctx.exe.execution_id, wave_id=state.wave_id))


def _on_servers_resolved(ctx: _Ctx, msg: m.ServersResolved) -> None:
    state = ctx.wave(msg.wave_id)
    if state is None or state.status is not WaveStatus.LAUNCHING or state.servers_resolved:
        return
    spec = ctx.spec(msg.wave_id)
    state.servers_resolved = True
    state.servers = {
        sid: ServerState(source_server_id=sid, impact=spec.impact_of(sid)) for sid in msg.source_server_ids
    }
    state.chunks = [
        Chunk(index=i, source_server_ids=ids)
        for i, ids in enumerate(split_into_chunks(msg.source_server_ids, msg.chunk_size))
    ]
    ctx.log(
        "SERVERS_RESOLVED",
        state.wave_id,
        f"{len(msg.source_server_ids)} servers in {len(state.chunks)} job(s)",
    )
    if ctx.exe.halt == HALT_CANCEL:
        _abandon_waiting_chunks(ctx, state, "execution cancelled")
    _check_wave(ctx, state)


def _on_resolution_failed(ctx: _Ctx, msg: m.ResolutionFailed) -> None:
    state = ctx.wave(msg.wave_id)
    if state is None or state.status is not WaveStatus.LAUNCHING or state.servers_resolved:
        return
    _fail_wave(ctx, state, msg.reason)


def _chunk(ctx: _Ctx, wave_id: str, index: int) -> tuple[WaveState, Chunk] | None:
    """The wave and one of its chunks, both changeable (chunk messages are few: copying is cheap)."""
    state = ctx.peek(wave_id)
    if state is None or not 0 <= index < len(state.chunks):
        return None
    chunk = ctx.chunk(state, index)
    return ctx.writable(state), chunk


def _on_chunk_starting(ctx: _Ctx, msg: m.ChunkStarting) -> None:
    found = _chunk(ctx, msg.wave_id, msg.index)
    if found is None or ctx.exe.halt == HALT_CANCEL:
        return
    state, chunk = found
    if state.status is not WaveStatus.LAUNCHING:
        return
    # Only a waiting chunk, or one whose previous attempt is presumed dead, may get a new attempt:
    # a live lease means another invocation is about to call StartRecovery for it.
    if chunk.status is not ChunkStatus.WAITING and not lease_lapsed(chunk, ctx.now):
        return
    chunk.status = ChunkStatus.STARTING
    chunk.launch_token = msg.launch_token
    chunk.starting_at = ctx.now
    chunk.attempts += 1
    ctx.changed = True


def _stale_attempt(chunk: Chunk, launch_token: str | None) -> bool:
    """True when news about a launch attempt concerns an older attempt than the chunk's current one."""
    return chunk.status is ChunkStatus.STARTING and launch_token != chunk.launch_token


def _on_chunk_started(ctx: _Ctx, msg: m.ChunkStarted) -> None:
    found = _chunk(ctx, msg.wave_id, msg.index)
    if found is None:
        return
    state, chunk = found
    if chunk.status not in (ChunkStatus.WAITING, ChunkStatus.STARTING):
        return  # a duplicate: the chunk already has its job
    chunk.status = ChunkStatus.STARTED
    chunk.job_id = msg.job_id
    chunk.started_at = ctx.now
    chunk.last_error = None
    for sid in chunk.source_server_ids:
        server = ctx.server(state, sid)
        server.job_id = msg.job_id
        server.launch_status = LaunchStatus.IN_PROGRESS
        server.updated_at = ctx.now
        if sid in msg.recovery_points:
            server.recovery_snapshot_id, server.snapshot_taken_at = msg.recovery_points[sid]
    ctx.log("DRS_JOB_STARTED", state.wave_id, f"{msg.job_id}: {len(chunk.source_server_ids)} servers")
    ctx.emit(
        DrsJobStarted(
            execution_id=ctx.exe.execution_id,
            wave_id=state.wave_id,
            job_id=msg.job_id,
            chunk_index=msg.index,
            server_count=len(chunk.source_server_ids),
        )
    )


def _on_chunk_deferred(ctx: _Ctx, msg: m.ChunkDeferred) -> None:
    found = _chunk(ctx, msg.wave_id, msg.index)
    if found is None:
        return
    state, chunk = found
    if chunk.status not in (ChunkStatus.WAITING, ChunkStatus.STARTING) or _stale_attempt(chunk, msg.launch_token):
        return
    first_time = chunk.last_error is None
    if (chunk.status, chunk.launch_token, chunk.last_error) != (ChunkStatus.WAITING, None, msg.reason):
        chunk.status = ChunkStatus.WAITING
        chunk.launch_token = None
        chunk.starting_at = None
        chunk.last_error = msg.reason
        ctx.changed = True
    if state.status is not WaveStatus.LAUNCHING or ctx.exe.halt == HALT_CANCEL:
        # Nobody will launch it any more: the wave ended or the execution is being cancelled.
        _abandon_waiting_chunks(ctx, state, msg.reason)
        _check_wave(ctx, state)
        _finish_if_done(ctx)
    elif first_time:
        ctx.log("CHUNK_WAITING", state.wave_id, f"chunk {msg.index}: {msg.reason}")


def _on_chunk_rejected(ctx: _Ctx, msg: m.ChunkRejected) -> None:
    found = _chunk(ctx, msg.wave_id, msg.index)
    if found is None:
        return
    state, chunk = found
    if chunk.status not in (ChunkStatus.WAITING, ChunkStatus.STARTING) or _stale_attempt(chunk, msg.launch_token):
        return
    _fail_chunk(ctx, state, chunk, "CHUNK_REJECTED", msg.reason, f"DRS rejected the job: {msg.reason}")


def _fail_chunk(ctx: _Ctx, state: WaveState, chunk: Chunk, event: str, reason: str, server_error: str) -> None:
    chunk = ctx.chunk(state, chunk.index)
    chunk.status = ChunkStatus.ABANDONED
    chunk.last_error = reason
    for sid in chunk.source_server_ids:
        server = ctx.server(state, sid)
        server.launch_status = LaunchStatus.FAILED
        server.error = server_error
        server.updated_at = ctx.now
    ctx.log(event, state.wave_id, f"chunk {chunk.index}: {reason}")
    _check_wave(ctx, state)
    _finish_if_done(ctx)


def _on_launch_settings_applied(ctx: _Ctx, msg: m.LaunchSettingsApplied) -> None:
    found = _chunk(ctx, msg.wave_id, msg.index)
    if found is None:
        return
    state, chunk = found
    if chunk.launch_settings_applied or chunk.status not in (ChunkStatus.WAITING, ChunkStatus.STARTING):
        return
    chunk.launch_settings_applied = True
    ctx.changed = True
    if msg.servers:  # a chunk none of whose servers has settings only remembers that it was checked
        unchanged = msg.servers - msg.changed
        ctx.log(
            "LAUNCH_SETTINGS_APPLIED",
            state.wave_id,
            f"chunk {msg.index}: {msg.servers} servers ({msg.changed} changed, {unchanged} already as wanted)",
        )


def _on_launch_settings_failed(ctx: _Ctx, msg: m.LaunchSettingsFailed) -> None:
    found = _chunk(ctx, msg.wave_id, msg.index)
    if found is None:
        return
    state, chunk = found
    # Only before its job: a chunk holding a live launch attempt or a job is past the point of applying settings.
    if chunk.launch_settings_applied or chunk.status is not ChunkStatus.WAITING:
        return
    _fail_chunk(ctx, state, chunk, "LAUNCH_SETTINGS_FAILED", msg.reason, f"launch settings not applied: {msg.reason}")


def _on_server_result(ctx: _Ctx, msg: m.ServerResult) -> None:
    found = ctx.exe.wave_for_job(msg.job_id)
    if found is None:
        return  # a job we have not recorded yet: the reconciler repairs it once the job is adopted
    state, chunk = found
    if _apply_server_result(ctx, state, msg):
        _end_chunk_if_done(ctx, state, chunk)
        _check_wave(ctx, state)
        _finish_if_done(ctx)


def _apply_server_result(ctx: _Ctx, state: WaveState, msg: m.ServerResult) -> bool:
    current = ctx.exe.waves[state.wave_id].servers.get(msg.source_server_id)
    if current is None or current.job_id != msg.job_id:
        return False
    status = current.launch_status
    if not status.final and msg.launch_status != status:
        status = msg.launch_status
    new_status = status is not current.launch_status
    instance = msg.recovery_instance_id or current.recovery_instance_id
    error = msg.error if new_status else current.error
    if msg.error and status is LaunchStatus.FAILED:
        error = msg.error
    if not new_status and (instance, error) == (current.recovery_instance_id, current.error):
        return False  # a duplicate or stale result: nothing is copied or written
    server = ctx.server(state, msg.source_server_id)
    server.launch_status, server.recovery_instance_id, server.error = status, instance, error
    server.updated_at = ctx.now
    ctx.changed = True
    if new_status and status.final and status is not LaunchStatus.LAUNCHED:
        # Launches are recorded on the server itself; the audit trail keeps the exceptions.
        ctx.log(f"SERVER_{status}", state.wave_id, msg.source_server_id)
    return True


def _on_job_observed(ctx: _Ctx, msg: m.JobObserved) -> None:
    found = ctx.exe.wave_for_job(msg.job_id)
    if found is None:
        return
    state, chunk = found
    if chunk.job_status != msg.status:
        chunk = ctx.chunk(state, chunk.index)
        chunk.job_status = msg.status
        ctx.changed = True
    for result in msg.servers:
        _apply_server_result(ctx, state, result)
    if msg.status == "COMPLETED":
        # DRS says the job is over: a server it never reported as launched did not launch.
        for sid in chunk.source_server_ids:
            if not ctx.exe.waves[state.wave_id].servers[sid].launch_status.final:
                _apply_server_result(
                    ctx,
                    state,
                    m.ServerResult(msg.job_id, sid, LaunchStatus.FAILED, error="job completed without launching it"),
                )
    _end_chunk_if_done(ctx, state, chunk)
    _check_wave(ctx, state)
    _finish_if_done(ctx)


def _end_chunk_if_done(ctx: _Ctx, state: WaveState, chunk: Chunk) -> None:
    state = ctx.exe.waves[state.wave_id]
    servers, chunk = state.servers, state.chunks[chunk.index]
    if chunk.status is ChunkStatus.STARTED and all(servers[s].launch_status.final for s in chunk.source_server_ids):
        chunk = ctx.chunk(state, chunk.index)
        chunk.status = ChunkStatus.ENDED
        chunk.ended_at = ctx.now
        ctx.changed = True


def _abandon_waiting_chunks(ctx: _Ctx, state: WaveState, reason: str) -> None:
    for waiting in list(ctx.exe.waves[state.wave_id].chunks):
        if waiting.status is ChunkStatus.WAITING:
            chunk = ctx.chunk(state, waiting.index)
            chunk.status = ChunkStatus.ABANDONED
            chunk.last_error = reason
            for sid in chunk.source_server_ids:
                ctx.server(state, sid).error = f"not launched: {reason}"
            ctx.changed = True


def _check_wave(ctx: _Ctx, state: WaveState) -> None:
    """Move a wave forward once everything it waits for has finished."""
    state = ctx.exe.waves[state.wave_id]  # the latest version this decision made (read-only here)
    if state.status is WaveStatus.PRE_ACTIONS:
        _check_actions(ctx, state, "pre")
    elif state.status is WaveStatus.LAUNCHING:
        _check_launch(ctx, state)
    elif state.status is WaveStatus.POST_ACTIONS:
        _check_actions(ctx, state, "post")


def _check_launch(ctx: _Ctx, state: WaveState) -> None:
    if not state.servers_resolved or any(
        c.status in (ChunkStatus.WAITING, ChunkStatus.STARTING, ChunkStatus.STARTED) for c in state.chunks
    ):
        return
    if ctx.exe.halt == HALT_CANCEL:
        launched = sum(s.launch_status is LaunchStatus.LAUNCHED for s in state.servers.values())
        _end_wave(ctx, state, WaveStatus.CANCELLED, f"cancelled; {launched} server(s) had launched")
        return
    # Anything that did not end LAUNCHED (FAILED, or TERMINATED before we saw it launch) did not recover.
    failed = [s for s in state.servers.values() if s.launch_status is not LaunchStatus.LAUNCHED]
    critical = [s.source_server_id for s in failed if s.impact is ImpactLevel.CRITICAL]
    if critical:
        _fail_wave(ctx, state, f"{len(critical)} critical server(s) failed to launch: {', '.join(critical[:5])}")
        return
    ctx.warnings(state).extend(f"optional server {s.source_server_id} failed to launch" for s in failed)
    spec = ctx.spec(state.wave_id)
    if spec.post_actions:
        state = ctx.writable(state)
        state.status = WaveStatus.POST_ACTIONS
        _request_actions(ctx, state, spec, "post")
    else:
        _complete_wave(ctx, state)


def _on_actions_claimed(ctx: _Ctx, msg: m.ActionsClaimed) -> None:
    state = ctx.peek(msg.wave_id)
    if state is None or state.status is not _PHASE_STATUS[msg.phase] or ctx.exe.halt == HALT_CANCEL:
        return
    for name, pending in list(state.action_runs(msg.phase).items()):
        if pending.status is ActionStatus.PENDING:
            run = ctx.run(state, msg.phase, name)
            run.status = ActionStatus.RUNNING
            run.started_at = ctx.now
            ctx.changed = True


def _on_actions_started(ctx: _Ctx, msg: m.ActionsStarted) -> None:
    state = ctx.peek(msg.wave_id)
    if state is None:
        return
    for name, command_id in msg.runs.items():
        run = state.action_runs(msg.phase).get(name)
        if run is not None and run.status is ActionStatus.RUNNING and run.command_id is None:
            ctx.run(state, msg.phase, name).command_id = command_id
            ctx.log("ACTION_STARTED", state.wave_id, f"{msg.phase} {name}: {command_id}")


_PHASE_STATUS = {"pre": WaveStatus.PRE_ACTIONS, "post": WaveStatus.POST_ACTIONS}


def _on_action_result(ctx: _Ctx, msg: m.ActionResult) -> None:
    state = ctx.peek(msg.wave_id)
    if state is None:
        return
    found = next((r for r in state.action_runs(msg.phase).values() if r.command_id == msg.command_id), None)
    if found is None or found.status.final:
        return
    run = ctx.run(state, msg.phase, found.name)
    run.status = msg.status
    run.error = msg.error
    run.ended_at = ctx.now
    ctx.log(
        f"ACTION_{msg.status}",
        state.wave_id,
        f"{msg.phase} {run.name}" + (f": {msg.error}" if msg.error else ""),
    )
    _check_wave(ctx, state)
    _finish_if_done(ctx)


def _check_actions(ctx: _Ctx, state: WaveState, phase: str) -> None:
    state = ctx.exe.waves[state.wave_id]
    runs = state.action_runs(phase)
    if any(not r.status.final for r in runs.values()):
        return
    if phase == "pre" and ctx.exe.halt == HALT_CANCEL:
        _end_wave(ctx, state, WaveStatus.CANCELLED, "execution cancelled during the pre-actions")
        return
    spec = ctx.spec(state.wave_id)
    policies = {a.name: a.on_failure for a in spec.actions(phase)}
    failed = [r for r in runs.values() if r.status is not ActionStatus.SUCCEEDED]
    stopping = [r.name for r in failed if policies[r.name] is FailurePolicy.STOP]
    if stopping:
        _fail_wave(ctx, state, f"{phase}-action {stopping[0]} {runs[stopping[0]].status}")
        return
    ctx.warnings(state).extend(f"{phase}-action {r.name} {r.status} (onFailure CONTINUE)" for r in failed)
    if phase == "post":
        _complete_wave(ctx, state)
    elif ctx.exe.halt:
        _close_unstarted(ctx, state)
    else:
        _request_launch(ctx, state)


def _complete_wave(ctx: _Ctx, state: WaveState) -> None:
    state = ctx.exe.waves[state.wave_id]
    status = WaveStatus.COMPLETED_WITH_WARNINGS if state.warnings else WaveStatus.COMPLETED
    _end_wave(ctx, state, status, "; ".join(state.warnings) or None)


def _fail_wave(ctx: _Ctx, state: WaveState, reason: str) -> None:
    _abandon_waiting_chunks(ctx, state, f"wave failed: {reason}")
    _end_wave(ctx, state, WaveStatus.FAILED, reason)
    if ctx.spec(state.wave_id).failure_policy is FailurePolicy.STOP and not ctx.exe.halt:
        ctx.exe.halt = HALT_FAILURE
        ctx.log("EXECUTION_STOPPING", state.wave_id, "failure policy STOP: no further waves start")


def _end_wave(ctx: _Ctx, state: WaveState, status: WaveStatus, reason: str | None) -> None:
    state = ctx.writable(state)
    state.status = status
    state.reason = reason
    state.ended_at = ctx.now
    ctx.log(f"WAVE_{status}", state.wave_id, reason or "")
    exe_id = ctx.exe.execution_id
    rto = [objectives.wave_rto(ctx.exe, state)]
    for event, detail in objectives.timeline_lines(rto):
        ctx.log(event, state.wave_id, detail)
    if status.succeeded:
        servers = state.servers.values()
        ctx.emit(
            WaveCompleted(
                execution_id=exe_id,
                wave_id=state.wave_id,
                status=status,
                launched=sum(s.launch_status is LaunchStatus.LAUNCHED for s in servers),
                failed=sum(s.launch_status is LaunchStatus.FAILED for s in servers),
                **objectives.event_fields(rto),
            )
        )
    else:
        ctx.emit(
            WaveFailed(
                execution_id=exe_id,
                wave_id=state.wave_id,
                status=status,
                reason=reason or "",
                **objectives.event_fields(rto),
            )
        )


# --- time: gates, timeouts and self-repair ------------------------------------------------------------


# How long a created execution may wait for its "Execution Requested" before the tick starts it: the control plane
# creates the record first and then publishes, so a lost or failed publish must not leave it PENDING for ever.
START_GRACE = timedelta(minutes=2)


def _on_tick(ctx: _Ctx, _: m.Tick) -> None:
    if ctx.exe.status is ExecutionStatus.PENDING:
        if ctx.now >= ctx.exe.created_at + START_GRACE:
            ctx.log("START_REPAIRED", detail="its start request was not seen within 2 min: the tick starts it")
            _on_start(ctx, m.Start())
        return
    for spec in ctx.exe.plan.waves:
        state = ctx.exe.waves[spec.id]
        gate_open = state.status is WaveStatus.WAITING_APPROVAL and state.approved_by is None
        if gate_open and spec.pause_before_wave and state.gate_opened_at:  # approved gates wait for a resume
            if ctx.now >= state.gate_opened_at + timedelta(minutes=spec.pause_before_wave.timeout_minutes):
                _fail_wave(ctx, state, f"approval gate timed out after {spec.pause_before_wave.timeout_minutes} min")
        elif state.status.active and state.started_at:
            if ctx.now >= state.started_at + timedelta(minutes=spec.timeout_minutes):
                _fail_wave(ctx, state, f"wave timed out after {spec.timeout_minutes} min")
            else:
                _time_out_actions(ctx, state, spec)
        _repair_requests(ctx, state)
    _advance(ctx)


def _time_out_actions(ctx: _Ctx, state: WaveState, spec: Wave) -> None:
    state = ctx.exe.waves[state.wave_id]
    if state.status not in (WaveStatus.PRE_ACTIONS, WaveStatus.POST_ACTIONS):
        return
    phase = "pre" if state.status is WaveStatus.PRE_ACTIONS else "post"
    limits = {a.name: a.timeout_seconds for a in spec.actions(phase)}
    for name, running in list(state.action_runs(phase).items()):
        if (
            running.status is ActionStatus.RUNNING
            and running.started_at
            and ctx.now >= running.started_at + timedelta(seconds=limits[running.name])
        ):
            run = ctx.run(state, phase, name)
            run.status = ActionStatus.TIMED_OUT
            run.error = f"no result within {limits[run.name]} s"
            run.ended_at = ctx.now
            ctx.log("ACTION_TIMED_OUT", state.wave_id, f"{phase} {run.name}")
    _check_wave(ctx, state)


def _repair_requests(ctx: _Ctx, state: WaveState) -> None:
    """Ask again for a step whose request or acknowledgement may have been lost."""
    state = ctx.exe.waves[state.wave_id]  # what this tick has made of it so far (it may have just failed)
    if needs_launch_attempt(state, ctx.now):
        if state.launch_requested_at is None or ctx.now - state.launch_requested_at >= RETRY_AFTER:
            state = ctx.writable(state)
            state.launch_requested_at = ctx.now
            ctx.emit(WaveStartRequested(execution_id=ctx.exe.execution_id, wave_id=state.wave_id))
    elif state.status in (WaveStatus.PRE_ACTIONS, WaveStatus.POST_ACTIONS):
        phase = "pre" if state.status is WaveStatus.PRE_ACTIONS else "post"
        if any(r.status is ActionStatus.PENDING for r in state.action_runs(phase).values()):
            ctx.emit(WaveActionsRequested(execution_id=ctx.exe.execution_id, wave_id=state.wave_id, phase=phase))


def needs_launch_attempt(state: WaveState, now: datetime) -> bool:
    """True when the start-wave handler has work: unresolved servers, waiting chunks, or a lapsed lease."""
    if any(lease_lapsed(c, now) for c in state.chunks):
        return True  # even in an ended wave: the job may exist and must be found and tracked
    if state.status is not WaveStatus.LAUNCHING:
        return False
    return not state.servers_resolved or any(c.status is ChunkStatus.WAITING for c in state.chunks)


def lease_lapsed(chunk: Chunk, now: datetime) -> bool:
    """True when a chunk's launch attempt is old enough to be presumed dead."""
    return (
        chunk.status is ChunkStatus.STARTING
        and chunk.starting_at is not None
        and now - chunk.starting_at >= LAUNCH_LEASE
    )


_HANDLERS: dict[type, Callable[[_Ctx, Any], None]] = {
    m.Start: _on_start,
    m.Tick: _on_tick,
    m.GateApproved: _on_gate_approved,
    m.CancelRequested: _on_cancel,
    m.PauseRequested: _on_pause,
    m.ResumeRequested: _on_resume,
    m.ErrorReported: _on_error_reported,
    m.WaveFinished: _on_wave_finished,
    m.ServersResolved: _on_servers_resolved,
    m.ResolutionFailed: _on_resolution_failed,
    m.ChunkStarting: _on_chunk_starting,
    m.ChunkStarted: _on_chunk_started,
    m.ChunkDeferred: _on_chunk_deferred,
    m.ChunkRejected: _on_chunk_rejected,
    m.LaunchSettingsApplied: _on_launch_settings_applied,
    m.LaunchSettingsFailed: _on_launch_settings_failed,
    m.ServerResult: _on_server_result,
    m.JobObserved: _on_job_observed,
    m.ActionsClaimed: _on_actions_claimed,
    m.ActionsStarted: _on_actions_started,
    m.ActionResult: _on_action_result,
}


_HOLDING = (ChunkStatus.STARTING, ChunkStatus.STARTED)


def freed_chunks(before: Execution, after: Execution) -> list[tuple[str, int]]:
    """(wave id, chunk index) of chunks that held DRS capacity before and no longer do."""
    freed = []
    for wave_id, wave in after.waves.items():
        old = before.waves[wave_id].chunks
        for chunk in wave.chunks:
            if chunk.index < len(old) and old[chunk.index].status in _HOLDING and chunk.status not in _HOLDING:
                freed.append((wave_id, chunk.index))
    return freed
