"""Triggers: drill schedules and alarm-driven failover triggers, and what drwave remembers about them."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StringConstraints, field_validator, model_validator

from drwave.models.base import Model, UtcDatetime
from drwave.models.plan import Identifier

# arn:aws:cloudwatch:us-east-1:111122223333:alarm:name (any partition, any account and Region: forwarded alarms)
ALARM_ARN = re.compile(r"^arn:aws[a-z-]*:cloudwatch:[a-z]{2}(-[a-z]+)+-\d:\d{12}:alarm:.{1,255}$")
AlarmArn = Annotated[str, StringConstraints(pattern=ALARM_ARN.pattern)]
# Also names the Scheduler schedule ("drill-<id>", at most 64 of [0-9A-Za-z_.-]).
ScheduleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,57}$")]


class BlackoutWindow(Model):
    """A period in which no scheduled drill starts (a change freeze, peak trading)."""

    start: UtcDatetime
    end: UtcDatetime
    reason: str = Field(default="", max_length=256)

    @model_validator(mode="after")
    def _ordered(self) -> BlackoutWindow:
        if self.end <= self.start:
            raise ValueError("end: a blackout window must end after it starts")
        return self


class DrillOptions(Model):
    """What a scheduled drill runs: the whole plan, or a subset of its waves."""

    wave_ids: list[Identifier] | None = Field(default=None, min_length=1, max_length=90)


class DrillSchedule(Model):
    """A recurring DRILL of a plan, deployed as one EventBridge Scheduler schedule."""

    id: ScheduleId
    plan_id: Identifier
    # AWS's own syntax: cron(min hour day-of-month month day-of-week year), rate(n unit) or at(yyyy-mm-ddThh:mm:ss).
    # Checked by drwave.core.schedules when the control plane stores it (the message names the field).
    schedule_expression: str = Field(min_length=1, max_length=256)
    timezone: str = "UTC"
    enabled: bool = True
    blackout_windows: list[BlackoutWindow] = Field(default_factory=list, max_length=50)
    options: DrillOptions = Field(default_factory=DrillOptions)
    description: str = Field(default="", max_length=512)
    created_at: UtcDatetime | None = None  # the anchor of rate() expressions, set by the control plane

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class TriggerMode(StrEnum):
    """What a failover trigger does once its alarms hold."""

    CONFIRM = "CONFIRM"  # a RECOVERY that waits for an admin's approval before its first waves
    AUTOMATIC = "AUTOMATIC"  # a RECOVERY that starts at once
    DRY_RUN = "DRY_RUN"  # a DRILL of the same plan instead


class FailoverTrigger(Model):
    """k of n CloudWatch alarms in ALARM for a sustain period start a failover of a plan."""

    id: Identifier
    plan_id: Identifier
    alarm_arns: list[AlarmArn] = Field(min_length=1, max_length=10)
    quorum: int = Field(default=1, ge=1, le=10)
    sustain_minutes: int = Field(default=5, ge=0, le=1440)
    cooldown_minutes: int = Field(default=60, ge=0, le=10080)
    mode: TriggerMode = TriggerMode.CONFIRM
    confirm_timeout_minutes: int = Field(default=30, ge=1, le=10080)
    armed: bool = False  # created disarmed; arming is an admin operation (audited)
    description: str = Field(default="", max_length=512)

    @model_validator(mode="after")
    def _reachable_quorum(self) -> FailoverTrigger:
        if len(set(self.alarm_arns)) != len(self.alarm_arns):
            raise ValueError("alarmArns: duplicate alarm ARNs")
        if self.quorum > len(self.alarm_arns):
            raise ValueError(f"quorum: {self.quorum} exceeds the {len(self.alarm_arns)} alarm(s) listed")
        return self


AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


class AlarmObservation(Model):
    """The latest state drwave saw for one alarm, with CloudWatch's own timestamp of that state."""

    state: AlarmState
    since: UtcDatetime


class TriggerState(Model):
    """What a trigger remembers between alarm events and ticks (stored with a version for optimistic locking)."""

    trigger_id: str
    alarms: dict[str, AlarmObservation] = Field(default_factory=dict)
    quorum_since: UtcDatetime | None = None  # when the current quorum episode began
    decided_episode: UtcDatetime | None = None  # the episode that already produced its one decision
    last_fired_at: UtcDatetime | None = None
    last_execution_id: str | None = None
    version: int = 0


class AuditEntry(Model):
    """An admin operation on a trigger or schedule (arming, disarming, changes)."""

    at: UtcDatetime
    actor: str
    action: str
    target: str
    detail: str = ""
