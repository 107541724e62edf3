"""Notify: an execution's milestones -> the SNS notification topic, for the operators and their tools.

Triggered by "Execution Started", "Wave Gate Waiting", "Wave Completed", "Wave Failed" and "Execution Finished".
Read-only on the state (the plan and wave names come from the stored execution). Delivery is at least once: a
redelivered event is notified again, with the same eventId for subscribers that deduplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drwave.core.notifications import NOTIFIED_EVENTS, notification_for
from drwave.engine.log import logger
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.common import InvalidEvent, detail_of
from drwave.models.events import parse_detail


@logger.inject_lambda_context(correlation_id_path="detail.executionId", clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> None:
    """Format the milestone and publish it to the topic."""
    deps = deps or default_dependencies()
    if deps.notifier is None:
        raise RuntimeError("NOTIFICATION_TOPIC_ARN: the notify function needs the notification topic")
    detail = parse_detail(str(event.get("detail-type")), detail_of(event))
    if not isinstance(detail, NOTIFIED_EVENTS):
        raise InvalidEvent(f"detail-type: notify does not handle {detail.DETAIL_TYPE!r}")
    execution = deps.store.load_execution(detail.execution_id)
    if execution is None:
        logger.warning("unknown execution: notifying with what the event carries", execution_id=detail.execution_id)
    notification = notification_for(detail, execution, event_id=event.get("id"), occurred_at=_time(event))
    message_id = deps.notifier.notify(notification)
    # Identifiers and classification only: gate messages and failure reasons stay out of the logs.
    logger.info(
        "notification published",
        event_type=notification.event_type,
        severity=notification.severity,
        execution_type=notification.execution_type,
        wave_id=notification.data.get("waveId"),
        message_id=message_id,
    )


def _time(event: dict[str, Any]) -> datetime | None:
    """The envelope's time (ISO 8601, Z); None when absent or malformed."""
    try:
        return datetime.fromisoformat(str(event["time"]))
    except (KeyError, ValueError):
        return None
