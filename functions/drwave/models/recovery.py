"""Recovery points: which replicated data an execution launches from (DRS point-in-time snapshots)."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, model_validator

from drwave.models import limits
from drwave.models.base import Model, UtcDatetime
from drwave.models.limits import listing

SNAPSHOT_ID = re.compile(r"^pit-[0-9a-zA-Z]{17}$")  # StartRecoveryRequestSourceServer.recoverySnapshotID
_SERVER_ID = re.compile(r"^s-[0-9a-zA-Z]{17}$")


class PreflightFinding(Model):
    """A pre-flight problem or warning seen when the execution was requested (kept for its evidence report)."""

    severity: str  # PROBLEM (it ran because an admin forced it) | WARNING
    code: str
    message: str = Field(max_length=1000)
    wave_id: str | None = None
    source_server_id: str | None = None


MAX_FINDINGS_KEPT = 50


class RecoveryPointMode(StrEnum):
    """LATEST: DRS snapshots the replicated data at launch. POINT_IN_TIME: every server's newest PIT snapshot
    taken at or before `at` (one consistent point across the plan). SNAPSHOTS: explicit snapshot ids per server."""

    LATEST = "LATEST"
    POINT_IN_TIME = "POINT_IN_TIME"
    SNAPSHOTS = "SNAPSHOTS"


class RecoveryPoint(Model):
    """The recovery point an execution asks for."""

    mode: RecoveryPointMode = RecoveryPointMode.LATEST
    at: UtcDatetime | None = None
    snapshot_ids: dict[str, str] = Field(default_factory=dict, max_length=limits.MAX_GROUP_SERVERS)

    @model_validator(mode="after")
    def _consistent(self) -> RecoveryPoint:
        if (self.at is not None) != (self.mode is RecoveryPointMode.POINT_IN_TIME):
            raise ValueError("at: give it exactly when mode is POINT_IN_TIME")
        if bool(self.snapshot_ids) != (self.mode is RecoveryPointMode.SNAPSHOTS):
            raise ValueError("snapshotIds: give them exactly when mode is SNAPSHOTS")
        bad_keys = [k for k in self.snapshot_ids if not _SERVER_ID.match(k)]
        if bad_keys:
            raise ValueError(f"snapshotIds: keys must be source server ids: {listing(bad_keys)}")
        bad = [v for v in self.snapshot_ids.values() if not SNAPSHOT_ID.match(v)]
        if bad:
            raise ValueError(f"snapshotIds: not DRS snapshot ids (pit- + 17 alphanumerics): {listing(bad)}")
        return self

    @property
    def latest(self) -> bool:
        """True when DRS takes the snapshot at launch."""
        return self.mode is RecoveryPointMode.LATEST
