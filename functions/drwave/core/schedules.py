"""Drill schedules: AWS schedule expressions (cron / rate / at), their next firing, and each occurrence's decision.

Pure: the caller passes the time, the plan's active executions and the pre-flight problems.
EventBridge Scheduler fires the schedules on AWS; the local runtime fires the same stored expressions on its
virtual clock with `next_fire`, so both agree on when a drill runs.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from drwave.models.triggers import DrillSchedule

_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}  # AWS: 1 = Sunday
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_SEARCH_DAYS = 366 * 4 + 1  # a cron that matches nothing in four years (e.g. 30 FEB) never fires


class ScheduleExpressionError(ValueError):
    """A schedule expression AWS would reject; the message names the part at fault."""


@dataclass(frozen=True)
class Cron:
    """cron(minutes hours day-of-month month day-of-week year), AWS's six-field form."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: "?"
    last_day_of_month: bool
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # AWS numbering, 1 = Sunday; None: "?"
    nth_weekday: tuple[int, int] | None  # day-of-week "d#n": the n-th such day of the month
    years: frozenset[int]


@dataclass(frozen=True)
class Rate:
    """rate(n unit): every n units from the schedule's creation."""

    seconds: int


@dataclass(frozen=True)
class At:
    """at(yyyy-mm-ddThh:mm:ss): once, in the schedule's time zone."""

    when: datetime  # naive local time


Expression = Cron | Rate | At


def parse_expression(text: str) -> Expression:
    """Parse an EventBridge Scheduler expression or raise ScheduleExpressionError naming what is wrong."""
    text = text.strip()
    if match := re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", text):
        value, unit = int(match.group(1)), match.group(2).rstrip("s")
        if value < 1:
            raise ScheduleExpressionError("rate: the value must be a positive whole number")
        if (value == 1) != (match.group(2) == unit):
            raise ScheduleExpressionError(f"rate: use '{unit}' for 1 and '{unit}s' for more")
        return Rate(value * _RATE_UNITS[unit])
    if match := re.fullmatch(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)", text):
        try:
            return At(datetime.fromisoformat(match.group(1)))
        except ValueError as err:
            raise ScheduleExpressionError(f"at: {err}") from None
    if match := re.fullmatch(r"cron\((.*)\)", text):
        return _parse_cron(match.group(1))
    raise ScheduleExpressionError("expected cron(...), rate(...) or at(...) in AWS's syntax")


def _parse_cron(body: str) -> Cron:
    parts = body.split()
    if len(parts) != 6:
        raise ScheduleExpressionError(
            f"cron: 6 fields expected (minutes hours day-of-month month day-of-week year), got {len(parts)}"
        )
    minutes, hours, dom, month, dow, year = parts
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError("cron: exactly one of day-of-month and day-of-week must be '?'")
    nth = None
    if "#" in dow:
        day, _, n = dow.partition("#")
        if not n.isdigit() or not 1 <= int(n) <= 5:
            raise ScheduleExpressionError("cron day-of-week: '#' takes a week number 1-5")
        nth = (_value(day, 1, 7, _DAYS, "day-of-week"), int(n))
    return Cron(
        minutes=_field(minutes, 0, 59, {}, "minutes"),
        hours=_field(hours, 0, 23, {}, "hours"),
        days_of_month=None if dom in ("?", "L") else _field(dom, 1, 31, {}, "day-of-month"),
        last_day_of_month=dom == "L",
        months=_field(month, 1, 12, _MONTHS, "month"),
        days_of_week=None if dow == "?" or nth else _field(dow, 1, 7, _DAYS, "day-of-week"),
        nth_weekday=nth,
        years=_field(year, 1970, 2199, {}, "year"),
    )


def _field(text: str, low: int, high: int, names: dict[str, int], name: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        item, step = part, 1
        if "/" in part:
            item, _, step_text = part.partition("/")
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleExpressionError(f"cron {name}: the increment after '/' must be a positive number")
            step = int(step_text)
        if item == "*":
            start, end = low, high
        elif "-" in item:
            first, _, last = item.partition("-")
            start, end = _value(first, low, high, names, name), _value(last, low, high, names, name)
            if end < start:
                raise ScheduleExpressionError(f"cron {name}: range {item} runs backwards")
        else:
            start = _value(item, low, high, names, name)
            end = high if step > 1 else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, low: int, high: int, names: dict[str, int], name: str) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleExpressionError(f"cron {name}: {text!r} is not a number between {low} and {high}")
    if not low <= int(text) <= high:
        raise ScheduleExpressionError(f"cron {name}: {text} is outside {low}-{high}")
    return int(text)


