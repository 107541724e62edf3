"""Operator notifications (pure): milestone event + stored execution -> subject, text, JSON and filter attributes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from drwave.core.notifications import (
    JSON_PROTOCOLS,
    SUBJECT_MAX,
    Notification,
    Severity,
    notification_for,
    severity_of,
)
from drwave.models.events import (
    DrsJobStarted,
    EventDetail,
    ExecutionFinished,
    ExecutionStarted,
    WaveCompleted,
    WaveFailed,
    WaveGateWaiting,
)
from drwave.models.execution import Execution, ExecutionStatus, ExecutionType, WaveStatus

AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
DRILL, RECOVERY = ExecutionType.DRILL, ExecutionType.RECOVERY


@pytest.fixture
def execution(make_execution, wave):
    """`execution(kind)`: a stored execution of "Test plan" (plan-1) with waves db (Databases) and web."""

    def build(kind: ExecutionType = DRILL) -> Execution:
        return make_execution([wave("db", name="Databases"), wave("web", depends_on=["db"])], execution_type=kind)

    return build


def notify(detail: EventDetail, execution: Execution | None) -> Notification:
    return notification_for(detail, execution, event_id="evt-1", occurred_at=AT)


def gate(execution_id: str = "exe-0001") -> WaveGateWaiting:
    return WaveGateWaiting(
        execution_id=execution_id, wave_id="db", timeout_at=AT + timedelta(minutes=30), message="Check the DNS."
    )


def failed(status: WaveStatus = WaveStatus.FAILED) -> WaveFailed:
    return WaveFailed(execution_id="exe-0001", wave_id="db", status=status, reason="2 critical servers failed")


def finished(status: ExecutionStatus, kind: ExecutionType = DRILL) -> ExecutionFinished:
    return ExecutionFinished(
        execution_id="exe-0001", execution_type=kind, status=status, started_at=AT - timedelta(minutes=42), ended_at=AT
    )


# --- severity -------------------------------------------------------------------------------------------------

SEVERITIES = [
    (ExecutionStarted(execution_id="e", plan_id="p", execution_type=DRILL, wave_count=2), DRILL, Severity.INFO),
    (ExecutionStarted(execution_id="e", plan_id="p", execution_type=RECOVERY, wave_count=2), RECOVERY, "WARNING"),
    (gate(), DRILL, Severity.WARNING),
    (gate(), RECOVERY, Severity.WARNING),
    (
        WaveCompleted(execution_id="e", wave_id="db", status=WaveStatus.COMPLETED, launched=2, failed=0),
        RECOVERY,
        "INFO",
    ),
    (
        WaveCompleted(execution_id="e", wave_id="db", status=WaveStatus.COMPLETED_WITH_WARNINGS, launched=1, failed=1),
        DRILL,
        Severity.WARNING,
    ),
    (failed(), DRILL, Severity.WARNING),
    (failed(), RECOVERY, Severity.CRITICAL),
    (failed(), None, Severity.CRITICAL),
    (failed(WaveStatus.SKIPPED), DRILL, Severity.INFO),
    (failed(WaveStatus.CANCELLED), RECOVERY, Severity.WARNING),
    (finished(ExecutionStatus.COMPLETED, RECOVERY), RECOVERY, Severity.INFO),
    (finished(ExecutionStatus.COMPLETED_WITH_WARNINGS), DRILL, Severity.WARNING),
    (finished(ExecutionStatus.CANCELLED, RECOVERY), RECOVERY, Severity.WARNING),
    (finished(ExecutionStatus.FAILED), DRILL, Severity.WARNING),
    (finished(ExecutionStatus.FAILED, RECOVERY), RECOVERY, Severity.CRITICAL),
]


@pytest.mark.parametrize(("detail", "kind", "expected"), SEVERITIES, ids=lambda v: getattr(v, "DETAIL_TYPE", str(v)))
def test_severity_is_critical_only_when_a_real_failover_fails(detail, kind, expected):
    # GIVEN a milestone of a DRILL, a RECOVERY or an execution of unknown type  WHEN its severity is classified
    # THEN failures of recoveries (or of unknown types) are CRITICAL, gates and warnings WARNING, progress INFO
    assert severity_of(detail, kind) == expected


# --- one notification per milestone ---------------------------------------------------------------------------


def test_execution_started_names_the_plan_type_and_wave_count(execution):
    # GIVEN a RECOVERY execution that started
    detail = ExecutionStarted(execution_id="exe-0001", plan_id="plan-1", execution_type=RECOVERY, wave_count=2)
    # WHEN it is notified
    n = notify(detail, execution(RECOVERY))
    # THEN subject and text say what started, and the JSON carries the same facts
    assert n.subject == "[drwave] RECOVERY plan-1: execution started (2 waves)"
    assert "Plan:      Test plan (plan-1)" in n.text
    assert "Type:      RECOVERY" in n.text
    assert n.data["status"] == "RUNNING"
    assert n.data["waveCount"] == 2
    assert n.attributes() == {
        "executionType": "RECOVERY",
        "severity": "WARNING",
        "eventType": "Execution Started",
        "planId": "plan-1",
    }


def test_gate_waiting_tells_the_operator_the_deadline_and_how_to_approve(execution):
    # GIVEN a wave waiting 30 minutes for approval
    n = notify(gate(), execution(DRILL))
    # WHEN the operator reads the e-mail text
    # THEN it names the wave, quotes the gate message, gives the deadline and both ways to approve
    assert n.subject == "[drwave] DRILL plan-1: wave db waits for approval"
    assert "Wave:      Databases (db)" in n.text
    assert "Status:    WAITING_APPROVAL" in n.text
    assert "Gate:      Check the DNS." in n.text
    assert "Deadline:  2026-01-05T10:00:00.000Z (in 30 min)" in n.text
    assert "  drwave executions approve exe-0001 db" in n.text
    assert "  POST /executions/exe-0001/waves/db/approve" in n.text
    # AND machines get the same facts as fields
    assert n.data["gateDeadline"] == "2026-01-05T10:00:00.000Z"
    assert n.data["approve"] == {
        "rest": "POST /executions/exe-0001/waves/db/approve",
        "cli": "drwave executions approve exe-0001 db",
    }
    assert n.severity is Severity.WARNING


def test_wave_completed_with_warnings_counts_launched_and_failed_servers(execution):
    # GIVEN a wave whose optional server failed
    detail = WaveCompleted(
        execution_id="exe-0001", wave_id="web", status=WaveStatus.COMPLETED_WITH_WARNINGS, launched=3, failed=1
    )
    # WHEN it is notified
    n = notify(detail, execution(DRILL))
    # THEN the counts are in the text and the JSON; an unnamed wave is shown by its id
    assert n.subject == "[drwave] DRILL plan-1: wave web completed with warnings"
    assert "Wave:      web\n" in n.text
    assert "Servers:   3 launched, 1 failed" in n.text
    assert (n.data["launched"], n.data["failed"], n.data["status"]) == (3, 1, "COMPLETED_WITH_WARNINGS")
    assert "waveName" not in n.data


def test_failed_recovery_wave_is_critical_and_gives_the_reason(execution):
    # GIVEN a RECOVERY wave that failed
    n = notify(failed(), execution(RECOVERY))
    # THEN the notification is CRITICAL, says why, and is filterable as such
    assert n.subject == "[drwave] RECOVERY plan-1: wave db failed"
    assert "Reason:    2 critical servers failed" in n.text
    assert "Severity:  CRITICAL" in n.text
    assert n.data["reason"] == "2 critical servers failed"
    assert n.attributes()["severity"] == "CRITICAL"
    assert n.attributes()["executionType"] == "RECOVERY"


def test_execution_finished_gives_the_outcome_duration_and_wave_tally(execution):
    # GIVEN a finished execution: db completed, web skipped
    stored = execution(DRILL)
    stored.waves["db"].status = WaveStatus.COMPLETED
    stored.waves["web"].status = WaveStatus.SKIPPED
    # WHEN it is notified
    n = notify(finished(ExecutionStatus.FAILED), stored)
    # THEN the operator sees the outcome, how long it took and how the waves ended
    assert n.subject == "[drwave] DRILL plan-1: execution finished FAILED"
    assert "Duration:  42 min" in n.text
    assert "Waves:     1 COMPLETED, 1 SKIPPED" in n.text
    assert n.data["waves"] == {"COMPLETED": 1, "SKIPPED": 1}
    assert n.data["startedAt"] == "2026-01-05T08:48:00.000Z"
    assert n.data["endedAt"] == "2026-01-05T09:30:00.000Z"


def test_without_the_stored_execution_the_event_alone_is_notified_as_of_unknown_type():
    # GIVEN a wave event whose execution could not be loaded
    n = notify(failed(), None)
    # THEN it is still notified, typed UNKNOWN and (as a possible failover) CRITICAL, without plan fields
    assert n.execution_type == "UNKNOWN"
    assert n.severity is Severity.CRITICAL
    assert n.subject == "[drwave] UNKNOWN exe-0001: wave db failed"
    assert "planId" not in n.data
    assert "planId" not in n.attributes()
    assert "Plan:" not in n.text


def test_an_event_that_is_not_a_milestone_has_no_notification(execution):
    # GIVEN an internal event  WHEN asked for its notification  THEN it is refused
    detail = DrsJobStarted(execution_id="exe-0001", wave_id="db", job_id="drsjob-1", chunk_index=0, server_count=1)
    with pytest.raises(ValueError, match="DRS Job Started"):
        notify(detail, execution(DRILL))


# --- the SNS shapes -------------------------------------------------------------------------------------------


def test_protocol_messages_give_text_to_people_and_json_to_machines(execution):
    # GIVEN a notification
    n = notify(gate(), execution(RECOVERY))
    # WHEN it is shaped for a `MessageStructure: json` publish
    messages = n.protocol_messages()
    # THEN e-mail and the default get the text, queues, functions and web hooks the JSON
    assert messages["default"] == messages["email"] == n.text
    assert {"sqs", "lambda", "https"} <= set(JSON_PROTOCOLS)
    for protocol in JSON_PROTOCOLS:
        assert json.loads(messages[protocol]) == n.data
    # AND the JSON has the identifiers a subscriber needs to act and to deduplicate
    assert n.data["eventId"] == "evt-1"
    assert n.data["occurredAt"] == "2026-01-05T09:30:00.000Z"
    assert {"executionId", "executionType", "planId", "planName", "waveId", "waveName", "severity"} <= set(n.data)


def test_subject_is_sns_safe_ascii_of_at_most_100_characters(make_execution, wave):
    # GIVEN a plan whose id is long and a wave that failed
    stored = make_execution([wave("db")], execution_type=RECOVERY)
    stored.plan.id = "p" * 150
    # WHEN it is notified
    n = notify(failed(), stored)
    # THEN the subject is cut to SNS's limit and printable ASCII only
    assert len(n.subject) == SUBJECT_MAX
    assert n.subject.endswith("...")
    assert n.subject.isascii()
    assert n.subject.isprintable()


def test_non_ascii_and_line_breaks_never_reach_the_subject(make_execution, wave):
    # GIVEN a plan id an operator typed with an accent and a newline
    stored = make_execution([wave("db")], execution_type=DRILL)
    stored.plan.id = "café\nplan"
    # THEN the subject replaces what SNS would reject
    assert notify(failed(), stored).subject == "[drwave] DRILL caf? plan: wave db failed"


def test_long_free_text_is_clipped_so_messages_stay_small(execution):
    # GIVEN a failure reason of 5000 characters
    detail = WaveFailed(execution_id="exe-0001", wave_id="db", status=WaveStatus.FAILED, reason="x" * 5000)
    # THEN the notification quotes at most 1000 of them
    n = notify(detail, execution(DRILL))
    assert len(n.data["reason"]) == 1000
    assert n.data["reason"].endswith("...")
