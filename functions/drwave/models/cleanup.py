"""Automatic drill cleanup: when a finished DRILL's recovery instances are terminated, and what happened."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from drwave.models.base import Model, UtcDatetime


class CleanupStatus(StrEnum):
    """Lifecycle of one drill's cleanup."""

    SCHEDULED = "SCHEDULED"  # waiting for its TTL
    KEPT = "KEPT"  # an operator chose to keep the instances: never terminated automatically
    TERMINATING = "TERMINATING"  # TerminateRecoveryInstances batches being sent
    DONE = "DONE"  # every batch was sent (each batch's own outcome is recorded)

    @property
    def pending(self) -> bool:
        """True while the tick still has something to do for it."""
        return self in (CleanupStatus.SCHEDULED, CleanupStatus.TERMINATING)


class BatchStatus(StrEnum):
    """One TerminateRecoveryInstances call."""

    PENDING = "PENDING"
    STARTED = "STARTED"  # DRS accepted it: a TERMINATE job
    FAILED = "FAILED"  # DRS refused it for good (not throttling)


class CleanupBatch(Model):
    """At most 200 recovery instances terminated by one call (the API's limit)."""

    index: int
    recovery_instance_ids: list[str] = Field(max_length=200)
    status: BatchStatus = BatchStatus.PENDING
    job_id: str | None = None
    error: str | None = None
    attempts: int = 0
    at: UtcDatetime | None = None


class DrillCleanup(Model):
    """The cleanup record of one DRILL execution (its own item, written after the execution ended)."""

    execution_id: str
    account_id: str
    region: str
    ttl_minutes: int
    notice_minutes: int
    ended_at: UtcDatetime  # when the drill ended: the TTL counts from here
    expires_at: UtcDatetime
    status: CleanupStatus = CleanupStatus.SCHEDULED
    notified_at: UtcDatetime | None = None
    kept_by: str | None = None
    extensions: list[str] = Field(default_factory=list)  # "<by> +<minutes> min at <when>"
    instance_ids: list[str] = Field(default_factory=list)  # the execution's own record of what it launched
    skipped: dict[str, str] = Field(default_factory=dict)  # instance id -> why it is not terminated
    batches: list[CleanupBatch] = Field(default_factory=list)
    finished_at: UtcDatetime | None = None
    version: int = 0
