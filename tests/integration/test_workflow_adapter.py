"""The Step Functions adapter against moto executing a real waitForTaskToken state: duplicates are harmless."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from drwave.adapters.workflow import WorkflowClient

WAITING = {
    "StartAt": "Wait",
    "States": {
        "Wait": {
            "Type": "Task",
            "Resource": "arn:aws:states:::events:putEvents.waitForTaskToken",
            "Parameters": {
                "Entries": [{"Source": "drwave.workflow", "DetailType": "t", "Detail": {"t.$": "$$.Task.Token"}}]
            },
            "End": True,
        }
    },
}


@pytest.fixture
def sfn() -> Iterator[object]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1")


def _machine(sfn: object) -> str:
    arn: str = sfn.create_state_machine(  # type: ignore[attr-defined]
        name="wrapper", definition=json.dumps(WAITING), roleArn="arn:aws:iam::123456789012:role/wrapper"
    )["stateMachineArn"]
    return arn


def test_starting_the_same_execution_twice_is_a_no_op(sfn: object) -> None:
    # GIVEN the wrapper started for an execution
    arn = _machine(sfn)
    workflow = WorkflowClient(sfn, arn)
    assert workflow.start("exec-1", {"waves": []}) is True
    # WHEN a redelivered event starts it again with other input  THEN nothing fails and nothing new starts
    assert workflow.start("exec-1", {"waves": [{"waveId": "late"}]}) is False
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1  # type: ignore[attr-defined]


def test_a_token_that_is_not_waiting_is_reported_spent_not_raised(sfn: object) -> None:
    workflow = WorkflowClient(sfn, _machine(sfn))
    # GIVEN a token Step Functions does not know (a stopped execution's, or garbage)
    # THEN completing or failing it reports False instead of raising
    assert workflow.succeed("not-a-token", {"status": "COMPLETED"}) is False
    assert workflow.fail("not-a-token", "FAILED", "late event") is False
