"""Versioned contracts of every event drwave publishes on its bus (source `drwave`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from drwave.models.base import Model, UtcDatetime
from drwave.models.execution import ExecutionStatus, ExecutionType, LaunchStatus, WaveStatus
from drwave.models.recovery import RecoveryPoint

EVENT_SOURCE = "drwave"


class EventDetail(Model):
    """Base of every event detail: the detail-type it travels under and its schema version."""

    DETAIL_TYPE: ClassVar[str]
    schema_version: Literal["1"] = "1"
    execution_id: str = Field(min_length=1)
    # Stable across re-publication (execution id / saved version / position): subscribers de-duplicate by it.
    # Absent on commands published straight by the control plane, which carry no saved decision.
    event_id: str | None = Field(default=None, max_length=200)


class ExecutionRequested(EventDetail):
    """Command: start an execution of a plan (from the API, CLI, a schedule or an alarm)."""

    DETAIL_TYPE = "Execution Requested"
    plan_id: str = Field(min_length=1)
    execution_type: ExecutionType
    started_by: str = "unknown"
    # A retry runs only these waves of the plan (dependencies outside them count as met) and names its original.
    wave_ids: list[str] | None = Field(default=None, min_length=1)
    retry_of: str | None = None
    recovery_point: RecoveryPoint | None = None  # None: LATEST
    drill_ttl_minutes: int | None = None  # overrides the plan's drillTtlMinutes


class ExecutionStarted(EventDetail):
    """Notification: an execution was created and its first waves opened."""

    DETAIL_TYPE = "Execution Started"
    plan_id: str
    execution_type: ExecutionType
    wave_count: int


class WaveGateWaiting(EventDetail):
    """Notification: a wave waits for an operator's approval."""

    DETAIL_TYPE = "Wave Gate Waiting"
    wave_id: str
    timeout_at: UtcDatetime
    message: str = ""


class WaveGateApproved(EventDetail):
    """Command: approve a waiting wave's gate."""

    DETAIL_TYPE = "Wave Gate Approved"
    wave_id: str
    approved_by: str = "unknown"


class ExecutionCancelRequested(EventDetail):
    """Command: stop starting waves and finish as CANCELLED once in-flight jobs end."""

    DETAIL_TYPE = "Execution Cancel Requested"
    requested_by: str = "unknown"


class ExecutionPauseRequested(EventDetail):
    """Command: let in-flight work finish but open no new wave until resumed."""

    DETAIL_TYPE = "Execution Pause Requested"
    requested_by: str = "unknown"
    # Orders pause against resume: EventBridge may redeliver or reorder them, and the envelope time is whole seconds.
    requested_at: UtcDatetime | None = None


class ExecutionResumeRequested(EventDetail):
    """Command: lift a pause."""

    DETAIL_TYPE = "Execution Resume Requested"
    requested_by: str = "unknown"
    requested_at: UtcDatetime | None = None  # see ExecutionPauseRequested


class WaveActionsRequested(EventDetail):
    """Command: run a wave's pre- or post-actions."""

    DETAIL_TYPE = "Wave Actions Requested"
    wave_id: str
    phase: Literal["pre", "post"]


class WaveStartRequested(EventDetail):
    """Command: resolve a wave's servers and launch its DRS jobs (idempotent, retried by the tick)."""

    DETAIL_TYPE = "Wave Start Requested"
    wave_id: str


class DrsJobStarted(EventDetail):
    """Notification: a DRS recovery job was started for a chunk of a wave."""

    DETAIL_TYPE = "DRS Job Started"
    wave_id: str
    job_id: str
    chunk_index: int
    server_count: int


class ServerLaunch(Model):
    """One participating server as observed in a DRS job."""

    source_server_id: str
    launch_status: LaunchStatus
    recovery_instance_id: str | None = None
    error: str | None = None


class DrsJobStateChange(EventDetail):
    """Derived by the reconciler (DRS has no job-level event): a job's observed state changed."""

    DETAIL_TYPE = "DRS Job State Change"
    wave_id: str
    job_id: str
    status: Literal["PENDING", "STARTED", "COMPLETED"]
    servers: list[ServerLaunch]


class WaveCompleted(EventDetail):
    """Notification and trigger for the planner: a wave finished successfully (maybe with warnings)."""

    DETAIL_TYPE = "Wave Completed"
    wave_id: str
    status: Literal[WaveStatus.COMPLETED, WaveStatus.COMPLETED_WITH_WARNINGS]
    launched: int
    failed: int
    # Objectives (absent when not measured or not declared): measured seconds, the target, and whether it was met.
    rto_seconds: float | None = None
    target_rto_minutes: int | None = None
    rto_met: bool | None = None


class WaveFailed(EventDetail):
    """Notification and trigger for the planner: a wave failed, was skipped or cancelled."""

    DETAIL_TYPE = "Wave Failed"
    wave_id: str
    status: Literal[WaveStatus.FAILED, WaveStatus.SKIPPED, WaveStatus.CANCELLED]
    reason: str
    # Objectives (absent when not measured or not declared): measured seconds, the target, and whether it was met.
    rto_seconds: float | None = None
    target_rto_minutes: int | None = None
    rto_met: bool | None = None


