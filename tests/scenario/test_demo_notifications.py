"""Operator notifications in the local runtime: the demo drill, end to end, as a subscriber of the topic sees it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from drwave.models.execution import ExecutionStatus
from drwave_local.runtime.embedded import LocalRuntime
from drwave_local.simulators.environment import load_environment, load_plan_document

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APPROVE_AFTER_SECONDS = 120.0


def subscribe_queue(rt: LocalRuntime, name: str, filter_policy: dict[str, list[str]] | None = None) -> Any:
    """An SQS queue subscribed to the runtime's notification topic; returns a function draining its messages."""
    sqs, sns = boto3.client("sqs", region_name=rt.env.region), boto3.client("sns", region_name=rt.env.region)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
    sns.subscribe(TopicArn=rt.notification_topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)

    def drain() -> list[dict[str, Any]]:
        received = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                received.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return received

    return drain


def approve_gates_later(rt: LocalRuntime) -> None:
    """The demo's operator: approves every gate two simulated minutes after it opens."""

    def observe(_bus: str, event: dict[str, Any]) -> None:
        if event["detail-type"] == "Wave Gate Waiting":
            detail = event["detail"]
            approve = lambda: rt.approve(detail["executionId"], detail["waveId"], "scenario-operator")  # noqa: E731
            rt.clock.call_later(APPROVE_AFTER_SECONDS, approve, label="operator")

    rt.router.observers.append(observe)


def test_the_demo_drill_notifies_each_milestone_once_and_in_order():
    # GIVEN the demo's retail plan and environment, an operator approving gates, and two subscribers of the
    # topic: one for everything, one for gates only
    document = load_plan_document(EXAMPLES / "retail-plan.yaml")
    with LocalRuntime(load_environment(EXAMPLES / "retail-environment.yaml")) as rt:
        rt.install(document)
        approve_gates_later(rt)
        everything = subscribe_queue(rt, "everything")
        gates = subscribe_queue(rt, "gates", {"eventType": ["Wave Gate Waiting"]})
        # WHEN the plan is rehearsed as a DRILL
        execution_id = rt.request_execution(document.recovery_plan.id)
        rt.run()
        assert rt.execution(execution_id).status is ExecutionStatus.COMPLETED_WITH_WARNINGS
        received, gate_requests = everything(), gates()
    # THEN the subscriber heard every milestone once, in the order the execution lived it
    # (orders and payments run in parallel, so their completions may come either way round)
    story = [(n["eventType"], n.get("waveId"), n.get("status"), n["severity"]) for n in received]
    assert story[:3] == [
        ("Execution Started", None, "RUNNING", "INFO"),
        ("Wave Completed", "identity", "COMPLETED", "INFO"),
        ("Wave Completed", "databases", "COMPLETED", "INFO"),
    ]
    assert sorted(story[3:5]) == [
        ("Wave Completed", "orders", "COMPLETED", "INFO"),
        ("Wave Completed", "payments", "COMPLETED", "INFO"),
    ]
    assert story[5:8] == [
        ("Wave Gate Waiting", "web", "WAITING_APPROVAL", "WARNING"),
        ("Wave Completed", "web", "COMPLETED_WITH_WARNINGS", "WARNING"),
        ("Execution Finished", None, "COMPLETED_WITH_WARNINGS", "WARNING"),
    ]
    # AND then the plan's drill TTL (an hour, notice 15 minutes before) warns of, then reports, the cleanup
    assert [event for event, *_ in story[8:]] == ["Drill Cleanup Warning", "Drill Cleaned Up"]
    # AND every notification names the drill, its plan and the execution
    assert {(n["executionId"], n["executionType"], n["planId"]) for n in received} == {
        (execution_id, "DRILL", "retail-dr")
    }
    # AND the gate subscriber got only the approval request, with the way to approve it
    (gate,) = gate_requests
    assert gate["approve"]["cli"] == f"drwave executions approve {execution_id} web"
    assert gate["waveName"] == "Web front end and monitoring"
