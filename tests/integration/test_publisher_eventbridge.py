"""EventPublisher against moto EventBridge (delivered through a rule to SQS), and against refused entries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from drwave.adapters import aws as shared
from drwave.adapters.environment import adapters_from_environment
from drwave.adapters.publisher import MAX_ENTRIES_PER_CALL, EventPublisher, PublishError
from drwave.models.events import EVENT_SOURCE, ExecutionFinished, WaveStartRequested
from drwave.models.execution import ExecutionType

BUS = "drwave-it"


class _RawBody:
    """The raw-stream interface botocore reads a response body through."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Any:
        yield self._payload


def requests(count: int) -> list[WaveStartRequested]:
    return [WaveStartRequested(execution_id="exe-0001", wave_id=f"wave-{n:02d}") for n in range(count)]


@pytest.fixture
def events(aws) -> Any:
    """An EventBridge client with the drwave bus."""
    client = aws.client("events")
    client.create_event_bus(Name=BUS)
    return client


@pytest.fixture
def put_events_calls(events) -> list[list[dict[str, Any]]]:
    """The Entries of every PutEvents request the client makes."""
    calls: list[list[dict[str, Any]]] = []
    events.meta.events.register(
        "provide-client-params.events.PutEvents", lambda params, **_: calls.append(params["Entries"])
    )
    return calls


@pytest.fixture
def queue(aws, events) -> Any:
    """An SQS queue that receives everything with source drwave on the bus, and a reader for it."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="drwave-it-sink")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all-drwave", EventBusName=BUS, EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
    events.put_targets(Rule="all-drwave", EventBusName=BUS, Targets=[{"Id": "sink", "Arn": arn}])

    def drain() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            received.extend(json.loads(m["Body"]) for m in batch)
            for m in batch:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return received

    return drain


def test_published_events_reach_a_rule_on_the_bus_with_camel_case_versioned_details(events, queue):
    # GIVEN a publisher on the drwave bus, with a rule forwarding drwave events to a queue
    publisher = EventPublisher(events, BUS)
    # WHEN one event is published
    publisher.publish([WaveStartRequested(execution_id="exe-0001", wave_id="app")])
    # THEN the rule delivered it with our source, detail-type and the wire contract as detail
    (event,) = queue()
    assert event["source"] == "drwave"
    assert event["detail-type"] == "Wave Start Requested"
    assert event["detail"] == {"schemaVersion": "1", "executionId": "exe-0001", "waveId": "app"}


def test_twenty_five_events_go_out_in_three_put_events_calls_in_order(events, put_events_calls, queue):
    # GIVEN 25 events to publish
    publisher = EventPublisher(events, BUS)
    # WHEN they are published
    publisher.publish(requests(25))
    # THEN PutEvents was called with 10, 10 and 5 entries, in order, all addressed to the bus
    assert [len(c) for c in put_events_calls] == [MAX_ENTRIES_PER_CALL, MAX_ENTRIES_PER_CALL, 5]
    sent = [json.loads(e["Detail"])["waveId"] for c in put_events_calls for e in c]
    assert sent == [f"wave-{n:02d}" for n in range(25)]
    assert {(e["Source"], e["DetailType"], e["EventBusName"]) for c in put_events_calls for e in c} == {
        ("drwave", "Wave Start Requested", BUS)
    }
    # AND every one of them reached the rule's target
    assert sorted(e["detail"]["waveId"] for e in queue()) == sent


def test_publishing_nothing_makes_no_call(events, put_events_calls):
    # GIVEN no events WHEN published THEN PutEvents is not called at all
    EventPublisher(events, BUS).publish([])
    assert put_events_calls == []


def test_none_fields_are_left_out_of_the_detail(events, put_events_calls):
    # GIVEN an event whose optional field is None
    finished = ExecutionFinished(
        execution_id="exe-0001",
        execution_type=ExecutionType.DRILL,
        status="CANCELLED",
        started_at=None,
        ended_at="2026-01-05T09:00:00Z",
    )
    # WHEN it is published THEN the detail omits the field and keeps timestamps in AWS's Z format
    EventPublisher(events, BUS).publish([finished])
    detail = json.loads(put_events_calls[0][0]["Detail"])
    assert "startedAt" not in detail
    assert detail["endedAt"] == "2026-01-05T09:00:00.000Z"


def test_a_rejected_entry_raises_publish_error_with_the_count_and_codes(events):
    # GIVEN EventBridge accepts the first entry of a batch and refuses the second
    publisher = EventPublisher(events, BUS)
    with Stubber(events) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"EventId": "ok-1"}, {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
            },
        )
        # WHEN two events are published
        # THEN PublishError says how many failed and why
        with pytest.raises(PublishError, match=r"1 of 2 events rejected: \['InternalFailure'\]"):
            publisher.publish(requests(2))
        stub.assert_no_pending_responses()


def test_a_failed_batch_stops_publishing_the_batches_after_it(events, put_events_calls):
    # GIVEN 25 events where the second batch has a refused entry (injected just before it is sent)
    sent: list[int] = []

    def second_batch_fails(request: Any, **_: Any) -> AWSResponse | None:
        sent.append(1)
        if len(sent) != 2:
            return None  # moto answers
        entries = [{"EventId": f"e-{n}"} for n in range(9)] + [{"ErrorCode": "ThrottlingException"}]
        payload = json.dumps({"FailedEntryCount": 1, "Entries": entries}).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.1"}, _RawBody(payload))  # type: ignore[arg-type]

    events.meta.events.register_first("before-send.events.PutEvents", second_batch_fails)
    # WHEN they are published
    with pytest.raises(PublishError, match="ThrottlingException"):
        EventPublisher(events, BUS).publish(requests(25))
    # THEN the third batch was never sent
    assert [len(c) for c in put_events_calls] == [10, 10]


def _adapters(monkeypatch: pytest.MonkeyPatch, bus: str | None) -> tuple[Any, list[str]]:
    """A function's adapters as built from its environment (with or without the bus), and the services of the
    clients that building them made."""
    for name, value in {"STATE_TABLE": "drwave-state", "ACCOUNT_ID": "123456789012"}.items():
        monkeypatch.setenv(name, value)
    if bus is None:
        monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    else:
        monkeypatch.setenv("EVENT_BUS_NAME", bus)
    built: list[str] = []

    def client(service: str) -> Any:
        built.append(service)
        return shared.session().create_client(service, region_name=shared.region())

    monkeypatch.setattr(shared, "client", client)
    return adapters_from_environment(), built


def test_a_function_given_no_bus_builds_no_eventbridge_client_and_refuses_to_publish(aws, monkeypatch):
    # GIVEN a function environment without EVENT_BUS_NAME (the template gives it to the publishing functions only)
    # WHEN its adapters are built
    adapters, built = _adapters(monkeypatch, None)
    # THEN no EventBridge client was made, and publishing fails as a refusal (the outbox keeps the events)
    assert "dynamodb" in built and "events" not in built
    with pytest.raises(PublishError, match="EVENT_BUS_NAME"):
        adapters.publisher.publish(requests(1))


def test_a_function_given_the_bus_builds_its_client_and_publishes_on_it(aws, events, monkeypatch):
    # GIVEN a publishing function's environment, WHEN its adapters are built and it publishes
    adapters, built = _adapters(monkeypatch, BUS)
    adapters.publisher.publish(requests(1))
    # THEN its EventBridge client was made with the others, and EventBridge accepted the entry
    assert "events" in built