class ExecutionFinished(EventDetail):
    """Notification: the execution reached a terminal status."""

    DETAIL_TYPE = "Execution Finished"
    execution_type: ExecutionType
    status: ExecutionStatus
    started_at: UtcDatetime | None = None  # None when it ended before it started (e.g. cancelled while pending)
    ended_at: UtcDatetime
    # Objectives (absent when not measured or not declared): measured seconds, the target, and whether it was met.
    rto_seconds: float | None = None
    target_rto_minutes: int | None = None
    rto_met: bool | None = None
    rpo_seconds: float | None = None  # the largest data-loss window of any server
    target_rpo_minutes: int | None = None
    rpo_met: bool | None = None


class DrillCleanupWarning(EventDetail):
    """Notification: a finished drill's recovery instances will be terminated soon (extend or keep them)."""

    DETAIL_TYPE = "Drill Cleanup Warning"
    expires_at: UtcDatetime
    instance_count: int


class DrillCleanedUp(EventDetail):
    """Notification: a finished drill's TTL ran out and its recovery instances were terminated."""

    DETAIL_TYPE = "Drill Cleaned Up"
    terminated: int
    failed: int
    skipped: int
    job_ids: list[str]


class DrillSkipped(EventDetail):
    """Notification: a scheduled drill occurrence started nothing (pre-flight problems, overlap, blackout...)."""

    DETAIL_TYPE = "Drill Skipped"
    # executionId: the occurrence's deterministic id, the one the drill would have had
    schedule_id: str
    plan_id: str
    scheduled_time: UtcDatetime
    reason: Literal["DISABLED", "BLACKOUT", "OVERLAP", "PLAN_NOT_FOUND", "PREFLIGHT_FAILED", "NOT_RUNNABLE"]
    message: str
    problems: list[str] = Field(default_factory=list)


class DrillOverdue(EventDetail):
    """Notification: a plan's last successful drill is older than its drillEveryDays (sent once per lapse)."""

    DETAIL_TYPE = "Drill Overdue"
    execution_id: str | None = None  # type: ignore[assignment]  # the last successful drill, if there ever was one
    plan_id: str
    drill_every_days: int
    last_drill_at: UtcDatetime | None = None


class FailoverTriggered(EventDetail):
    """Notification: a failover trigger's alarms held and it started an execution (executionId)."""

    DETAIL_TYPE = "Failover Triggered"
    trigger_id: str
    plan_id: str
    mode: Literal["CONFIRM", "AUTOMATIC", "DRY_RUN"]
    execution_type: ExecutionType
    alarms: list[str]
    quorum_since: UtcDatetime
    confirm_by: UtcDatetime | None = None  # CONFIRM: the first waves wait for an admin's approval until then
    confirm_waves: list[str] = Field(default_factory=list)


class FailoverSuppressed(EventDetail):
    """Notification: a failover trigger decided not to start anything, and why (executionId: the one it would have)."""

    DETAIL_TYPE = "Failover Suppressed"
    execution_id: str | None = None  # type: ignore[assignment]  # none when no quorum episode began
    trigger_id: str
    plan_id: str
    reason: Literal[
        "DISARMED", "QUORUM_NOT_MET", "SUSTAIN_NOT_REACHED", "COOL_DOWN", "ALREADY_RUNNING", "PREFLIGHT_FAILED"
    ]
    message: str
    alarms: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


PUBLISHED_EVENTS: tuple[type[EventDetail], ...] = (
    ExecutionRequested,
    ExecutionStarted,
    WaveGateWaiting,
    WaveGateApproved,
    ExecutionCancelRequested,
    ExecutionPauseRequested,
    ExecutionResumeRequested,
    WaveActionsRequested,
    WaveStartRequested,
    DrsJobStarted,
    DrsJobStateChange,
    WaveCompleted,
    WaveFailed,
    ExecutionFinished,
    DrillCleanupWarning,
    DrillCleanedUp,
    DrillSkipped,
    DrillOverdue,
    FailoverTriggered,
    FailoverSuppressed,
)
BY_DETAIL_TYPE: dict[str, type[EventDetail]] = {cls.DETAIL_TYPE: cls for cls in PUBLISHED_EVENTS}


def wire_entries(events: Sequence[EventDetail]) -> list[dict[str, str]]:
    """Events as the outbox stores them and the publisher sends them: detail-type and detail JSON."""
    return [
        {"detailType": e.DETAIL_TYPE, "detail": e.model_dump_json(by_alias=True, exclude_none=True)} for e in events
    ]


def parse_detail(detail_type: str, detail: dict) -> EventDetail:
    """Validate an incoming detail against the model of its detail-type."""
    try:
        model = BY_DETAIL_TYPE[detail_type]
    except KeyError:
        raise ValueError(f"detail-type: unknown drwave event {detail_type!r}") from None
    return model.model_validate(detail)
