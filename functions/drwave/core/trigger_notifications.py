"""Operator notifications of trigger decisions: Drill Skipped, Drill Overdue, Failover Triggered / Suppressed. Pure."""

from __future__ import annotations

from drwave.core.notifications import Notification, Severity, approve_commands
from drwave.models.base import iso_z
from drwave.models.events import DrillOverdue, DrillSkipped, FailoverSuppressed, FailoverTriggered

TRIGGER_EVENTS = (DrillSkipped, DrillOverdue, FailoverTriggered, FailoverSuppressed)
TriggerEvent = DrillSkipped | DrillOverdue | FailoverTriggered | FailoverSuppressed


def trigger_notification(detail: TriggerEvent, event_id: str | None = None) -> Notification:
    """Subject, text and JSON for one trigger decision; problems are listed, every one of them."""
    data = {"eventType": detail.DETAIL_TYPE, **detail.to_wire(), "eventId": event_id}
    data = {k: v for k, v in data.items() if v is not None}
    lines: list[str]
    if isinstance(detail, DrillSkipped):
        severity, kind = Severity.WARNING, "DRILL"
        subject = f"drwave: scheduled drill of {detail.plan_id} skipped ({detail.reason})"
        lines = [f"Schedule {detail.schedule_id} at {iso_z(detail.scheduled_time)}: {detail.message}."]
        lines += [f"  - {p}" for p in detail.problems]
    elif isinstance(detail, DrillOverdue):
        severity, kind = Severity.WARNING, "DRILL"
        subject = f"drwave: drill of {detail.plan_id} overdue"
        last = iso_z(detail.last_drill_at) if detail.last_drill_at else "never"
        lines = [f"Plan {detail.plan_id} wants a successful drill every {detail.drill_every_days} days; last: {last}."]
    elif isinstance(detail, FailoverTriggered):
        severity, kind = Severity.CRITICAL, str(detail.execution_type)
        subject = f"drwave: failover of {detail.plan_id} triggered ({detail.mode})"
        lines = [
            f"Trigger {detail.trigger_id} started {detail.execution_type} {detail.execution_id}.",
            f"Alarms in ALARM since {iso_z(detail.quorum_since)}: {', '.join(detail.alarms)}.",
        ]
        if detail.confirm_by is not None:
            lines.append(f"Nothing launches until an admin approves, before {iso_z(detail.confirm_by)}:")
            for wave in detail.confirm_waves:
                lines.append(f"  {approve_commands(str(detail.execution_id), wave)['cli']} --role admin")
            data["approve"] = [approve_commands(str(detail.execution_id), w) for w in detail.confirm_waves]
    else:
        severity, kind = Severity.WARNING, "RECOVERY"
        subject = f"drwave: failover of {detail.plan_id} suppressed ({detail.reason})"
        lines = [f"Trigger {detail.trigger_id}: {detail.message}."] + [f"  - {p}" for p in detail.problems]
    execution_id = detail.execution_id or ""
    return Notification(detail.DETAIL_TYPE, severity, execution_id, kind, subject[:100], "\n".join(lines), data)
