"""What the decision core reacts to: commands, observations of DRS/SSM, and the passage of time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from drwave.models.execution import ActionStatus, LaunchStatus


@dataclass(frozen=True)
class Start:
    """The execution was just created: open its first waves."""


@dataclass(frozen=True)
class Tick:
    """Time passed: check gates, timeouts, and repair anything a lost event left behind."""


@dataclass(frozen=True)
class GateApproved:
    """An operator approved a waiting wave."""

    wave_id: str
    approved_by: str = "unknown"


@dataclass(frozen=True)
class CancelRequested:
    """An operator asked to cancel the execution."""

    requested_by: str = "unknown"


@dataclass(frozen=True)
class PauseRequested:
    """An operator asked to hold the execution: in-flight work finishes, no new wave opens."""

    requested_by: str = "unknown"
    requested_at: datetime | None = None  # when the operator asked; None applies it as the newest request


@dataclass(frozen=True)
class ErrorReported:
    """An outside caller (a workflow, a script) reported an error against the execution, for the audit trail."""

    stage: str
    error: str
    reported_by: str = "unknown"


@dataclass(frozen=True)
class ResumeRequested:
    """An operator lifted a pause."""

    requested_by: str = "unknown"
    requested_at: datetime | None = None  # see PauseRequested


@dataclass(frozen=True)
class WaveFinished:
    """A wave reached a terminal status (the planner's trigger to open dependants)."""

    wave_id: str


@dataclass(frozen=True)
class ServersResolved:
    """The wave's protection groups resolved to these source servers (in launch order)."""

    wave_id: str
    source_server_ids: list[str]
    chunk_size: int = 100


@dataclass(frozen=True)
class ResolutionFailed:
    """The wave's servers could not be resolved (e.g. a tag selector matched nothing)."""

    wave_id: str
    reason: str


@dataclass(frozen=True)
class ChunkStarting:
    """Capacity is reserved for a chunk and a launch token issued; StartRecovery comes next."""

    wave_id: str
    index: int
    launch_token: str


@dataclass(frozen=True)
class ChunkStarted:
    """DRS accepted (or we found) the job of a chunk."""

    wave_id: str
    index: int
    job_id: str
    # Source server id -> (PIT snapshot id, when it was taken) StartRecovery named; empty for LATEST.
    recovery_points: dict[str, tuple[str, datetime]] = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkDeferred:
    """A chunk could not start now (capacity, conflict); it stays waiting and is retried."""

    wave_id: str
    index: int
    reason: str
    launch_token: str | None = None  # the attempt this is about; a stale attempt's news is ignored


@dataclass(frozen=True)
class ChunkRejected:
    """DRS rejected a chunk for good (e.g. ValidationException): its servers count as failed."""

    wave_id: str
    index: int
    reason: str
    launch_token: str | None = None


@dataclass(frozen=True)
class LaunchSettingsApplied:
    """A chunk's launch settings are in DRS and the launch templates; they are not applied again."""

    wave_id: str
    index: int
    servers: int  # servers that have settings
    changed: int  # of those, servers whose configuration or template had to change


@dataclass(frozen=True)
class LaunchSettingsFailed:
    """A chunk's launch settings could not be applied: it is not launched (wrong settings are worse)."""

    wave_id: str
    index: int
    reason: str


@dataclass(frozen=True)
class ServerResult:
    """A participating server's launch outcome (from an aws.drs event or a job observation)."""

    job_id: str
    source_server_id: str
    launch_status: LaunchStatus
    recovery_instance_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class JobObserved:
    """A DRS job as read from DescribeJobs."""

    job_id: str
    status: str
    servers: list[ServerResult] = field(default_factory=list)


@dataclass(frozen=True)
class ActionsClaimed:
    """A run-actions invocation claims the phase's PENDING runs before sending them (one sender wins)."""

    wave_id: str
    phase: str


@dataclass(frozen=True)
class ActionsStarted:
    """The SSM runs of a wave phase were sent (name -> command or automation id)."""

    wave_id: str
    phase: str
    runs: dict[str, str]


@dataclass(frozen=True)
class ActionResult:
    """One SSM run of a wave phase finished."""

    wave_id: str
    phase: str
    command_id: str
    status: ActionStatus
    error: str | None = None


Message = (
    Start
    | Tick
    | GateApproved
    | CancelRequested
    | PauseRequested
    | ResumeRequested
    | ErrorReported
    | WaveFinished
    | ServersResolved
    | ResolutionFailed
    | ChunkStarting
    | ChunkStarted
    | ChunkDeferred
    | ChunkRejected
    | LaunchSettingsApplied
    | LaunchSettingsFailed
    | ServerResult
    | JobObserved
    | ActionsClaimed
    | ActionsStarted
    | ActionResult
)
