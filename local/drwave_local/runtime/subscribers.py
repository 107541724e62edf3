"""Subscriber examples in the local runtime: an example template's rules, matched on the local bus like EventBridge.

Reads examples/subscribers/*.yaml with the same CloudFormation loader as the stack's template, matches every event
put on drwave's bus against each rule's EventPattern (moto's matcher, as the router does), and delivers to the
rule's targets: an SQS queue (created in moto; the message body is the event, as EventBridge sends it), an API
destination (recorded as the POSTs the webhook would receive) or another account's bus (recorded as forwarded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import yaml
from moto.events.models import EventPattern

from drwave_local.runtime.template import DEFAULT_BUS, _CfnLoader

if TYPE_CHECKING:
    from drwave_local.runtime.embedded import LocalRuntime


@dataclass
class ExampleSubscriber:
    """The rules of one example template, installed on a LocalRuntime's bus."""

    queues: dict[str, str] = field(default_factory=dict)  # logical id -> moto queue URL
    posts: list[dict[str, Any]] = field(default_factory=list)  # what the webhook received
    forwarded: list[dict[str, Any]] = field(default_factory=list)  # what the subscriber account's bus received
    rules: list[tuple[EventPattern, list[dict[str, Any]]]] = field(default_factory=list)
    region: str = "us-east-1"

    @classmethod
    def install(cls, runtime: LocalRuntime, path: Path) -> ExampleSubscriber:
        """Read the example's rules and queues and start matching drwave's bus."""
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
        resources: dict[str, Any] = doc["Resources"]
        subscriber = cls(region=runtime.env.region)
        sqs = boto3.client("sqs", region_name=runtime.env.region)
        for name, resource in resources.items():
            if resource["Type"] == "AWS::SQS::Queue":
                subscriber.queues[name] = sqs.create_queue(QueueName=f"{path.stem}-{name}")["QueueUrl"]
            elif resource["Type"] == "AWS::Events::Rule":
                props = resource["Properties"]
                pattern = EventPattern.load(json.dumps(props["EventPattern"]))
                subscriber.rules.append((pattern, [_target(resources, t) for t in props["Targets"]]))

        def deliver(bus: str, event: dict[str, Any]) -> None:
            if bus == DEFAULT_BUS:
                return
            for pattern, targets in subscriber.rules:
                if pattern.matches_event(event):  # type: ignore[arg-type]
                    for target in targets:
                        subscriber._send(sqs, target, event)

        runtime.router.observers.append(deliver)
        return subscriber

    def _send(self, sqs: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        if target["kind"] == "AWS::SQS::Queue":
            sqs.send_message(QueueUrl=self.queues[target["name"]], MessageBody=json.dumps(event))
        elif target["kind"] == "AWS::Events::ApiDestination":
            self.posts.append({"headers": {"x-drwave-detail-type": event["detail-type"]}, "body": event})
        else:
            self.forwarded.append(event)

    def receive(self, queue: str) -> list[dict[str, Any]]:
        """Drain a queue of the example: the events, in the order received."""
        sqs = boto3.client("sqs", region_name=self.region)
        events = []
        while batch := sqs.receive_message(QueueUrl=self.queues[queue], MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queues[queue], ReceiptHandle=message["ReceiptHandle"])
        return events


def _target(resources: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    arn = target["Arn"]
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        name = arn["Fn::GetAtt"][0]
        return {"kind": resources[name]["Type"], "name": name}
    return {"kind": "AWS::Events::EventBus", "name": json.dumps(arn)}
