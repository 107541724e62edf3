"""Operator notifications: an execution milestone (event detail) -> subject, plain text and structured JSON.

Pure: no clock, no I/O. The SNS notifier publishes the result; subscribers filter on its attributes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from drwave.models.base import iso_z
from drwave.models.events import (
    DrillCleanedUp,
    DrillCleanupWarning,
    EventDetail,
    ExecutionFinished,
    ExecutionStarted,
    WaveCompleted,
    WaveFailed,
    WaveGateWaiting,
)
from drwave.models.execution import Execution, ExecutionStatus, ExecutionType, WaveStatus

NOTIFIED_EVENTS: tuple[type[EventDetail], ...] = (
    ExecutionStarted,
    WaveGateWaiting,
    WaveCompleted,
    WaveFailed,
    ExecutionFinished,
    DrillCleanupWarning,
    DrillCleanedUp,
)
UNKNOWN_TYPE = "UNKNOWN"
SUBJECT_MAX = 100  # SNS: at most 100 printable ASCII characters, no line breaks
FREE_TEXT_MAX = 1000  # operator-written gate messages and failure reasons are quoted, not dumped
# Protocols whose subscribers get the structured JSON; the rest (e-mail, SMS, default) get the text.
JSON_PROTOCOLS = ("sqs", "lambda", "http", "https", "email-json", "firehose")


class Severity(StrEnum):
    """How urgently an operator should look: subscribers filter on it."""

    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True)
class Notification:
    """One message for the notification topic: a subject, a text body, a JSON body and filterable attributes."""

    event_type: str
    severity: Severity
    execution_id: str
    execution_type: str  # DRILL | RECOVERY | UNKNOWN (the execution could not be loaded)
    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def attributes(self) -> dict[str, str]:
        """Message attributes that SNS subscription filter policies match on."""
        attributes = {
            "executionType": self.execution_type,
            "severity": str(self.severity),
            "eventType": self.event_type,
        }
        if plan_id := self.data.get("planId"):
            attributes["planId"] = plan_id
        return attributes

    def protocol_messages(self) -> dict[str, str]:
        """The per-protocol bodies of a `MessageStructure: json` publish."""
        structured = json.dumps(self.data, sort_keys=True)
        return {"default": self.text, "email": self.text, **dict.fromkeys(JSON_PROTOCOLS, structured)}


def execution_type_of(detail: EventDetail, execution: Execution | None) -> ExecutionType | None:
    """DRILL or RECOVERY, from the event when it says, else from the stored execution."""
    if isinstance(detail, ExecutionStarted | ExecutionFinished):
        return detail.execution_type
    return execution.execution_type if execution is not None else None


def severity_of(detail: EventDetail, execution_type: ExecutionType | None) -> Severity:
    """A failure is CRITICAL only when a real failover is at stake; an unknown type is treated as one."""
    recovery = execution_type is not ExecutionType.DRILL
    match detail:
        case ExecutionStarted():
            return Severity.WARNING if recovery else Severity.INFO
        case WaveGateWaiting():
            return Severity.WARNING
        case WaveCompleted():
            return Severity.INFO if detail.status is WaveStatus.COMPLETED else Severity.WARNING
        case WaveFailed():
            if detail.status is WaveStatus.FAILED:
                return Severity.CRITICAL if recovery else Severity.WARNING
            return Severity.WARNING if recovery else Severity.INFO  # skipped or cancelled: a consequence
        case DrillCleanupWarning():
            return Severity.WARNING
        case DrillCleanedUp():
            return Severity.WARNING if detail.failed else Severity.INFO
        case ExecutionFinished():
            if detail.status is ExecutionStatus.COMPLETED:
                return Severity.INFO
            if detail.status is ExecutionStatus.FAILED and recovery:
                return Severity.CRITICAL
            return Severity.WARNING
    raise ValueError(f"detail-type: no notification for {detail.DETAIL_TYPE!r}")


def approve_commands(execution_id: str, wave_id: str) -> dict[str, str]:
    """How an operator approves a waiting gate: the REST call and the CLI command."""
    return {
        "rest": f"POST /executions/{execution_id}/waves/{wave_id}/approve",
        "cli": f"drwave executions approve {execution_id} {wave_id}",
    }


def notification_for(
    detail: EventDetail,
    execution: Execution | None,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Notification:
    """The notification of one milestone; `execution` (may be None) supplies the plan and the wave names."""
    if not isinstance(detail, NOTIFIED_EVENTS):
        raise ValueError(f"detail-type: no notification for {detail.DETAIL_TYPE!r}")
    kind = execution_type_of(detail, execution)
    type_text = str(kind) if kind else UNKNOWN_TYPE
    severity = severity_of(detail, kind)
    plan_id = execution.plan.id if execution else getattr(detail, "plan_id", None)
    plan_name = execution.plan.name if execution else None
    wave_id: str | None = getattr(detail, "wave_id", None)
    data: dict[str, Any] = {
        "schemaVersion": "1",
        "eventType": detail.DETAIL_TYPE,
        "eventId": event_id,  # subscribers deduplicate on it: delivery is at least once
        "occurredAt": iso_z(occurred_at) if occurred_at else None,
        "severity": str(severity),
        "executionId": detail.execution_id,
        "executionType": type_text,
        "planId": plan_id,
        "planName": plan_name,
        "waveId": wave_id,
        "waveName": _wave_name(execution, wave_id),
    }
    headline, facts, actions = _describe(detail, execution, occurred_at, data)
    data = {k: v for k, v in data.items() if v is not None}
    plan = f"{plan_name} ({plan_id})" if plan_name else plan_id
    rows = [("Execution", detail.execution_id), ("Type", type_text), ("Plan", plan)]
    if wave_id:
        wave_name = data.get("waveName")
        rows.append(("Wave", f"{wave_name} ({wave_id})" if wave_name else wave_id))
    rows += [*facts, ("Severity", str(severity))]
    width = max(len(label) for label, value in rows if value)
    lines = [f"{headline[0].upper()}{headline[1:]}.", ""]
    lines += [f"{label + ':':<{width + 1}} {value}" for label, value in rows if value]
    if actions:
        lines += ["", *actions]
    subject = _subject(f"[drwave] {type_text} {plan_id or detail.execution_id}: {headline}")
    return Notification(detail.DETAIL_TYPE, severity, detail.execution_id, type_text, subject, "\n".join(lines), data)


def _describe(
    detail: EventDetail, execution: Execution | None, occurred_at: datetime | None, data: dict[str, Any]
) -> tuple[str, list[tuple[str, str | None]], list[str]]:
    """Headline, labelled facts and what-to-do lines of one milestone; fills its fields into `data`."""
    facts: list[tuple[str, str | None]] = []
    actions: list[str] = []
    wave = f"wave {getattr(detail, 'wave_id', '')}"
    match detail:
        case ExecutionStarted():
            data.update(status=str(ExecutionStatus.RUNNING), waveCount=detail.wave_count)
            headline = f"execution started ({detail.wave_count} waves)"
            facts.append(("Status", str(ExecutionStatus.RUNNING)))
        case WaveGateWaiting():
            commands = approve_commands(detail.execution_id, detail.wave_id)
            message = _clip(detail.message)
            data.update(
                status=str(WaveStatus.WAITING_APPROVAL),
                gateDeadline=iso_z(detail.timeout_at),
                gateMessage=message or None,
                approve=commands,
            )
            headline = f"{wave} waits for approval"
            deadline = iso_z(detail.timeout_at)
            if occurred_at is not None:
                deadline += f" (in {_duration(detail.timeout_at - occurred_at)})"
            facts += [("Status", str(WaveStatus.WAITING_APPROVAL)), ("Gate", message), ("Deadline", deadline)]
            actions = [
                "The wave fails if nobody approves it before the deadline. To approve:",
                f"  {commands['cli']}",
                f"  {commands['rest']}",
            ]
        case WaveCompleted():
            data.update(status=str(detail.status), launched=detail.launched, failed=detail.failed)
            headline = (
                f"{wave} completed" if detail.status is WaveStatus.COMPLETED else f"{wave} completed with warnings"
            )
            facts += [
                ("Status", str(detail.status)),
                ("Servers", f"{detail.launched} launched, {detail.failed} failed"),
            ]
        case WaveFailed():
            reason = _clip(detail.reason)
            data.update(status=str(detail.status), reason=reason)
            headline = f"{wave} {str(detail.status).lower()}"
            facts += [("Status", str(detail.status)), ("Reason", reason)]
        case ExecutionFinished():
            data.update(
                status=str(detail.status),
                startedAt=iso_z(detail.started_at) if detail.started_at else None,
                endedAt=iso_z(detail.ended_at),
                waves=_wave_counts(execution),
            )
            headline = f"execution finished {detail.status}"
            took = _duration(detail.ended_at - detail.started_at) if detail.started_at else None
            counts = ", ".join(f"{n} {s}" for s, n in (data["waves"] or {}).items())
            facts += [("Status", str(detail.status)), ("Duration", took), ("Waves", counts or None)]
        case DrillCleanupWarning():
            data.update(expiresAt=iso_z(detail.expires_at), instanceCount=detail.instance_count)
            headline = f"drill instances will be terminated at {iso_z(detail.expires_at)}"
            when = iso_z(detail.expires_at)
            if occurred_at is not None:
                when += f" (in {_duration(detail.expires_at - occurred_at)})"
            facts += [("Instances", str(detail.instance_count)), ("Terminated at", when)]
            rest = f"/executions/{detail.execution_id}/cleanup"
            actions = [
                "To keep them longer or for good:",
                f'  POST {rest} {{"extendMinutes": 60}}',
                f'  POST {rest} {{"keepForever": true}}',
            ]
        case DrillCleanedUp():
            data.update(
                terminated=detail.terminated, failed=detail.failed, skipped=detail.skipped, jobIds=detail.job_ids
            )
            headline = f"drill cleaned up ({detail.terminated} instances terminated)"
            facts += [
                ("Terminated", str(detail.terminated)),
                ("Failed", str(detail.failed)),
                ("Skipped", str(detail.skipped)),
                ("DRS jobs", ", ".join(detail.job_ids) or None),
            ]
        case _:  # pragma: no cover - notification_for only passes NOTIFIED_EVENTS
            raise ValueError(detail.DETAIL_TYPE)
    facts += _objective_facts(detail, data)
    return headline, facts, actions


def _objective_facts(detail: EventDetail, data: dict[str, Any]) -> list[tuple[str, str | None]]:
    """RTO/RPO against the declared targets (only objectives that have one), as facts and `objectives` data."""
    facts: list[tuple[str, str | None]] = []
    verdicts: dict[str, Any] = {}
    for kind in ("rto", "rpo"):
        met = getattr(detail, f"{kind}_met", None)
        if met is None:
            continue
        seconds = getattr(detail, f"{kind}_seconds", None) or 0.0
        target = getattr(detail, f"target_{kind}_minutes", None)
        verdicts[kind] = {"measuredSeconds": seconds, "targetMinutes": target, "met": met}
        facts.append((kind.upper(), f"{seconds / 60:.1f} min, target {target} min: {'PASS' if met else 'FAIL'}"))
    if verdicts:
        data["objectives"] = verdicts
    return facts


def _wave_name(execution: Execution | None, wave_id: str | None) -> str | None:
    if execution is None or wave_id is None:
        return None
    name = next((w.name for w in execution.plan.waves if w.id == wave_id), "")
    return name or None


def _wave_counts(execution: Execution | None) -> dict[str, int] | None:
    """How many waves ended in each status, in lifecycle order."""
    if execution is None:
        return None
    statuses = [w.status for w in execution.waves.values()]
    return {str(s): statuses.count(s) for s in WaveStatus if s in statuses}


def _duration(delta: timedelta) -> str:
    minutes = max(0, round(delta.total_seconds() / 60))
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= FREE_TEXT_MAX else text[: FREE_TEXT_MAX - 3] + "..."


def _subject(text: str) -> str:
    """SNS subjects are printable ASCII without line breaks, at most 100 characters."""
    ascii_text = re.sub(r"\s+", " ", text).encode("ascii", "replace").decode("ascii")
    ascii_text = re.sub(r"[^\x20-\x7e]", "?", ascii_text)
    return ascii_text if len(ascii_text) <= SUBJECT_MAX else ascii_text[: SUBJECT_MAX - 3] + "..."
