"""Trigger: drill schedule occurrences, CloudWatch alarm state changes, the trigger tick, and their notifications.

Invoked by EventBridge Scheduler (Input `{"drwaveSchedule": {"scheduleId", "scheduledTime"}}`), by the
"CloudWatch Alarm State Change" rule, by its own tick schedule (sustain periods, drill freshness), and by the rule
on drwave's trigger decisions (-> the notification topic). The decisions are in drwave.core.triggers / schedules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drwave.adapters.scheduler import INPUT_KEY
from drwave.control.triggers import TriggerControl
from drwave.core.trigger_notifications import TRIGGER_EVENTS, trigger_notification
from drwave.core.triggers import AlarmChange
from drwave.engine.log import logger
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.common import InvalidEvent, detail_of
from drwave.models.events import parse_detail


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> dict[str, Any]:
    """Dispatch on what delivered the event; returns the outcome for logs and tests."""
    deps = deps or default_dependencies()
    if INPUT_KEY in event:
        occurrence = event[INPUT_KEY]
        scheduled = _time(occurrence.get("scheduledTime"), "drwaveSchedule.scheduledTime")
        outcome = TriggerControl(deps).fire_schedule(str(occurrence.get("scheduleId")), scheduled)
        logger.info("drill occurrence", schedule_id=occurrence.get("scheduleId"), **outcome)
        return outcome
    source, detail_type = event.get("source"), str(event.get("detail-type"))
    if source == "aws.cloudwatch" and detail_type == "CloudWatch Alarm State Change":
        return {"decisions": TriggerControl(deps).on_alarm(alarm_change(event))}
    if source == "aws.events" and detail_type == "Scheduled Event":
        return TriggerControl(deps).on_tick()
    if source == "drwave":
        detail = parse_detail(detail_type, detail_of(event))
        if not isinstance(detail, TRIGGER_EVENTS) or deps.notifier is None:
            raise InvalidEvent(f"detail-type: the trigger function does not notify {detail_type!r}")
        message_id = deps.notifier.notify(trigger_notification(detail, event_id=event.get("id")))
        logger.info("trigger notification published", event_type=detail_type, message_id=message_id)
        return {"notified": detail_type}
    raise InvalidEvent(f"source/detail-type: the trigger function does not handle {source}/{detail_type}")


def alarm_change(event: dict[str, Any]) -> AlarmChange:
    """AWS's alarm event -> the alarm's ARN (resources[0], any account or Region), its new state and state time."""
    detail = detail_of(event)
    resources = event.get("resources") or []
    if not resources:
        raise InvalidEvent("resources: an alarm state change names its alarm ARN")
    state = detail.get("state") or {}
    value = state.get("value")
    if value not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
        raise InvalidEvent(f"detail.state.value: unknown alarm state {value!r}")
    return AlarmChange(str(resources[0]), value, _time(state.get("timestamp"), "detail.state.timestamp"))


def _time(text: Any, field: str) -> datetime:
    """AWS timestamps: 2026-01-05T08:55:00Z, or CloudWatch's 2026-01-05T08:55:00.000+0000."""
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError:
        raise InvalidEvent(f"{field}: not an ISO 8601 timestamp: {text!r}") from None
    if value.tzinfo is None:
        raise InvalidEvent(f"{field}: the timestamp has no time zone")
    return value
