"""The callback event the Step Functions wrapper puts on the bus when one of its steps starts waiting."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from drwave.models.base import Model

WORKFLOW_SOURCE = "drwave.workflow"


class WorkflowTaskWaiting(Model):
    """Sent by the wrapper's `events:putEvents.waitForTaskToken` states (not a drwave domain event)."""

    DETAIL_TYPE: ClassVar[str] = "Workflow Task Waiting"
    execution_id: str = Field(min_length=1)
    step: Literal["gate", "wave", "finish"]
    wave_id: str = ""
    task_token: str = Field(min_length=1, max_length=2048)
