"""Request models of the control plane (camelCase on the wire, unknown fields rejected)."""

from __future__ import annotations

from pydantic import Field, StrictBool, StrictInt, model_validator

from drwave.models.base import Model
from drwave.models.execution import ExecutionStatus, ExecutionType
from drwave.models.plan import Identifier
from drwave.models.recovery import RecoveryPoint


class StartExecution(Model):
    """Start a plan as a DRILL or a RECOVERY."""

    plan_id: Identifier
    execution_type: ExecutionType = ExecutionType.DRILL
    # Callers may pick the id (the seed's initialize_execution does) so a retried request is idempotent.
    execution_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
    force: StrictBool = False  # admin only: start although pre-flight found problems
    recovery_point: RecoveryPoint = Field(default_factory=RecoveryPoint)
    drill_ttl_minutes: StrictInt | None = Field(default=None, ge=0, le=525600)  # overrides the plan's


class ChangeCleanup(Model):
    """An operator's change to a finished drill's automatic cleanup: extend the TTL, or keep the instances."""

    extend_minutes: StrictInt | None = Field(default=None, ge=1, le=525600)
    keep_forever: StrictBool = False

    @model_validator(mode="after")
    def _one_change(self) -> ChangeCleanup:
        if (self.extend_minutes is not None) == self.keep_forever:
            raise ValueError("give exactly one of extendMinutes or keepForever: true")
        return self


class PredictRequest(Model):
    """A what-if RTO prediction of a plan."""

    runs: StrictInt = Field(default=100, ge=1, le=500)
    approval_delay_seconds: StrictInt = Field(default=120, ge=0, le=604800)  # assumed per gate
    history_executions: StrictInt = Field(default=10, ge=0, le=50)  # the plan's newest ended executions to learn from


class ExecutionFilter(Model):
    """Filters and paging of an execution listing."""

    status: ExecutionStatus | None = None
    plan_id: Identifier | None = None
    execution_type: ExecutionType | None = None
    limit: int = Field(default=50, ge=1, le=100)
    next_token: str | None = Field(default=None, max_length=2048)