def _day_matches(cron: Cron, day: date) -> bool:
    if day.month not in cron.months or day.year not in cron.years:
        return False
    aws_weekday = (day.isoweekday() % 7) + 1  # Monday=1..Sunday=7 -> Sunday=1..Saturday=7
    if cron.last_day_of_month:
        return day.day == calendar.monthrange(day.year, day.month)[1]
    if cron.days_of_month is not None:
        return day.day in cron.days_of_month
    if cron.nth_weekday is not None:
        weekday, n = cron.nth_weekday
        return aws_weekday == weekday and (day.day - 1) // 7 + 1 == n
    return cron.days_of_week is not None and aws_weekday in cron.days_of_week


def next_fire(schedule: DrillSchedule, after: datetime) -> datetime | None:
    """The first firing strictly after `after` (UTC), or None if the expression never fires again."""
    expression = parse_expression(schedule.schedule_expression)
    zone = ZoneInfo(schedule.timezone)
    if isinstance(expression, Rate):
        anchor = schedule.created_at or after
        periods = int((after - anchor).total_seconds() // expression.seconds) + 1
        return anchor + timedelta(seconds=max(periods, 1) * expression.seconds)
    if isinstance(expression, At):
        when = expression.when.replace(tzinfo=zone).astimezone(UTC)
        return when if when > after else None
    local = after.astimezone(zone)
    for offset in range(_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        if not _day_matches(expression, day):
            continue
        for hour in sorted(expression.hours):
            for minute in sorted(expression.minutes):
                candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                if candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != candidate.replace(tzinfo=None):
                    continue  # a local time the clocks skip over (spring forward)
                if (fire := candidate.astimezone(UTC)) > after:
                    return fire
    return None


def occurrence_id(schedule_id: str, scheduled_time: datetime) -> str:
    """The execution id of one occurrence: a duplicated Scheduler delivery names the same drill."""
    return f"drill-{schedule_id}-{scheduled_time.astimezone(UTC):%Y%m%dT%H%MZ}"


@dataclass(frozen=True)
class Occurrence:
    """What one firing of a schedule does: start the drill, skip it (with the reason), or nothing (a duplicate)."""

    execution_id: str
    start: bool
    reason: str = ""  # DrillSkipped.reason when skipped; "DUPLICATE" when it already started (no event)
    message: str = ""
    problems: list[str] = field(default_factory=list)


def decide_occurrence(
    schedule: DrillSchedule | None,
    schedule_id: str,
    scheduled_time: datetime,
    *,
    plan_exists: bool,
    already_created: bool,
    active_executions: list[str],
    preflight_problems: list[str] | None,
) -> Occurrence:
    """The guard rails of a scheduled drill, in order; pre-flight problems are None when it was not run yet."""
    execution_id = occurrence_id(schedule_id, scheduled_time)
    if already_created:
        return Occurrence(execution_id, start=False, reason="DUPLICATE", message="this occurrence already started")
    if schedule is None or not schedule.enabled:
        return Occurrence(execution_id, False, "DISABLED", f"drill schedule {schedule_id} is disabled or deleted")
    for window in schedule.blackout_windows:
        if window.start <= scheduled_time < window.end:
            why = f" ({window.reason})" if window.reason else ""
            return Occurrence(execution_id, False, "BLACKOUT", f"inside a blackout window until {window.end}{why}")
    if not plan_exists:
        return Occurrence(execution_id, False, "PLAN_NOT_FOUND", f"recovery plan {schedule.plan_id} does not exist")
    if active_executions:
        active = ", ".join(sorted(active_executions))
        return Occurrence(execution_id, False, "OVERLAP", f"plan {schedule.plan_id} has an active execution: {active}")
    if preflight_problems:
        count = len(preflight_problems)
        return Occurrence(
            execution_id, False, "PREFLIGHT_FAILED", f"pre-flight found {count} problem(s)", list(preflight_problems)
        )
    return Occurrence(execution_id, start=True)


def drill_age_days(last_drill_at: datetime | None, now: datetime) -> float | None:
    """Days since the last successful drill, or None if there never was one."""
    return None if last_drill_at is None else (now - last_drill_at).total_seconds() / 86400


def drill_overdue(
    drill_every_days: int | None, last_drill_at: datetime | None, created_at: datetime, now: datetime
) -> bool:
    """True once the plan's freshness target is exceeded (counted from its creation when it was never drilled)."""
    if drill_every_days is None:
        return False
    since = last_drill_at or created_at
    return now - since > timedelta(days=drill_every_days)
