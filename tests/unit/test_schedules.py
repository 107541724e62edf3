"""Drill schedules: AWS schedule expressions, their next firing, and the guard rails of each occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drwave.core.schedules import (
    ScheduleExpressionError,
    decide_occurrence,
    drill_overdue,
    next_fire,
    occurrence_id,
    parse_expression,
)
from drwave.models.triggers import BlackoutWindow, DrillSchedule

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday


def schedule(expression: str, timezone: str = "UTC", **extra: object) -> DrillSchedule:
    return DrillSchedule(id="weekly", plan_id="retail-dr", schedule_expression=expression, timezone=timezone, **extra)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 10 * * ? *)", T0, datetime(2026, 1, 5, 10, 0, tzinfo=UTC)),
        ("cron(30 2 ? * SUN *)", T0, datetime(2026, 1, 11, 2, 30, tzinfo=UTC)),
        ("cron(0/15 * * * ? *)", T0, datetime(2026, 1, 5, 9, 15, tzinfo=UTC)),
        ("cron(0 8 L * ? *)", T0, datetime(2026, 1, 31, 8, 0, tzinfo=UTC)),
        ("cron(0 8 ? * 2#1 *)", T0, datetime(2026, 2, 2, 8, 0, tzinfo=UTC)),  # first Monday (AWS: 2 = Monday)
        ("cron(0 9 1 JAN-MAR ? 2027)", T0, datetime(2027, 1, 1, 9, 0, tzinfo=UTC)),
        ("rate(2 hours)", T0 + timedelta(minutes=1), T0 + timedelta(hours=2)),
        ("at(2026-01-05T09:45:00)", T0, datetime(2026, 1, 5, 9, 45, tzinfo=UTC)),
    ],
)
def test_next_fire_follows_aws_schedule_syntax(expression: str, after: datetime, expected: datetime) -> None:
    # GIVEN a schedule in UTC created at T0  WHEN its next firing after a time is computed  THEN it is AWS's
    assert next_fire(schedule(expression, created_at=T0), after) == expected


def test_a_cron_fires_at_local_time_in_its_time_zone() -> None:
    # GIVEN 02:00 every day in New York (UTC-5 in January)
    s = schedule("cron(0 2 * * ? *)", timezone="America/New_York")
    # THEN it fires at 07:00 UTC
    assert next_fire(s, T0) == datetime(2026, 1, 6, 7, 0, tzinfo=UTC)


def test_a_one_time_schedule_in_the_past_never_fires_again() -> None:
    assert next_fire(schedule("at(2025-01-01T00:00:00)"), T0) is None


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("cron(0 10 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 10 * * ?)", "6 fields expected"),
        ("cron(61 10 * * ? *)", "cron minutes: 61 is outside 0-59"),
        ("cron(0 10 ? FOO * *)", "cron month: 'FOO'"),
        ("rate(0 minutes)", "positive"),
        ("rate(5 minute)", "rate: use"),
        ("every monday", "expected cron(...), rate(...) or at(...)"),
    ],
)
def test_a_malformed_expression_is_refused_naming_the_part_at_fault(expression: str, says: str) -> None:
    with pytest.raises(ScheduleExpressionError, match=re_escape(says)):
        parse_expression(expression)


def re_escape(text: str) -> str:
    import re  # noqa: PLC0415

    return re.escape(text)


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 1, 1)).map(lambda d: d.replace(tzinfo=UTC))
)
def test_next_fire_is_always_later_and_on_the_cron(after: datetime) -> None:
    # GIVEN a cron every Tuesday at 03:20 Europe/Paris  WHEN the next firing is computed from any instant
    fire = next_fire(schedule("cron(20 3 ? * TUE *)", timezone="Europe/Paris"), after)
    # THEN it is after that instant, within a week, and is a Tuesday 03:20 in Paris
    assert fire is not None and after < fire <= after + timedelta(days=7, hours=2)
    local = fire.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert (local.isoweekday(), local.hour, local.minute) == (2, 3, 20)


def test_each_occurrence_has_a_deterministic_execution_id() -> None:
    assert occurrence_id("weekly", datetime(2026, 1, 6, 2, 0, tzinfo=UTC)) == "drill-weekly-20260106T0200Z"


def decide(s: DrillSchedule | None, **overrides: object) -> object:
    args: dict[str, object] = {
        "plan_exists": True,
        "already_created": False,
        "active_executions": [],
        "preflight_problems": [],
    }
    return decide_occurrence(s, "weekly", T0, **{**args, **overrides})  # type: ignore[arg-type]


def test_a_clean_occurrence_starts_the_drill() -> None:
    occurrence = decide(schedule("rate(1 day)"))
    assert occurrence.start and occurrence.execution_id == "drill-weekly-20260105T0900Z"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"already_created": True}, "DUPLICATE"),
        ({"plan_exists": False}, "PLAN_NOT_FOUND"),
        ({"active_executions": ["exec-1"]}, "OVERLAP"),
        ({"preflight_problems": ["server s-1 is not replicating"]}, "PREFLIGHT_FAILED"),
    ],
)
def test_guard_rails_skip_the_occurrence_with_the_reason(overrides: dict[str, object], reason: str) -> None:
    occurrence = decide(schedule("rate(1 day)"), **overrides)
    assert not occurrence.start and occurrence.reason == reason  # type: ignore[attr-defined]


def test_a_failing_preflight_lists_every_problem() -> None:
    problems = ["a", "b", "c"]
    occurrence = decide(schedule("rate(1 day)"), preflight_problems=problems)
    assert occurrence.problems == problems  # type: ignore[attr-defined]


def test_blackout_windows_and_disabled_schedules_start_nothing() -> None:
    window = BlackoutWindow(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1), reason="freeze")
    assert decide(schedule("rate(1 day)", blackout_windows=[window])).reason == "BLACKOUT"  # type: ignore[attr-defined]
    assert decide(schedule("rate(1 day)", enabled=False)).reason == "DISABLED"  # type: ignore[attr-defined]
    assert decide(None).reason == "DISABLED"  # type: ignore[attr-defined]


def test_a_plan_is_overdue_once_its_last_drill_is_older_than_its_target() -> None:
    assert not drill_overdue(7, T0, T0, T0 + timedelta(days=7))
    assert drill_overdue(7, T0, T0, T0 + timedelta(days=7, seconds=1))
    assert drill_overdue(7, None, T0, T0 + timedelta(days=8))  # never drilled: counted from creation
    assert not drill_overdue(None, None, T0, T0 + timedelta(days=800))
