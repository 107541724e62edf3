"""Failover triggers decide purely: quorum, sustain, cool-down, arming, duplicates and out-of-order alarm events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from drwave.core.triggers import AlarmChange, Decision, Verdict, evaluate, observe, preflight_failed
from drwave.models.execution import ExecutionType
from drwave.models.triggers import FailoverTrigger, TriggerMode, TriggerState

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
A = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:primary-down"
B = "arn:aws:cloudwatch:eu-west-1:444455556666:alarm:synthetics-failing"  # another account, forwarded
C = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders-5xx"


def trigger(**extra: object) -> FailoverTrigger:
    fields: dict[str, object] = {
        "id": "primary",
        "plan_id": "retail-dr",
        "alarm_arns": [A],
        "sustain_minutes": 5,
        "cooldown_minutes": 60,
        "armed": True,
    }
    return FailoverTrigger(**{**fields, **extra})


class Driver:
    """Feeds alarm changes and ticks to one trigger, keeping its state like the handler does."""

    def __init__(self, t: FailoverTrigger) -> None:
        self.trigger, self.state = t, TriggerState(trigger_id=t.id)
        self.active: list[str] = []
        self.decisions: list[Decision] = []

    def alarm(self, arn: str, value: str, minute: float) -> Decision:
        at = T0 + timedelta(minutes=minute)
        self.state, changed = observe(self.trigger, self.state, AlarmChange(arn, value, at))  # type: ignore[arg-type]
        if not changed:
            return Decision(Verdict.NONE)
        return self._evaluate(at, entered=value == "ALARM")

    def tick(self, minute: float) -> Decision:
        return self._evaluate(T0 + timedelta(minutes=minute), entered=False)

    def _evaluate(self, now: datetime, entered: bool) -> Decision:
        self.state, decision = evaluate(
            self.trigger, self.state, now, active_executions=self.active, alarm_entered=entered
        )
        self.decisions.append(decision)
        return decision

    def verdicts(self, verdict: Verdict) -> list[Decision]:
        return [d for d in self.decisions if d.verdict is verdict]


def test_an_alarm_held_for_the_sustain_period_triggers_one_recovery() -> None:
    # GIVEN an armed trigger with a 5-minute sustain
    d = Driver(trigger())
    # WHEN the alarm goes to ALARM and the tick runs every minute for ten minutes
    assert d.alarm(A, "ALARM", 0).verdict is Verdict.WAIT
    for minute in range(1, 11):
        d.tick(minute)
    # THEN exactly one RECOVERY is triggered, at the end of the sustain period, with a deterministic id
    (fired,) = d.verdicts(Verdict.TRIGGER)
    assert fired.execution_type is ExecutionType.RECOVERY
    assert fired.execution_id == "failover-primary-20260105T090000Z"
    assert d.state.last_fired_at == T0 + timedelta(minutes=5)


def test_an_alarm_that_recovers_inside_the_sustain_period_is_suppressed_and_starts_nothing() -> None:
    # GIVEN OK -> ALARM -> OK within the 5-minute sustain period
    d = Driver(trigger())
    d.alarm(A, "ALARM", 0)
    d.tick(1)
    d.tick(2)
    decision = d.alarm(A, "OK", 3)
    # THEN it is suppressed because the sustain was not reached, and nothing triggers afterwards
    assert decision.reason == "SUSTAIN_NOT_REACHED"
    for minute in range(4, 20):
        d.tick(minute)
    assert d.verdicts(Verdict.TRIGGER) == []


def test_a_flapping_alarm_never_triggers() -> None:
    # GIVEN an alarm flapping every two minutes for an hour
    d = Driver(trigger())
    for minute in range(0, 60, 2):
        d.alarm(A, "ALARM" if minute % 4 == 0 else "OK", minute)
        d.tick(minute + 1)
    # THEN nothing is ever triggered, and each broken episode is reported
    assert d.verdicts(Verdict.TRIGGER) == []
    assert {s.reason for s in d.verdicts(Verdict.SUPPRESS)} == {"SUSTAIN_NOT_REACHED"}


def test_duplicate_and_out_of_order_alarm_events_are_ignored() -> None:
    d = Driver(trigger())
    d.alarm(A, "ALARM", 2)
    # WHEN the same change is redelivered, and an older OK arrives late
    assert d.alarm(A, "ALARM", 2).verdict is Verdict.NONE
    assert d.alarm(A, "OK", 1).verdict is Verdict.NONE
    # THEN the alarm is still in ALARM since minute 2 and the trigger fires at minute 7
    assert d.tick(6.9).verdict is Verdict.WAIT
    assert d.tick(7).verdict is Verdict.TRIGGER


def test_a_quorum_of_k_of_n_alarms_is_needed() -> None:
    # GIVEN 2 of 3 alarms needed, one of them forwarded from another account
    d = Driver(trigger(alarm_arns=[A, B, C], quorum=2))
    # WHEN one alarm fires  THEN the quorum is not met
    assert d.alarm(A, "ALARM", 0).reason == "QUORUM_NOT_MET"
    d.tick(10)
    assert d.verdicts(Verdict.TRIGGER) == []
    # WHEN a second one fires  THEN the sustain counts from the second
    d.alarm(B, "ALARM", 12)
    assert d.tick(16).verdict is Verdict.WAIT
    fired = d.tick(17)
    assert fired.verdict is Verdict.TRIGGER and fired.alarms == sorted([A, B])


def test_an_unwatched_alarm_changes_nothing() -> None:
    d = Driver(trigger())
    assert d.alarm(C, "ALARM", 0).verdict is Verdict.NONE
    assert d.state.alarms == {}


def test_a_disarmed_trigger_is_suppressed_once_per_episode() -> None:
    d = Driver(trigger(armed=False))
    d.alarm(A, "ALARM", 0)
    for minute in range(1, 30):
        d.tick(minute)
    (suppressed,) = d.verdicts(Verdict.SUPPRESS)
    assert suppressed.reason == "DISARMED"
    assert d.verdicts(Verdict.TRIGGER) == []


def test_an_alarm_while_the_plan_runs_never_starts_a_second_execution() -> None:
    # GIVEN a RECOVERY of the plan already running
    d = Driver(trigger())
    d.active = ["failover-primary-20260105T080000Z"]
    d.alarm(A, "ALARM", 0)
    for minute in range(1, 10):
        d.tick(minute)
    # THEN the trigger is suppressed as already running
    assert [s.reason for s in d.verdicts(Verdict.SUPPRESS)] == ["ALREADY_RUNNING"]
    assert d.verdicts(Verdict.TRIGGER) == []


def test_a_new_episode_inside_the_cool_down_is_suppressed_and_one_after_it_triggers() -> None:
    d = Driver(trigger(cooldown_minutes=60))
    d.alarm(A, "ALARM", 0)
    d.tick(5)  # triggered
    d.alarm(A, "OK", 20)
    d.alarm(A, "ALARM", 30)
    assert d.tick(35).reason == "COOL_DOWN"
    d.alarm(A, "OK", 70)
    d.alarm(A, "ALARM", 80)
    assert d.tick(85).verdict is Verdict.TRIGGER
    assert len(d.verdicts(Verdict.TRIGGER)) == 2


def test_two_triggers_on_one_plan_start_one_execution() -> None:
    # GIVEN two triggers on one plan watching the same alarm
    first, second = Driver(trigger(id="first")), Driver(trigger(id="second"))
    for driver in (first, second):
        driver.alarm(A, "ALARM", 0)
    # WHEN the first fires  THEN the second sees the plan running (the handler evaluates them in turn)
    assert first.tick(5).verdict is Verdict.TRIGGER
    second.active = [str(first.decisions[-1].execution_id)]
    assert second.tick(5).reason == "ALREADY_RUNNING"


def test_dry_run_starts_a_drill_and_a_failed_preflight_suppresses_without_a_cool_down() -> None:
    d = Driver(trigger(mode=TriggerMode.DRY_RUN))
    d.alarm(A, "ALARM", 0)
    fired = d.tick(5)
    assert fired.execution_type is ExecutionType.DRILL
    state, suppressed = preflight_failed(d.state, fired, ["s-1: not replicating", "s-2: unknown"])
    assert suppressed.reason == "PREFLIGHT_FAILED" and len(suppressed.problems) == 2
    assert state.last_fired_at is None


# ------------------------------------------------------------------------------------------------ properties

ALARM_STATES = st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA"])
timelines = st.lists(st.tuples(st.sampled_from([A, B, C]), ALARM_STATES, st.integers(0, 120)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(timeline=timelines, deliveries=st.randoms(use_true_random=False), quorum=st.integers(1, 3))
def test_however_alarm_events_are_duplicated_or_reordered_an_episode_starts_at_most_one_execution(
    timeline: list[tuple[str, str, int]], deliveries: Any, quorum: int
) -> None:
    # GIVEN any alarm timeline, delivered shuffled and with duplicates, and the tick every minute
    d = Driver(trigger(alarm_arns=[A, B, C], quorum=quorum, cooldown_minutes=0))
    events = timeline + [e for e in timeline if deliveries.random() < 0.3]
    deliveries.shuffle(events)
    for minute, (arn, state, at) in enumerate(events):
        d.state, _ = observe(d.trigger, d.state, AlarmChange(arn, state, T0 + timedelta(minutes=at)))  # type: ignore[arg-type]
        d.tick(200 + minute)
    # THEN each quorum episode produced at most one execution, each under its own deterministic id
    fired = [x.execution_id for x in d.verdicts(Verdict.TRIGGER)]
    assert len(fired) == len(set(fired))
    # AND a trigger needs the quorum: never more executions than distinct episodes it saw
    assert all(x.quorum_since is not None and len(x.alarms) >= quorum for x in d.verdicts(Verdict.TRIGGER))


@settings(max_examples=200, deadline=None)
@given(flaps=st.lists(st.integers(1, 4), min_size=1, max_size=20))
def test_a_quorum_that_never_holds_for_the_sustain_period_never_triggers(flaps: list[int]) -> None:
    # GIVEN an alarm that stays in ALARM for less than the 5-minute sustain each time (ticks every minute)
    d, minute = Driver(trigger()), 0
    for held in flaps:
        d.alarm(A, "ALARM", minute)
        for m in range(minute + 1, minute + held):
            d.tick(m)
        d.alarm(A, "OK", minute + held)
        minute += held + 1
    d.tick(minute + 60)
    # THEN nothing is ever triggered
    assert d.verdicts(Verdict.TRIGGER) == []


def test_a_retried_delivery_after_the_execution_was_created_replays_the_trigger_instead_of_suppressing_it() -> None:
    # GIVEN a decision that created its execution, but whose state was never saved (the function died)
    d = Driver(trigger())
    d.alarm(A, "ALARM", 0)
    before = d.state
    fired = d.tick(5)
    d.state, d.active = before, [str(fired.execution_id)]
    # WHEN the tick decides again  THEN it replays the same trigger (idempotent) rather than "already running"
    again = d.tick(6)
    assert again.verdict is Verdict.TRIGGER and again.execution_id == fired.execution_id
