"""Admission of DRS jobs against the quotas of one account+region, shared by all executions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drwave.models.capacity import CapacityLedger, Reservation, Waiter

MAX_SERVERS_PER_JOB = 100
MAX_ACTIVE_JOBS = 20
MAX_SERVERS_IN_ACTIVE_JOBS = 500


@dataclass(frozen=True)
class DrsLimits:
    """DRS quotas (DRS User Guide, "Disaster recovery at scale"); adjustable ones can be raised."""

    servers_per_job: int = MAX_SERVERS_PER_JOB
    active_jobs: int = MAX_ACTIVE_JOBS
    servers_in_active_jobs: int = MAX_SERVERS_IN_ACTIVE_JOBS


def chunk_key(execution_id: str, wave_id: str, index: int) -> str:
    """Ledger key of one wave chunk."""
    return f"{execution_id}#{wave_id}#{index}"


def split_into_chunks(server_ids: list[str], size: int = MAX_SERVERS_PER_JOB) -> list[list[str]]:
    """Split a wave's servers into DRS jobs of at most `size` servers, keeping order."""
    if size < 1:
        raise ValueError("chunk size must be positive")
    return [server_ids[i : i + size] for i in range(0, len(server_ids), size)]


def admission_denial(ledger: CapacityLedger, key: str, server_ids: list[str], limits: DrsLimits) -> str | None:
    """Why this chunk cannot start now, or None when it fits (a held reservation always fits)."""
    if key in ledger.reservations:
        return None
    if len(server_ids) > limits.servers_per_job:
        return f"{len(server_ids)} servers exceed {limits.servers_per_job} per job"
    if ledger.active_jobs + 1 > limits.active_jobs:
        return f"{ledger.active_jobs} of {limits.active_jobs} concurrent DRS jobs in use"
    if ledger.active_servers + len(server_ids) > limits.servers_in_active_jobs:
        return (
            f"{ledger.active_servers} of {limits.servers_in_active_jobs} servers in active jobs in use, "
            f"chunk needs {len(server_ids)}"
        )
    busy = ledger.busy_servers().intersection(server_ids)
    if busy:
        return f"{len(busy)} server(s) already in an active job: {', '.join(sorted(busy)[:3])}"
    return None


def reserve(
    ledger: CapacityLedger, key: str, execution_id: str, wave_id: str, server_ids: list[str], now: datetime
) -> CapacityLedger:
    """A copy of the ledger holding capacity for this chunk and no longer listing its wave as waiting."""
    new = ledger.model_copy(deep=True)
    new.reservations.setdefault(
        key,
        Reservation(execution_id=execution_id, wave_id=wave_id, source_server_ids=server_ids, reserved_at=now),
    )
    new.waiters.pop(f"{execution_id}#{wave_id}", None)
    return new


def release(ledger: CapacityLedger, keys: list[str]) -> CapacityLedger:
    """A copy of the ledger without these reservations."""
    new = ledger.model_copy(deep=True)
    for key in keys:
        new.reservations.pop(key, None)
    return new


def add_waiter(ledger: CapacityLedger, execution_id: str, wave_id: str, now: datetime) -> CapacityLedger:
    """A copy of the ledger with this wave waiting for capacity (kept in arrival order)."""
    new = ledger.model_copy(deep=True)
    new.waiters.setdefault(f"{execution_id}#{wave_id}", Waiter(execution_id=execution_id, wave_id=wave_id, since=now))
    return new
