"""Point-in-time recovery snapshots of simulated DRS source servers, on a fixed cadence per server.

DRS keeps point-in-time (PIT) snapshots of every continuously replicating server (by default every 10 minutes
for the last hour, hourly for a day, daily for a week). The simulator keeps one cadence per server: a snapshot
every `cadence_minutes`, from `history_minutes` before the simulation started until now, each at a per-server
offset so servers of one plan do not all snapshot at the same second. Snapshots are derived, never stored: the
same (seed, server, index) always gives the same id and times.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

_ALPHANUMERIC = string.ascii_letters + string.digits
# A PIT snapshot's `timestamp` (when it was taken) trails its `expectedTimestamp` by a few seconds.
MAX_TAKE_SECONDS = 20
_RECENT = 8  # snapshots a schedule keeps derived


@dataclass(frozen=True)
class SnapshotCadence:
    """How often a server's PIT snapshots are taken and how far back they reach."""

    cadence_minutes: float = 10.0
    history_minutes: float = 24 * 60.0  # before the simulation's start; 0: no snapshot before it


@dataclass(frozen=True)
class PitSnapshot:
    """One point-in-time snapshot (the parts of DRS's RecoverySnapshot shape the simulator serves)."""

    index: int
    snapshot_id: str
    source_server_id: str
    expected: datetime
    taken: datetime
    ebs_snapshots: tuple[str, ...]


class SnapshotSchedule:
    """The PIT snapshots of one source server: index 0 is the oldest kept."""

    def __init__(self, seed: int, source_server_id: str, origin: datetime, cadence: SnapshotCadence) -> None:
        if cadence.cadence_minutes <= 0:
            raise ValueError("snapshot cadence must be positive")
        self._seed = seed
        self._sid = source_server_id
        self._step = timedelta(minutes=cadence.cadence_minutes)
        offset = random.Random(f"{seed}|{source_server_id}|offset").uniform(0, 1) * self._step
        self._first = origin - timedelta(minutes=cadence.history_minutes) + offset
        self._recent: dict[int, PitSnapshot] = {}  # the last few derived: announcing asks for each more than once

    def snapshot(self, index: int) -> PitSnapshot:
        """The index-th snapshot (its times, id and EBS snapshot ids are fixed by seed, server and index)."""
        known = self._recent.get(index)
        if known is not None:
            return known
        if len(self._recent) >= _RECENT:
            self._recent.clear()
        known = self._recent[index] = self._derive(index)
        return known

    def _derive(self, index: int) -> PitSnapshot:
        rng = random.Random(f"{self._seed}|{self._sid}|{index}")
        expected = self._first + index * self._step
        taken = expected + timedelta(seconds=rng.uniform(1, MAX_TAKE_SECONDS))
        snapshot_id = "pit-" + "".join(rng.choices(_ALPHANUMERIC, k=17))
        ebs = (f"snap-{rng.getrandbits(68):017x}",)
        return PitSnapshot(index, snapshot_id, self._sid, expected, taken, ebs)

    def next_index(self, now: datetime) -> int:
        """The index of the first snapshot not yet taken at `now`."""
        if now < self._first:
            return 0
        last = int((now - self._first) / self._step)  # the newest whose expected time has come
        return last if self.snapshot(last).taken > now else last + 1

    def taken_by(self, now: datetime) -> list[PitSnapshot]:
        """Every snapshot taken at or before `now`, oldest first."""
        if now < self._first:
            return []
        count = int((now - self._first) / self._step) + 1
        snapshots = [self.snapshot(i) for i in range(count)]
        return [s for s in snapshots if s.taken <= now]

    def find(self, snapshot_id: str, now: datetime) -> PitSnapshot | None:
        """The snapshot with this id, if it exists by `now`."""
        return next((s for s in self.taken_by(now) if s.snapshot_id == snapshot_id), None)
