"""An execution: one run of a recovery plan, with per-wave, per-job and per-server state."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, PrivateAttr

from drwave.models.base import Model, UtcDatetime
from drwave.models.plan import ImpactLevel, ProtectionGroup, RecoveryPlan
from drwave.models.recovery import PreflightFinding, RecoveryPoint


class ExecutionType(StrEnum):
    """DRILL launches isolated test instances; RECOVERY is a real failover."""

    DRILL = "DRILL"
    RECOVERY = "RECOVERY"


class ExecutionStatus(StrEnum):
    """Lifecycle of an execution."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING_APPROVAL = "WAITING_APPROVAL"  # nothing runs but a wave's approval gate: waits for an approver
    PAUSED = "PAUSED"  # an operator holds it: in-flight work finishes, no new wave opens until resumed
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_WARNINGS = "COMPLETED_WITH_WARNINGS"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        """True once nothing more will happen."""
        return self in TERMINAL_EXECUTION


TERMINAL_EXECUTION = frozenset(
    {
        ExecutionStatus.CANCELLED,
        ExecutionStatus.COMPLETED,
        ExecutionStatus.COMPLETED_WITH_WARNINGS,
        ExecutionStatus.FAILED,
    }
)


class WaveStatus(StrEnum):
    """Lifecycle of a wave inside an execution."""

    PENDING = "PENDING"
    WAITING_APPROVAL = "WAITING_APPROVAL"
    PRE_ACTIONS = "PRE_ACTIONS"
    LAUNCHING = "LAUNCHING"
    POST_ACTIONS = "POST_ACTIONS"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_WARNINGS = "COMPLETED_WITH_WARNINGS"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        """True once the wave will not change again."""
        return self in TERMINAL_WAVE

    @property
    def active(self) -> bool:
        """True while the wave has work in flight (actions or DRS jobs)."""
        return self in ACTIVE_WAVE

    @property
    def succeeded(self) -> bool:
        """True when dependants may start."""
        return self in (WaveStatus.COMPLETED, WaveStatus.COMPLETED_WITH_WARNINGS)


TERMINAL_WAVE = frozenset(
    {
        WaveStatus.COMPLETED,
        WaveStatus.COMPLETED_WITH_WARNINGS,
        WaveStatus.FAILED,
        WaveStatus.SKIPPED,
        WaveStatus.CANCELLED,
    }
)
ACTIVE_WAVE = frozenset({WaveStatus.PRE_ACTIONS, WaveStatus.LAUNCHING, WaveStatus.POST_ACTIONS})


class LaunchStatus(StrEnum):
    """Per-server launch status, using DRS's own LaunchStatus values."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    LAUNCHED = "LAUNCHED"
    FAILED = "FAILED"
    TERMINATED = "TERMINATED"

    @property
    def final(self) -> bool:
        """True once DRS has decided the server's launch."""
        return self in (LaunchStatus.LAUNCHED, LaunchStatus.FAILED, LaunchStatus.TERMINATED)


class ChunkStatus(StrEnum):
    """A chunk is one DRS job's worth (<= 100) of a wave's servers."""

    WAITING = "WAITING"  # not started: waiting for its turn or for DRS capacity
    STARTING = "STARTING"  # capacity reserved and a launch token issued; StartRecovery may be in flight
    STARTED = "STARTED"  # a DRS job exists for it
    ENDED = "ENDED"  # every server of the job has a final launch status
    ABANDONED = "ABANDONED"  # never started (cancel, failure, timeout)


class ActionStatus(StrEnum):
    """Status of one SSM action run."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def final(self) -> bool:
        """True once the action will not change again."""
        return self in (ActionStatus.SUCCEEDED, ActionStatus.FAILED, ActionStatus.TIMED_OUT)


class ServerState(Model):
    """One source server's recovery inside a wave."""

    source_server_id: str
    impact: ImpactLevel = ImpactLevel.CRITICAL
    launch_status: LaunchStatus = LaunchStatus.PENDING
    job_id: str | None = None
    recovery_instance_id: str | None = None
    error: str | None = None
    updated_at: UtcDatetime | None = None
    # The PIT snapshot StartRecovery named for this server (None: LATEST, DRS snapshots at launch).
    recovery_snapshot_id: str | None = None
    snapshot_taken_at: UtcDatetime | None = None


