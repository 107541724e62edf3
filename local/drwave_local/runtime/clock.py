"""Virtual clock: a discrete-event scheduler that drives the whole local runtime."""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DEFAULT_EPOCH = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


@dataclass(order=True)
class _Timer:
    when: datetime
    seq: int
    callback: Callable[[], None] = field(compare=False)
    label: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)
    ran: bool = field(compare=False, default=False)


class TimerHandle:
    """Lets the owner of a scheduled callback cancel it."""

    def __init__(self, timer: _Timer, live: Counter[str]) -> None:
        self._timer = timer
        self._live = live

    def cancel(self) -> None:
        """Cancel the callback; a no-op if it already ran."""
        if not (self._timer.cancelled or self._timer.ran):
            self._live[self._timer.label] -= 1
        self._timer.cancelled = True

    @property
    def when(self) -> datetime:
        """The virtual time the callback is due."""
        return self._timer.when


class VirtualClock:
    """Simulated time: nothing sleeps, callbacks run in time order when the loop advances."""

    def __init__(self, start: datetime = DEFAULT_EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("the virtual clock needs a timezone-aware start time")
        self._now = start
        self._queue: list[_Timer] = []
        self._seq = itertools.count()
        # Live (scheduled, not cancelled, not run) callbacks by label: `pending` is asked after every step, and
        # a rehearsal holds a timer per server in flight, so counting the queue each time was quadratic.
        self._live: Counter[str] = Counter()

    def now(self) -> datetime:
        """Current virtual time (UTC)."""
        return self._now

    def call_at(self, when: datetime, callback: Callable[[], None], label: str = "") -> TimerHandle:
        """Schedule `callback` at virtual time `when` (never earlier than now)."""
        timer = _Timer(max(when, self._now), next(self._seq), callback, label)
        heapq.heappush(self._queue, timer)
        self._live[label] += 1
        return TimerHandle(timer, self._live)

    def call_later(self, delay_seconds: float, callback: Callable[[], None], label: str = "") -> TimerHandle:
        """Schedule `callback` after `delay_seconds` of virtual time."""
        return self.call_at(self._now + timedelta(seconds=delay_seconds), callback, label)

    def pending(self, ignore_labels: frozenset[str] = frozenset()) -> int:
        """Number of live callbacks, not counting those whose label is ignored."""
        return self._live.total() - sum(self._live[label] for label in ignore_labels)

    def next_due(self) -> datetime | None:
        """When the next live callback is due, or None when idle."""
        self._drop_cancelled()
        return self._queue[0].when if self._queue else None

    def step(self) -> bool:
        """Advance to the next callback and run it; False when nothing is scheduled."""
        self._drop_cancelled()
        if not self._queue:
            return False
        timer = heapq.heappop(self._queue)
        timer.ran = True
        self._live[timer.label] -= 1
        self._now = timer.when
        timer.callback()
        return True

    def advance_to(self, when: datetime) -> None:
        """Run every callback due up to `when`, then set the time to `when`."""
        while (due := self.next_due()) is not None and due <= when:
            self.step()
        self._now = max(self._now, when)

    def _drop_cancelled(self) -> None:
        while self._queue and self._queue[0].cancelled:
            heapq.heappop(self._queue)
