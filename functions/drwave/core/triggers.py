"""Failover triggers: alarm state changes and ticks -> trigger, suppress or wait. Pure: no clock, no I/O.

A quorum *episode* begins when `quorum` of the trigger's alarms are in ALARM (at the CloudWatch timestamp of the
state change that completed the quorum) and ends when the quorum breaks. Each episode produces at most one
decision: once it has triggered or been suppressed, nothing more happens until the quorum breaks and forms again,
so duplicated, redelivered or late alarm events and ticks never start a second execution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from drwave.models.execution import ExecutionType
from drwave.models.triggers import AlarmObservation, AlarmState, FailoverTrigger, TriggerMode, TriggerState


class Verdict(StrEnum):
    """What the trigger does now."""

    TRIGGER = "TRIGGER"  # start the execution (after pre-flight: the caller runs it, then `preflight_failed`)
    SUPPRESS = "SUPPRESS"  # publish Failover Suppressed with the reason
    WAIT = "WAIT"  # quorum holds, sustain not reached yet: the tick checks again
    NONE = "NONE"  # nothing to say (no quorum, or this episode was already decided)


@dataclass(frozen=True)
class AlarmChange:
    """One "CloudWatch Alarm State Change", reduced to what a trigger needs."""

    alarm_arn: str
    state: AlarmState
    at: datetime  # CloudWatch's timestamp of the new state (orders out-of-order deliveries)


@dataclass(frozen=True)
class Decision:
    """A trigger's verdict, with the execution it starts (or would have started) and why."""

    verdict: Verdict
    execution_id: str | None = None
    execution_type: ExecutionType | None = None
    reason: str = ""  # FailoverSuppressed.reason
    message: str = ""
    alarms: list[str] = field(default_factory=list)  # the alarms in ALARM
    quorum_since: datetime | None = None
    problems: list[str] = field(default_factory=list)


def observe(trigger: FailoverTrigger, state: TriggerState, change: AlarmChange) -> tuple[TriggerState, bool]:
    """Record an alarm's new state; False (state unchanged) for alarms not watched, duplicates and stale events."""
    if change.alarm_arn not in trigger.alarm_arns:
        return state, False
    seen = state.alarms.get(change.alarm_arn)
    if seen is not None and (change.at < seen.since or (change.at == seen.since and change.state == seen.state)):
        return state, False
    alarms = {**state.alarms, change.alarm_arn: AlarmObservation(state=change.state, since=change.at)}
    return state.model_copy(update={"alarms": alarms}), True


def execution_id_for(trigger: FailoverTrigger, quorum_since: datetime) -> str:
    """Deterministic: one execution per trigger and quorum episode, whichever delivery or tick decides it."""
    return f"failover-{trigger.id}-{quorum_since.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def execution_type_for(trigger: FailoverTrigger) -> ExecutionType:
    """DRY_RUN rehearses the plan as a DRILL; the other modes fail over."""
    return ExecutionType.DRILL if trigger.mode is TriggerMode.DRY_RUN else ExecutionType.RECOVERY


def evaluate(
    trigger: FailoverTrigger,
    state: TriggerState,
    now: datetime,
    *,
    active_executions: list[str],
    alarm_entered: bool = False,
) -> tuple[TriggerState, Decision]:
    """Decide after an alarm change (`alarm_entered`: one of ours just went into ALARM) or on the tick."""
    in_alarm = sorted(a for a in trigger.alarm_arns if (o := state.alarms.get(a)) and o.state == "ALARM")
    if len(in_alarm) < trigger.quorum:
        return _no_quorum(trigger, state, now, in_alarm, alarm_entered)
    # The episode began when the quorum-th alarm (in CloudWatch's time) entered ALARM.
    since = sorted(state.alarms[a].since for a in in_alarm)[trigger.quorum - 1]
    state = state.model_copy(update={"quorum_since": since})
    execution_id = execution_id_for(trigger, since)
    common: dict[str, Any] = {"execution_id": execution_id, "alarms": in_alarm, "quorum_since": since}
    if state.decided_episode is not None and since <= state.decided_episode:
        # This episode, or one that (by CloudWatch's clock) began before it, was already decided: late events
        # can move the start of the episode but never open a second decision for it.
        return state, Decision(Verdict.NONE, **common)
    if now < since + timedelta(minutes=trigger.sustain_minutes):
        return state, Decision(Verdict.WAIT, **common)
    decided = state.model_copy(update={"decided_episode": since})
    if not trigger.armed:
        return decided, _suppress("DISARMED", f"trigger {trigger.id} is disarmed", **common)
    if state.last_fired_at and now < state.last_fired_at + timedelta(minutes=trigger.cooldown_minutes):
        until = state.last_fired_at + timedelta(minutes=trigger.cooldown_minutes)
        return decided, _suppress(
            "COOL_DOWN", f"cool-down after {state.last_execution_id} until {until.isoformat()}", **common
        )
    fired = decided.model_copy(update={"last_fired_at": now, "last_execution_id": execution_id})
    if execution_id in active_executions:  # a retried delivery of this very decision: replay it, idempotently
        return fired, Decision(Verdict.TRIGGER, execution_type=execution_type_for(trigger), **common)
    if active_executions:
        active = ", ".join(sorted(active_executions))
        return decided, _suppress(
            "ALREADY_RUNNING", f"plan {trigger.plan_id} has an active execution: {active}", **common
        )
    return fired, Decision(Verdict.TRIGGER, execution_type=execution_type_for(trigger), **common)


def preflight_failed(state: TriggerState, decision: Decision, problems: list[str]) -> tuple[TriggerState, Decision]:
    """A TRIGGER whose pre-flight found problems becomes a suppression; the cool-down does not start."""
    state = state.model_copy(update={"last_fired_at": None, "last_execution_id": None})
    return state, _suppress(
        "PREFLIGHT_FAILED",
        f"pre-flight found {len(problems)} problem(s)",
        execution_id=decision.execution_id,
        alarms=decision.alarms,
        quorum_since=decision.quorum_since,
        problems=problems,
    )


def _no_quorum(
    trigger: FailoverTrigger, state: TriggerState, now: datetime, in_alarm: list[str], alarm_entered: bool
) -> tuple[TriggerState, Decision]:
    previous = state.quorum_since
    state = state.model_copy(update={"quorum_since": None})
    if previous is not None and (state.decided_episode is None or previous > state.decided_episode):
        held = int((now - previous).total_seconds())
        return state, _suppress(
            "SUSTAIN_NOT_REACHED",
            f"quorum held {held} s of the {trigger.sustain_minutes} min sustain period, then broke",
            execution_id=execution_id_for(trigger, previous),
            alarms=in_alarm,
            quorum_since=previous,
        )
    if alarm_entered:
        return state, _suppress(
            "QUORUM_NOT_MET", f"{len(in_alarm)} of {trigger.quorum} alarm(s) needed are in ALARM", alarms=in_alarm
        )
    return state, Decision(Verdict.NONE, alarms=in_alarm)


def _suppress(
    reason: str,
    message: str,
    *,
    execution_id: str | None = None,
    alarms: list[str],
    quorum_since: datetime | None = None,
    problems: list[str] | None = None,
) -> Decision:
    return Decision(
        Verdict.SUPPRESS,
        execution_id=execution_id,
        reason=reason,
        message=message,
        alarms=alarms,
        quorum_since=quorum_since,
        problems=problems or [],
    )