class Chunk(Model):
    """The servers of one DRS job and the job's tracking state."""

    index: int
    source_server_ids: list[str]
    status: ChunkStatus = ChunkStatus.WAITING
    launch_token: str | None = None
    starting_at: UtcDatetime | None = None
    job_id: str | None = None
    job_status: str | None = None
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    next_poll_at: UtcDatetime | None = None
    poll_count: int = 0
    attempts: int = 0
    last_error: str | None = None
    launch_settings_applied: bool = False  # once per server per execution, before the job starts


class ActionRun(Model):
    """One pre/post action run."""

    name: str
    status: ActionStatus = ActionStatus.PENDING
    command_id: str | None = None
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    error: str | None = None


class WaveState(Model):
    """Runtime state of one wave."""

    wave_id: str
    status: WaveStatus = WaveStatus.PENDING
    reason: str | None = None
    gate_opened_at: UtcDatetime | None = None
    approved_by: str | None = None
    started_at: UtcDatetime | None = None
    launch_requested_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    servers_resolved: bool = False
    chunks: list[Chunk] = Field(default_factory=list)
    servers: dict[str, ServerState] = Field(default_factory=dict)
    pre_actions: dict[str, ActionRun] = Field(default_factory=dict)
    post_actions: dict[str, ActionRun] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    def action_runs(self, phase: str) -> dict[str, ActionRun]:
        """The action runs of a phase ("pre" or "post")."""
        return self.pre_actions if phase == "pre" else self.post_actions

    def chunk_for_job(self, job_id: str) -> Chunk | None:
        """The chunk tracking this DRS job, if any."""
        return next((c for c in self.chunks if c.job_id == job_id), None)


class TimelineEntry(Model):
    """One line of the audit trail."""

    at: UtcDatetime
    event: str
    wave_id: str | None = None
    detail: str = ""


class Execution(Model):
    """The aggregate every handler loads, decides on and saves with optimistic locking."""

    execution_id: str
    plan: RecoveryPlan
    protection_groups: dict[str, ProtectionGroup]
    execution_type: ExecutionType
    status: ExecutionStatus = ExecutionStatus.PENDING
    halt: str | None = None  # None, "CANCEL" or "FAILURE": no new waves start once set
    paused_by: str | None = None  # set while an operator holds the execution: no new waves open
    # Request time of the newest pause/resume applied: an older (late or redelivered) one is a no-op.
    hold_requested_at: UtcDatetime | None = None
    account_id: str
    region: str
    started_by: str = "unknown"
    retry_of: str | None = None  # the execution whose failed wave this one retries
    recovery_point: RecoveryPoint = Field(default_factory=RecoveryPoint)
    preflight_findings: list[PreflightFinding] = Field(default_factory=list, max_length=50)
    drill_ttl_minutes: int | None = None  # the start's override of the plan's drillTtlMinutes
    created_at: UtcDatetime
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    waves: dict[str, WaveState]
    # The audit trail: only what the engine appended since loading, unless loaded with the whole trail.
    timeline: list[TimelineEntry] = Field(default_factory=list)
    version: int = 0
    _timeline_saved: int = PrivateAttr(default=0)

    def unsaved_timeline(self) -> list[TimelineEntry]:
        """Timeline entries appended since the last load or save."""
        return self.timeline[self._timeline_saved :]

    def mark_timeline_saved(self) -> None:
        """Every entry of the timeline is stored."""
        self._timeline_saved = len(self.timeline)

    @property
    def is_drill(self) -> bool:
        """True for DRILL executions."""
        return self.execution_type is ExecutionType.DRILL

    def wave_for_job(self, job_id: str) -> tuple[WaveState, Chunk] | None:
        """The wave and chunk that own a DRS job."""
        for wave in self.waves.values():
            if chunk := wave.chunk_for_job(job_id):
                return wave, chunk
        return None

    def in_flight_jobs(self) -> list[tuple[WaveState, Chunk]]:
        """Chunks whose DRS job has started and not yet ended."""
        return [(w, c) for w in self.waves.values() for c in w.chunks if c.status is ChunkStatus.STARTED]
