"""The DRS capacity ledger shared by every execution in one account and region."""

from __future__ import annotations

from pydantic import Field

from drwave.models.base import Model, UtcDatetime


class Reservation(Model):
    """Capacity held by one chunk from the moment its launch is attempted until its job ends."""

    execution_id: str
    wave_id: str
    source_server_ids: list[str]
    reserved_at: UtcDatetime
    job_id: str | None = None


class Waiter(Model):
    """A wave that could not get capacity and wants a nudge when some is released."""

    execution_id: str
    wave_id: str
    since: UtcDatetime


class CapacityLedger(Model):
    """Active DRS jobs (by chunk key) and waiting waves, for one account+region."""

    account_id: str
    region: str
    reservations: dict[str, Reservation] = Field(default_factory=dict)
    waiters: dict[str, Waiter] = Field(default_factory=dict)
    version: int = 0

    @property
    def active_jobs(self) -> int:
        """Number of jobs (reservations) counted against the concurrent-jobs quota."""
        return len(self.reservations)

    @property
    def active_servers(self) -> int:
        """Number of source servers across reserved jobs."""
        return sum(len(r.source_server_ids) for r in self.reservations.values())

    def busy_servers(self) -> set[str]:
        """Source servers that are in some reserved job."""
        return {s for r in self.reservations.values() for s in r.source_server_ids}
