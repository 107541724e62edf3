"""notify handler against moto's SNS and SQS: one message per milestone, filterable by its attributes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from drwave.handlers.common import InvalidEvent
from drwave.models.events import (
    DrsJobStarted,
    EventDetail,
    ExecutionFinished,
    ExecutionStarted,
    WaveFailed,
    WaveGateWaiting,
)
from drwave.models.execution import ExecutionStatus, ExecutionType, WaveStatus

RECOVERY_CRITICAL = {"executionType": ["RECOVERY"], "severity": ["CRITICAL"]}
Subscriber = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def subscribe(harness) -> Callable[..., Subscriber]:
    """`subscribe(h, filter_policy=None)`: an SQS queue subscribed to the runtime's topic; returns a drain function
    giving each delivered SNS envelope with its parsed JSON message."""

    def build(h: Any, filter_policy: dict[str, list[str]] | None = None) -> Subscriber:
        region = h.rt.env.region
        sqs, sns = boto3.client("sqs", region_name=region), boto3.client("sns", region_name=region)
        name = f"subscriber-{len(sns.list_subscriptions()['Subscriptions'])}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
        sns.subscribe(TopicArn=h.rt.notification_topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)

        def drain() -> list[dict[str, Any]]:
            received = []
            while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for message in batch:
                    envelope = json.loads(message["Body"])
                    received.append({**envelope, "json": json.loads(envelope["Message"])})
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return received

        return drain

    return build


def milestone(h: Any, detail: EventDetail) -> None:
    """Deliver one milestone to notify, as the bus would."""
    h.send("notify", detail)


def wave_failed() -> WaveFailed:
    return WaveFailed(
        execution_id="exe-0001", wave_id="db", status=WaveStatus.FAILED, reason="1 critical server failed"
    )


def test_only_failed_recoveries_reach_a_subscription_filtering_on_recovery_and_critical(
    harness, two_waves, sid, subscribe
):
    # GIVEN a RECOVERY execution, one queue filtering on RECOVERY + CRITICAL and one taking everything
    h = harness(two_waves([sid(1)], [sid(2)]))
    h.request("exe-0001", kind="RECOVERY")
    critical, everything = subscribe(h, RECOVERY_CRITICAL), subscribe(h)
    # WHEN notify hears that it started (a WARNING) and that its db wave failed (CRITICAL)
    milestone(h, ExecutionStarted(execution_id="exe-0001", plan_id="plan-it", execution_type="RECOVERY", wave_count=2))
    milestone(h, wave_failed())
    # THEN the filtered queue got only the failure, the other queue both
    (failure,) = critical()
    assert [m["json"]["eventType"] for m in everything()] == ["Execution Started", "Wave Failed"]
    # AND a queue receives the JSON variant, with the attributes and the subject SNS delivered alongside
    assert failure["json"]["executionId"] == "exe-0001"
    assert failure["json"]["planName"] == "Integration plan"
    assert failure["json"]["waveId"] == "db"
    assert failure["json"]["reason"] == "1 critical server failed"
    assert failure["Subject"] == "[drwave] RECOVERY plan-it: wave db failed"
    attributes = {name: a["Value"] for name, a in failure["MessageAttributes"].items()}
    assert attributes == {
        "executionType": "RECOVERY",
        "severity": "CRITICAL",
        "eventType": "Wave Failed",
        "planId": "plan-it",
    }


def test_a_failed_drill_wave_does_not_page_the_recovery_subscription(harness, two_waves, sid, subscribe):
    # GIVEN a DRILL execution and the RECOVERY + CRITICAL subscription
    h = harness(two_waves([sid(1)], [sid(2)]))
    h.request("exe-0001", kind="DRILL")
    critical, everything = subscribe(h, RECOVERY_CRITICAL), subscribe(h)
    # WHEN its db wave fails
    milestone(h, wave_failed())
    # THEN only the unfiltered queue hears of it, as a WARNING of a DRILL
    assert critical() == []
    (message,) = everything()
    assert (message["json"]["executionType"], message["json"]["severity"]) == ("DRILL", "WARNING")


def test_gate_waiting_reaches_a_warning_subscription_with_the_approve_commands(harness, two_waves, sid, subscribe):
    # GIVEN a subscription for gates only (eventType filter)
    h = harness(two_waves([sid(1)], [sid(2)]))
    h.request("exe-0001", kind="RECOVERY")
    gates = subscribe(h, {"eventType": ["Wave Gate Waiting"], "severity": ["WARNING"]})
    # WHEN app waits for approval
    deadline = h.rt.clock.now()
    milestone(h, WaveGateWaiting(execution_id="exe-0001", wave_id="app", timeout_at=deadline, message="Go?"))
    milestone(h, ExecutionStarted(execution_id="exe-0001", plan_id="plan-it", execution_type="RECOVERY", wave_count=2))
    # THEN the gate notification alone arrives, telling how to approve
    (message,) = gates()
    assert message["json"]["approve"] == {
        "rest": "POST /executions/exe-0001/waves/app/approve",
        "cli": "drwave executions approve exe-0001 app",
    }
    assert message["json"]["gateMessage"] == "Go?"


def test_a_milestone_of_an_unknown_execution_is_still_notified(harness, two_waves, sid, subscribe):
    # GIVEN no execution exe-0404 in the store
    h = harness(two_waves([sid(1)], [sid(2)]))
    everything = subscribe(h)
    # WHEN its finish is notified (the event carries the execution type)
    milestone(
        h,
        ExecutionFinished(
            execution_id="exe-0404",
            execution_type=ExecutionType.RECOVERY,
            status=ExecutionStatus.FAILED,
            started_at=h.rt.clock.now(),
            ended_at=h.rt.clock.now(),
        ),
    )
    # THEN subscribers still hear of it, with what the event says
    (message,) = everything()
    assert message["json"]["executionType"] == "RECOVERY"
    assert message["json"]["severity"] == "CRITICAL"
    assert "planId" not in message["json"]


def test_events_that_are_not_milestones_are_rejected_and_publish_nothing(harness, two_waves, sid, subscribe):
    # GIVEN a subscriber
    h = harness(two_waves([sid(1)], [sid(2)]))
    h.request("exe-0001", kind="DRILL")
    everything = subscribe(h)
    # WHEN notify is given an internal event, or a milestone that breaks its contract
    with pytest.raises(InvalidEvent, match="DRS Job Started"):
        milestone(h, DrsJobStarted(execution_id="exe-0001", wave_id="db", job_id="j", chunk_index=0, server_count=1))
    with pytest.raises(ValidationError):
        h.send("notify", {"executionId": "exe-0001", "waveId": "db"}, "Wave Failed")
    # THEN nothing was published
    assert everything() == []


def test_notify_without_a_topic_fails_instead_of_dropping_the_milestone(harness, two_waves, sid, monkeypatch):
    # GIVEN dependencies built without a notification topic (a function wired without NOTIFICATION_TOPIC_ARN)
    h = harness(two_waves([sid(1)], [sid(2)]))
    monkeypatch.setattr(h.rt.deps, "notifier", None)
    # WHEN a milestone arrives  THEN the invocation fails (Lambda retries it, then dead-letters it)
    with pytest.raises(RuntimeError, match="NOTIFICATION_TOPIC_ARN"):
        milestone(h, wave_failed())
