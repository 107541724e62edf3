"""The virtual clock's count of live callbacks, which the runtime asks after every step."""

from __future__ import annotations

from drwave_local.runtime.clock import VirtualClock


def test_pending_counts_live_callbacks_and_leaves_out_ignored_labels_cancelled_and_run_ones() -> None:
    # GIVEN a clock with two launch timers, one tick and one timer that gets cancelled
    clock = VirtualClock()
    ran: list[str] = []
    clock.call_later(5, lambda: ran.append("a"), label="launch")
    clock.call_later(10, lambda: ran.append("b"), label="launch")
    clock.call_later(60, lambda: ran.append("tick"), label="tick")
    doomed = clock.call_later(1, lambda: ran.append("never"), label="launch")
    assert clock.pending() == 4
    assert clock.pending(ignore_labels=frozenset({"tick"})) == 3

    # WHEN one is cancelled (twice: the second is a no-op) and one runs
    doomed.cancel()
    doomed.cancel()
    assert clock.step()

    # THEN only the live ones count, and cancelling one that already ran changes nothing
    assert ran == ["a"]
    assert clock.pending() == 2
    assert clock.pending(ignore_labels=frozenset({"tick"})) == 1
    clock.step()
    assert clock.pending(ignore_labels=frozenset({"tick"})) == 0
    assert clock.pending() == 1


def test_a_callback_that_schedules_another_is_counted_while_it_runs() -> None:
    # GIVEN a callback that schedules a follow-up and reports what the clock counts meanwhile
    clock = VirtualClock()
    seen: list[int] = []

    def first() -> None:
        clock.call_later(1, lambda: seen.append(clock.pending()), label="follow-up")
        seen.append(clock.pending())

    clock.call_later(1, first, label="first")

    # WHEN the clock runs out
    while clock.step():
        pass

    # THEN the running callback is no longer counted, its follow-up is until it runs
    assert seen == [1, 0]
    assert clock.pending() == 0
