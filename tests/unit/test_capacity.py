"""DRS admission: <=100 servers per job, <=20 active jobs, <=500 servers in active jobs, one job per server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drwave.core.capacity import (
    MAX_ACTIVE_JOBS,
    MAX_SERVERS_IN_ACTIVE_JOBS,
    MAX_SERVERS_PER_JOB,
    DrsLimits,
    add_waiter,
    admission_denial,
    chunk_key,
    release,
    reserve,
    split_into_chunks,
)
from drwave.models.capacity import CapacityLedger, Reservation

LIMITS = DrsLimits()


def ledger_with(t0, sids, *jobs: int, first_server: int = 10_000) -> CapacityLedger:
    """A ledger holding one reservation per entry in `jobs` (its server count), on distinct servers."""
    ledger = CapacityLedger(account_id="111122223333", region="us-east-1")
    start = first_server
    for n, size in enumerate(jobs):
        ledger.reservations[chunk_key("exe-other", "w", n)] = Reservation(
            execution_id="exe-other", wave_id="w", source_server_ids=sids(size, start), reserved_at=t0
        )
        start += size
    return ledger


# --- splitting ------------------------------------------------------------------------------------------


def test_drs_quota_constants_match_the_service_quotas():
    # THEN the defaults are the DRS quotas
    assert (MAX_SERVERS_PER_JOB, MAX_ACTIVE_JOBS, MAX_SERVERS_IN_ACTIVE_JOBS) == (100, 20, 500)
    assert DrsLimits() == DrsLimits(servers_per_job=100, active_jobs=20, servers_in_active_jobs=500)


def test_250_servers_split_into_jobs_of_100_100_and_50_keeping_order(sids):
    # GIVEN 250 servers
    servers = sids(250)

    # WHEN they are split
    chunks = split_into_chunks(servers)

    # THEN three jobs, in launch order, covering every server once
    assert [len(c) for c in chunks] == [100, 100, 50]
    assert [s for c in chunks for s in c] == servers


def test_exactly_100_servers_fit_in_one_job(sids):
    # WHEN / THEN
    assert [len(c) for c in split_into_chunks(sids(100))] == [100]


def test_no_servers_means_no_jobs():
    # WHEN / THEN
    assert split_into_chunks([]) == []


def test_custom_chunk_size_is_honoured(sids):
    # WHEN / THEN
    assert [len(c) for c in split_into_chunks(sids(7), size=3)] == [3, 3, 1]


@pytest.mark.parametrize("size", [0, -1])
def test_chunk_size_must_be_positive(sids, size):
    # WHEN / THEN
    with pytest.raises(ValueError, match="chunk size must be positive"):
        split_into_chunks(sids(3), size=size)


def test_chunk_key_names_execution_wave_and_index():
    # WHEN / THEN
    assert chunk_key("exe-1", "db", 2) == "exe-1#db#2"


# --- admission ------------------------------------------------------------------------------------------


def test_chunk_fits_an_empty_ledger(t0, sids):
    # GIVEN nothing running
    ledger = ledger_with(t0, sids)

    # WHEN / THEN a full job is admitted
    assert admission_denial(ledger, "exe-1#w#0", sids(100), LIMITS) is None


def test_chunk_over_100_servers_is_denied(t0, sids):
    # GIVEN an empty ledger
    ledger = ledger_with(t0, sids)

    # WHEN a 101-server chunk asks
    reason = admission_denial(ledger, "exe-1#w#0", sids(101), LIMITS)

    # THEN it is denied for the per-job quota
    assert reason == "101 servers exceed 100 per job"


def test_21st_concurrent_job_is_denied(t0, sids):
    # GIVEN 20 active one-server jobs
    ledger = ledger_with(t0, sids, *[1] * 20)

    # WHEN a one-server chunk asks
    reason = admission_denial(ledger, "exe-1#w#0", sids(1), LIMITS)

    # THEN it is denied for the concurrent-jobs quota
    assert reason == "20 of 20 concurrent DRS jobs in use"


def test_20th_concurrent_job_is_admitted(t0, sids):
    # GIVEN 19 active jobs
    ledger = ledger_with(t0, sids, *[1] * 19)

    # WHEN / THEN the 20th fits
    assert admission_denial(ledger, "exe-1#w#0", sids(1), LIMITS) is None


def test_chunk_pushing_active_servers_over_500_is_denied(t0, sids):
    # GIVEN 450 servers in active jobs
    ledger = ledger_with(t0, sids, 100, 100, 100, 100, 50)

    # WHEN a 51-server chunk asks
    reason = admission_denial(ledger, "exe-1#w#0", sids(51), LIMITS)

    # THEN it is denied for the servers-in-active-jobs quota
    assert reason == "450 of 500 servers in active jobs in use, chunk needs 51"


def test_chunk_reaching_exactly_500_active_servers_is_admitted(t0, sids):
    # GIVEN 450 servers in active jobs
    ledger = ledger_with(t0, sids, 100, 100, 100, 100, 50)

    # WHEN / THEN a 50-server chunk fills the quota exactly
    assert admission_denial(ledger, "exe-1#w#0", sids(50), LIMITS) is None


def test_server_already_in_an_active_job_is_denied(t0, sids):
    # GIVEN a job holding servers 10000..10004
    ledger = ledger_with(t0, sids, 5)
    busy = sids(2, start=10_003)

    # WHEN a chunk shares two of them
    reason = admission_denial(ledger, "exe-1#w#0", [*sids(3), *busy], LIMITS)

    # THEN it is denied naming the conflicting servers
    assert reason == f"2 server(s) already in an active job: {busy[0]}, {busy[1]}"


def test_conflict_reason_names_at_most_three_servers(t0, sids):
    # GIVEN a job holding ten servers
    ledger = ledger_with(t0, sids, 10)

    # WHEN a chunk asks for all ten again
    reason = admission_denial(ledger, "exe-1#w#0", sids(10, start=10_000), LIMITS)

    # THEN the count is complete but the list is short
    assert reason is not None
    assert reason.startswith("10 server(s) already in an active job: ")
    assert reason.count("s-") == 3


def test_held_reservation_always_fits_even_when_quotas_are_exhausted(t0, sids):
    # GIVEN a full ledger (20 jobs, 500 servers) that includes this chunk's own reservation
    ledger = ledger_with(t0, sids, *[25] * 20)
    own_key = chunk_key("exe-other", "w", 0)
    own_servers = ledger.reservations[own_key].source_server_ids

    # WHEN the holder asks again (a retried launch)
    reason = admission_denial(ledger, own_key, own_servers, LIMITS)

    # THEN it is admitted: its capacity is already counted
    assert reason is None


def test_adjustable_limits_are_honoured(t0, sids):
    # GIVEN a raised concurrent-jobs quota
    ledger = ledger_with(t0, sids, *[1] * 20)

    # WHEN / THEN the 21st job fits
    assert admission_denial(ledger, "exe-1#w#0", sids(1), DrsLimits(active_jobs=30)) is None


def test_per_job_quota_is_checked_before_the_others(t0, sids):
    # GIVEN a full ledger
    ledger = ledger_with(t0, sids, *[25] * 20)

    # WHEN an oversize chunk asks
    reason = admission_denial(ledger, "exe-1#w#0", sids(150), LIMITS)

    # THEN the per-job reason is given (it will never fit, whatever is released)
    assert reason == "150 servers exceed 100 per job"


# --- ledger updates are copies ---------------------------------------------------------------------------


def test_reserve_returns_a_copy_holding_the_chunk(t0, sids):
    # GIVEN an empty ledger
    ledger = ledger_with(t0, sids)
    before = ledger.model_dump()

    # WHEN a chunk reserves
    new = reserve(ledger, "exe-1#w#0", "exe-1", "w", sids(3), t0)

    # THEN the copy holds it and the input is unchanged
    assert new.reservations["exe-1#w#0"].source_server_ids == sids(3)
    assert new.reservations["exe-1#w#0"].reserved_at == t0
    assert (new.active_jobs, new.active_servers) == (1, 3)
    assert ledger.model_dump() == before


def test_reserve_keeps_an_existing_reservation(t0, sids):
    # GIVEN a chunk that already reserved
    ledger = reserve(ledger_with(t0, sids), "exe-1#w#0", "exe-1", "w", sids(3), t0)

    # WHEN it reserves again later
    again = reserve(ledger, "exe-1#w#0", "exe-1", "w", sids(3), t0 + timedelta(minutes=5))

    # THEN the original reservation (and its timestamp) is kept
    assert again.reservations == ledger.reservations


def test_reserve_removes_the_wave_from_the_waiters(t0, sids):
    # GIVEN a waiting wave
    ledger = add_waiter(ledger_with(t0, sids), "exe-1", "w", t0)

    # WHEN one of its chunks reserves
    new = reserve(ledger, "exe-1#w#0", "exe-1", "w", sids(1), t0)

    # THEN it no longer waits; the input still lists it
    assert new.waiters == {}
    assert "exe-1#w" in ledger.waiters


def test_release_returns_a_copy_without_the_reservations(t0, sids):
    # GIVEN two reservations
    ledger = ledger_with(t0, sids, 2, 3)
    before = ledger.model_dump()

    # WHEN one is released (plus an unknown key, which is ignored)
    new = release(ledger, [chunk_key("exe-other", "w", 0), "no-such-key"])

    # THEN the copy has only the other, and the input is unchanged
    assert list(new.reservations) == [chunk_key("exe-other", "w", 1)]
    assert new.busy_servers() == set(sids(3, start=10_002))
    assert ledger.model_dump() == before


def test_released_capacity_admits_a_denied_chunk(t0, sids):
    # GIVEN a ledger at the concurrent-jobs quota
    ledger = ledger_with(t0, sids, *[1] * 20)
    assert admission_denial(ledger, "exe-1#w#0", sids(1), LIMITS) is not None

    # WHEN one job is released
    freed = release(ledger, [chunk_key("exe-other", "w", 0)])

    # THEN the waiting chunk fits
    assert admission_denial(freed, "exe-1#w#0", sids(1), LIMITS) is None


def test_add_waiter_returns_a_copy_in_arrival_order(t0, sids):
    # GIVEN an empty ledger
    ledger = ledger_with(t0, sids)

    # WHEN two waves wait, and the first asks again later
    one = add_waiter(ledger, "exe-1", "a", t0)
    two = add_waiter(one, "exe-2", "b", t0 + timedelta(seconds=1))
    three = add_waiter(two, "exe-1", "a", t0 + timedelta(seconds=2))

    # THEN the first keeps its place and original timestamp; every input is unchanged
    assert list(three.waiters) == ["exe-1#a", "exe-2#b"]
    assert three.waiters["exe-1#a"].since == t0
    assert ledger.waiters == {}
    assert list(one.waiters) == ["exe-1#a"]


def test_ledger_counts_jobs_servers_and_busy_servers(t0, sids):
    # GIVEN two reservations of 2 and 3 servers
    ledger = ledger_with(t0, sids, 2, 3)

    # WHEN / THEN
    assert ledger.active_jobs == 2
    assert ledger.active_servers == 5
    assert ledger.busy_servers() == set(sids(5, start=10_000))
