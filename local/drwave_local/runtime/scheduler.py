"""Triggers in the local runtime: EventBridge Scheduler fired on the virtual clock, and CloudWatch alarms you set.

moto keeps Scheduler's CRUD (the control plane creates schedules through the real adapter) but never fires them:
this module reads each stored schedule back from moto after every create, update and delete, computes its next
firing with the same `drwave.core.schedules.next_fire` the control plane shows, and delivers Scheduler's Input (with
`<aws.scheduler.scheduled-time>` filled in) to the target function, retrying and dead-lettering per the schedule's
RetryPolicy. Alarms: `set_alarm` changes a moto CloudWatch alarm and puts AWS's own "CloudWatch Alarm State Change"
event on the default bus, where the template's rule routes it. The trigger tick runs only while a trigger waits on
a sustain period (AWS's tick runs every minute; locally an idle runtime must be able to stop).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import boto3

from drwave.adapters.scheduler import SCHEDULED_TIME, SchedulerGateway, SchedulerTarget
from drwave.adapters.trigger_environment import TriggerAdapters
from drwave.adapters.trigger_store import TriggerStore
from drwave.core.schedules import next_fire
from drwave.models.base import iso_z
from drwave.models.triggers import DrillSchedule
from drwave_local.runtime.clock import TimerHandle
from drwave_local.runtime.template import DEFAULT_BUS, Route

if TYPE_CHECKING:
    from drwave_local.runtime.embedded import LocalRuntime

TRIGGER_FUNCTION = "TriggerFunction"
SCHEDULE_GROUP = "drwave-local-drills"
SCHEDULER_RETRY_SECONDS = 60.0
_DURATION = re.compile(r"^T\+(\d+(?:\.\d+)?)([smhd])$")


@dataclass
class _Armed:
    timer: TimerHandle
    fire_at: datetime


@dataclass
class SchedulerStats:
    """What the local Scheduler delivered."""

    fired: list[tuple[str, datetime]] = field(default_factory=list)
    dead_lettered: list[dict[str, Any]] = field(default_factory=list)


class LocalTriggers:
    """Scheduler, CloudWatch alarms and the trigger tick of one LocalRuntime."""

    def __init__(self, runtime: LocalRuntime, session: boto3.Session, table_name: str) -> None:
        self.runtime = runtime
        env = runtime.env
        self.scheduler = session.client("scheduler")
        self.cloudwatch = session.client("cloudwatch")
        self.scheduler.create_schedule_group(Name=SCHEDULE_GROUP)
        queue = session.client("sqs").create_queue(QueueName="drwave-local-scheduler-dlq")["QueueUrl"]
        dead_letter = f"arn:aws:sqs:{env.region}:{env.account_id}:{queue.rsplit('/', 1)[-1]}"
        function_arn = f"arn:aws:lambda:{env.region}:{env.account_id}:function:{TRIGGER_FUNCTION}"
        role_arn = f"arn:aws:iam::{env.account_id}:role/drwave-local-scheduler"
        target = SchedulerTarget(SCHEDULE_GROUP, function_arn, role_arn, dead_letter)
        runtime.deps.triggers = TriggerAdapters(
            TriggerStore(runtime.dynamodb, table_name), SchedulerGateway(self.scheduler, target)
        )
        for operation in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule"):
            self.scheduler.meta.events.register(f"after-call.scheduler.{operation}", self._schedule_changed)
        handler = runtime.template.resource(TRIGGER_FUNCTION)["Handler"]
        self._route = Route(TRIGGER_FUNCTION, handler, "Scheduler", DEFAULT_BUS, {})
        tick = next(s for s in runtime.template.schedules if s.function == TRIGGER_FUNCTION)
        self._tick_route = Route(TRIGGER_FUNCTION, handler, tick.rule, DEFAULT_BUS, {})
        self._tick_seconds = tick.rate_seconds
        self._tick: TimerHandle | None = None
        self._forever = False
        self._armed: dict[str, _Armed] = {}
        self._anchors: dict[str, datetime] = {}  # rate() schedules count from when the runtime first saw them
        self.stats = SchedulerStats()

    # --- Scheduler ---------------------------------------------------------------------------------------

    def _schedule_changed(self, **_: Any) -> None:
        """After a create, update or delete through the adapter: re-arm every schedule from what moto stored."""
        pages = self.scheduler.get_paginator("list_schedules").paginate(GroupName=SCHEDULE_GROUP)
        names = {s["Name"] for page in pages for s in page["Schedules"]}
        for name in set(self._armed) | names:
            self.arm(name)

    def arm(self, name: str) -> datetime | None:
        """Cancel the schedule's pending firing and arm the next one; returns when it fires (None: never)."""
        if (armed := self._armed.pop(name, None)) is not None:
            armed.timer.cancel()
        stored = self._stored(name)
        if stored is None or stored["State"] != "ENABLED":
            return None
        now = self.runtime.clock.now()
        anchor = self._anchors.setdefault(name, now)
        view = DrillSchedule(
            id="local",
            plan_id="local",
            schedule_expression=stored["ScheduleExpression"],
            timezone=stored.get("ScheduleExpressionTimezone") or "UTC",
            created_at=anchor,
        )
        fire_at = next_fire(view, now)
        if fire_at is None:
            return None
        timer = self.runtime.clock.call_at(fire_at, partial(self._fire, name, fire_at), label="scheduler")
        self._armed[name] = _Armed(timer, fire_at)
        return fire_at

    def next_firing(self, name: str) -> datetime | None:
        """When an armed schedule fires next."""
        armed = self._armed.get(name)
        return armed.fire_at if armed else None

    def _fire(self, name: str, scheduled: datetime) -> None:
        self._armed.pop(name, None)
        stored = self._stored(name)
        if stored is None:
            return
        self.stats.fired.append((name, scheduled))
        text = stored["Target"]["Input"].replace(SCHEDULED_TIME, iso_z(scheduled).replace(".000Z", "Z"))
        self._deliver(stored, json.loads(text), 0)
        self.arm(name)

    def _deliver(self, stored: dict[str, Any], event: dict[str, Any], attempt: int) -> None:
        """Invoke the target function as Scheduler does: retry on failure, then the dead-letter queue."""
        try:
            self.runtime._invoke(self._route, event)
        except Exception as err:
            retries = stored["Target"].get("RetryPolicy", {}).get("MaximumRetryAttempts", 185)
            if attempt < retries:
                again = partial(self._deliver, stored, event, attempt + 1)
                self.runtime.clock.call_later(SCHEDULER_RETRY_SECONDS, again, label="scheduler")
            else:
                self.stats.dead_lettered.append({"schedule": stored["Name"], "event": event, "error": repr(err)})
        self.runtime._ensure_tick()

    def _stored(self, name: str) -> dict[str, Any] | None:
        try:
            schedule: dict[str, Any] = self.scheduler.get_schedule(Name=name, GroupName=SCHEDULE_GROUP)
        except self.scheduler.exceptions.ResourceNotFoundException:
            return None
        return schedule

    # --- CloudWatch alarms -------------------------------------------------------------------------------

    def alarm_arn(self, name: str) -> str:
        """The ARN of a local alarm (this runtime's account and Region)."""
        return f"arn:aws:cloudwatch:{self.runtime.env.region}:{self.runtime.env.account_id}:alarm:{name}"

    def set_alarm(self, name: str, state: str, reason: str = "set locally") -> dict[str, Any]:
        """Set an alarm's state (creating it on first use) and emit AWS's state-change event on the default bus."""
        if state not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            raise ValueError(f"state: {state!r} is not OK, ALARM or INSUFFICIENT_DATA")
        alarms = self.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if not alarms:
            self.cloudwatch.put_metric_alarm(
                AlarmName=name,
                MetricName="HealthCheckStatus",
                Namespace="AWS/Route53",
                Statistic="Minimum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="LessThanThreshold",
            )
        previous = alarms[0]["StateValue"] if alarms else "INSUFFICIENT_DATA"
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
        now = self.runtime.clock.now()
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"  # CloudWatch's format
        detail = {
            "alarmName": name,
            "state": {"value": state, "reason": reason, "timestamp": stamp},
            "previousState": {"value": previous, "reason": "", "timestamp": stamp},
            "configuration": {"description": "local alarm"},
        }
        event = self.runtime.router.envelope("aws.cloudwatch", "CloudWatch Alarm State Change", detail, [])
        event["resources"] = [self.alarm_arn(name)]
        self.runtime.router.put(DEFAULT_BUS, event)
        self.ensure_tick()
        return event

    def alarm_at(self, when: datetime, name: str, state: str) -> None:
        """Schedule an alarm change on the virtual clock (a rehearsal's alarm timeline)."""

        def change() -> None:
            self.set_alarm(name, state)

        self.runtime.clock.call_at(when, change, label="alarm")

    # --- the trigger tick --------------------------------------------------------------------------------

    def ensure_tick(self) -> None:
        """Keep the trigger tick running (it stops itself once no trigger waits on a sustain period)."""
        if self._tick is None:
            self._tick = self.runtime.clock.call_later(self._tick_seconds, self._run_tick, label="trigger-tick")

    def keep_ticking(self) -> None:
        """Run the trigger tick every minute for good, as AWS does (for `drwave serve`: it never waits for idle)."""
        self._forever = True
        self.ensure_tick()

    def tick(self) -> dict[str, Any]:
        """One trigger tick now (AWS runs it every minute: sustain periods and drill freshness)."""
        event = self.runtime.router.envelope("aws.events", "Scheduled Event", {}, [f"rule/{self._tick_route.rule}"])
        outcome: dict[str, Any] = self.runtime._invoke(self._tick_route, event) or {}
        return outcome

    def _run_tick(self) -> None:
        self._tick = None
        event = self.runtime.router.envelope("aws.events", "Scheduled Event", {}, [f"rule/{self._tick_route.rule}"])
        outcome = self.runtime._invoke(self._tick_route, event) or {}
        if self.runtime.deps.store.active_execution_ids():  # a trigger started one: the engine's tick must run
            self.runtime._ensure_tick()
        if outcome.get("waiting") or self._forever:
            self.ensure_tick()

    # --- driving the clock ---------------------------------------------------------------------------------

    def run_until(self, when: datetime) -> None:
        """Advance virtual time to `when`, running everything due (schedules never let `run()` go idle)."""
        self.runtime.clock.advance_to(when)

    def run_for(self, duration: timedelta) -> None:
        """Advance virtual time by `duration`."""
        self.run_until(self.runtime.clock.now() + duration)


def parse_offset(text: str) -> timedelta:
    """`T+5m` (s, m, h, d) -> a timedelta, for rehearsal timelines."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r}: expected T+<number><s|m|h|d>, e.g. T+5m")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return timedelta(seconds=float(match.group(1)) * unit)


def parse_alarm_timeline(items: list[str]) -> list[tuple[timedelta, str, str]]:
    """`NAME=STATE@T+5m` items -> (offset, alarm name, state), in time order."""
    timeline = []
    for item in items:
        name, sep, rest = item.partition("=")
        state, at, offset = rest.partition("@")
        if not sep or not at or not name:
            raise ValueError(f"--alarm {item!r}: expected NAME=STATE@T+<offset>, e.g. primary-down=ALARM@T+5m")
        if state not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            raise ValueError(f"--alarm {item!r}: state must be OK, ALARM or INSUFFICIENT_DATA")
        timeline.append((parse_offset(offset), name, state))
    return sorted(timeline)


def utc(text: str) -> datetime:
    """An ISO 8601 time; naive means UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
