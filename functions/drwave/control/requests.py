"""Request models of the control plane (camelCase on the wire, unknown fields rejected)."""

from __future__ import annotations

from pydantic import Field, StrictBool

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


class ExecutionFilter(Model):
    """Filters and paging of an execution listing."""

    status: ExecutionStatus | None = None
    plan_id: Identifier | None = None
    execution_type: ExecutionType | None = None
    limit: int = Field(default=50, ge=1, le=100)
    next_token: str | None = Field(default=None, max_length=2048)
