"""Subscriber examples: each passes cfn-lint, subscribes to the public events only, and receives an execution's
events in order in the local runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint_file

from drwave_local.contracts.catalogue import PUBLIC
from drwave_local.runtime.subscribers import ExampleSubscriber
from drwave_local.runtime.template import _CfnLoader

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "subscribers"
TEMPLATES = sorted(EXAMPLES.glob("*.yaml"))
# One execution's public events, in the order a one-wave DRILL publishes them.
EXPECTED = ["Execution Started", "DRS Job Started", "Wave Completed", "Execution Finished"]


def test_there_is_an_sqs_a_webhook_and_a_cross_account_example() -> None:
    assert [p.name for p in TEMPLATES] == ["forward-to-account.yaml", "sqs-queue.yaml", "webhook-api-destination.yaml"]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_each_example_passes_cfn_lint_and_subscribes_to_the_public_detail_types_only(path: Path) -> None:
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{m.rule.id} {m.message} ({m.linenumber})" for m in matches if m.rule.id[0] in "EW"] == []
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    (rule,) = [r for r in doc["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    assert rule["Properties"]["EventPattern"] == {"source": ["drwave"], "detail-type": list(PUBLIC)}


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["detail-type"] for e in events]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_a_subscriber_receives_one_executions_public_events_in_order(scenario: Any, path: Path) -> None:
    # GIVEN the example's rule on the local bus and a one-wave plan
    scenario.plan("retail", {"id": "db", "servers": 2})
    with scenario.run() as rt:
        subscriber = ExampleSubscriber.install(rt, path)
        # WHEN a DRILL runs to its end
        execution_id = rt.request_execution("retail")
        rt.run()
        # THEN the subscriber received its public events, in order, and none of the internal commands
        if subscriber.posts:
            received = [p["body"] for p in subscriber.posts]
            assert [p["headers"]["x-drwave-detail-type"] for p in subscriber.posts] == _types(received)
        elif subscriber.forwarded:
            received = subscriber.forwarded
        else:
            (queue,) = [q for q in subscriber.queues if "DeadLetter" not in q]
            received = subscriber.receive(queue)
        assert _types(received) == EXPECTED
        assert {e["detail"]["executionId"] for e in received} == {execution_id}
