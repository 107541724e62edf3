"""Recovery points: which PIT snapshot each server launches from, what pre-flight checks, the data-loss window.

Pure: the DRS look-ups are done by the caller and passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from drwave.core.preflight import Problem
from drwave.models.execution import Execution, ServerState, WaveState
from drwave.models.recovery import RecoveryPoint, RecoveryPointMode


class Snapshot(Protocol):
    """A PIT snapshot found in DRS for one server."""

    @property
    def snapshot_id(self) -> str: ...

    @property
    def taken_at(self) -> datetime: ...


def describe(point: RecoveryPoint) -> str:
    """One line for people: what the execution recovers to."""
    if point.mode is RecoveryPointMode.POINT_IN_TIME and point.at is not None:
        return f"point in time {point.at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    if point.mode is RecoveryPointMode.SNAPSHOTS:
        return f"explicit snapshots for {len(point.snapshot_ids)} servers"
    return "latest (DRS snapshots the replicated data at launch)"


def missing_snapshots(point: RecoveryPoint, servers: list[str], found: Mapping[str, Snapshot | None]) -> list[str]:
    """The servers that have no usable snapshot for this recovery point (in the order given)."""
    if point.latest:
        return []
    return [sid for sid in servers if found.get(sid) is None]


def check_recovery_point(
    point: RecoveryPoint, wave_servers: Mapping[str, list[str]], found: Mapping[str, Snapshot | None], now: datetime
) -> list[Problem]:
    """Pre-flight: the point is not in the future and every server has a snapshot for it, each one named."""
    if point.latest:
        return []
    if point.at is not None and point.at > now:
        return [Problem("RECOVERY_POINT_IN_FUTURE", f"recovery point {point.at.isoformat()} is in the future")]
    problems = []
    for wave_id, servers in wave_servers.items():
        for sid in missing_snapshots(point, servers, found):
            if point.mode is RecoveryPointMode.SNAPSHOTS and sid not in point.snapshot_ids:
                text = f"{sid} has no snapshot id in recoveryPoint.snapshotIds"
            elif point.mode is RecoveryPointMode.SNAPSHOTS:
                text = f"{sid} has no recovery snapshot {point.snapshot_ids[sid]}"
            else:
                text = f"{sid} has no recovery snapshot at or before {describe(point).removeprefix('point in time ')}"
            problems.append(Problem("NO_RECOVERY_SNAPSHOT", text, wave_id, None, sid))
    return problems


def chosen_instant(execution: Execution, wave: WaveState, server: ServerState) -> datetime | None:
    """The instant the execution recovers this server to: `at`, else when its job started (LATEST/explicit)."""
    if execution.recovery_point.at is not None:
        return execution.recovery_point.at
    chunk = next((c for c in wave.chunks if server.source_server_id in c.source_server_ids), None)
    return chunk.started_at if chunk else None


def data_loss_window(execution: Execution, wave: WaveState, server: ServerState) -> timedelta | None:
    """The chosen instant minus the snapshot's time; zero for LATEST (a fresh snapshot at launch), None if unknown.

    The simulator does not model replication lag, so LATEST counts as no data loss.
    """
    if execution.recovery_point.latest:
        return timedelta(0) if server.job_id else None
    instant = chosen_instant(execution, wave, server)
    if server.snapshot_taken_at is None or instant is None:
        return None
    return max(instant - server.snapshot_taken_at, timedelta(0))
