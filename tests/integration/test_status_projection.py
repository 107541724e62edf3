"""The status projection on the local runtime: the state table's stream drives project_status into VIEW# rows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from drwave.adapters.store import StoreError
from drwave.core.projection import project_all
from drwave.handlers import project_status
from drwave.models.plan import PlanDocument
from drwave_local.runtime.embedded import TABLE_NAME, LocalRuntime
from drwave_local.simulators.environment import Environment

FUNCTION = "ProjectStatusFunction"


@dataclass
class Finished:
    rt: LocalRuntime
    execution_id: str

    def items(self, prefix: str) -> list[dict[str, Any]]:
        """Raw items under pk <prefix><execution id>."""
        return self.rt.dynamodb.query(
            TableName=TABLE_NAME,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{prefix}{self.execution_id}"}},
            ConsistentRead=True,
        )["Items"]

    def item(self, sk: str) -> dict[str, Any]:
        return next(i for i in self.items("EXEC#") if i["sk"]["S"] == sk)

    def record(self, image: dict[str, Any], sequence: int, name: str = "MODIFY") -> dict[str, Any]:
        """A DynamoDB stream record as Lambda delivers it."""
        return {
            "eventID": f"evt-{sequence}",
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.rt.env.region,
            "dynamodb": {
                "Keys": {"pk": image["pk"], "sk": image["sk"]},
                "NewImage": image,
                "SequenceNumber": str(sequence),
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:111122223333:table/t/stream/label",
        }

    def project(self, records: list[dict[str, Any]]) -> Any:
        context = _Context()
        return project_status.handler({"Records": records}, context, self.rt.deps)


@dataclass
class _Context:
    function_name: str = FUNCTION
    aws_request_id: str = "req-1"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111122223333:function:project-status"


def expected_view(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A fresh projection of an execution's stored items, in load_view's shape (without sourceVersion)."""
    view: dict[str, Any] = {"summary": None, "waves": {}, "servers": {}}
    for row in project_all(items):
        doc = json.loads(json.dumps(row.doc))
        if row.sk == "SUMMARY":
            view["summary"] = doc
        elif row.sk.startswith("WAVE#"):
            view["waves"][doc["waveId"]] = doc
        else:
            view["servers"].setdefault(doc["waveId"], {})[doc["sourceServerId"]] = doc
    return view


def without_versions(view: dict[str, Any]) -> dict[str, Any]:
    strip = {k: v for k, v in view["summary"].items() if k != "sourceVersion"}
    return {
        "summary": strip,
        "waves": {w: {k: v for k, v in d.items() if k != "sourceVersion"} for w, d in view["waves"].items()},
        "servers": {
            w: {s: {k: v for k, v in d.items() if k != "sourceVersion"} for s, d in rows.items()}
            for w, rows in view["servers"].items()
        },
    }


@pytest.fixture
def finished(two_waves: Callable[..., dict[str, Any]], sid: Callable[[int], str]) -> Iterator[Finished]:
    """A two-wave drill (1 + 2 servers) run to completion in the local runtime."""
    environment = Environment.model_validate(
        {"seed": 5, "jitter": 0, "sourceServers": [{"id": sid(n)} for n in range(1, 4)]}
    )
    with LocalRuntime(environment) as rt:
        rt.install(PlanDocument.model_validate(two_waves([sid(1)], [sid(2), sid(3)])))
        execution_id = rt.request_execution("plan-it")
        rt.run()
        yield Finished(rt, execution_id)


def test_the_read_model_equals_a_fresh_projection_of_the_final_state(finished):
    # GIVEN a drill the runtime ran to completion, the stream delivering every state change to project_status
    rt, execution_id = finished.rt, finished.execution_id
    assert rt.execution(execution_id).status == "COMPLETED"
    assert rt.router.stats.invocations[FUNCTION] > 0
    assert not rt.router.stats.failures[FUNCTION]
    # WHEN the read model is loaded
    view = rt.deps.store.load_view(execution_id)
    # THEN it equals a fresh projection of the stored execution
    assert view is not None
    assert without_versions(view) == expected_view(finished.items("EXEC#"))
    # AND the summary reflects the final version: completed, 100 %, every server launched
    summary = view["summary"]
    assert summary["sourceVersion"] == rt.execution(execution_id).version
    assert (summary["status"], summary["progressPercent"], summary["wavesPercent"]) == ("COMPLETED", 100.0, 100.0)
    assert (summary["serversLaunched"], summary["serversTotal"], summary["wavesDone"]) == (3, 3, 2)
    assert set(view["servers"]) == {"db", "app"}
    assert all(
        s["launchStatus"] == "LAUNCHED" and s["recoveryInstanceId"]
        for w in view["servers"].values()
        for s in w.values()
    )


def test_replaying_a_batch_changes_nothing(finished):
    # GIVEN a batch of the execution's current items as stream records, delivered once
    view = finished.rt.deps.store.load_view(finished.execution_id)
    batch = [finished.record(i, n) for n, i in enumerate(finished.items("EXEC#"), start=1)]
    assert finished.project(batch) == {"batchItemFailures": []}
    delivered = finished.items("VIEW#")
    # WHEN the same batch is delivered again
    response = finished.project(batch)
    # THEN it succeeds and not one row changed (nor did the first delivery change what the stream had projected)
    assert response == {"batchItemFailures": []}
    assert finished.items("VIEW#") == delivered
    after = finished.rt.deps.store.load_view(finished.execution_id)
    assert view is not None and after is not None
    assert without_versions(after) == without_versions(view)


def test_an_older_image_arriving_after_a_newer_one_does_not_overwrite_it(finished):
    # GIVEN the completed execution's header, and an older image of it (still RUNNING, two versions back)
    header = finished.item("STATE")
    version = int(header["version"]["N"])
    doc = {**json.loads(header["doc"]["S"]), "status": "RUNNING", "endedAt": None}
    older = {**header, "version": {"N": str(version - 2)}, "status": {"S": "RUNNING"}, "doc": {"S": json.dumps(doc)}}
    before = finished.rt.deps.store.load_view(finished.execution_id)
    # WHEN the older image arrives late
    response = finished.project([finished.record(older, 1)])
    # THEN it is acknowledged and the summary still shows the newer state
    assert response == {"batchItemFailures": []}
    after = finished.rt.deps.store.load_view(finished.execution_id)
    assert after == before
    assert after is not None and after["summary"]["status"] == "COMPLETED"


def test_a_poison_record_is_reported_while_the_rest_of_the_batch_is_written(finished):
    # GIVEN no read model yet, and a batch: the header, a corrupt header of another execution, a wave, its chunk
    # (its servers) and a plan item
    for item in finished.items("VIEW#"):
        finished.rt.dynamodb.delete_item(TableName=TABLE_NAME, Key={"pk": item["pk"], "sk": item["sk"]})
    header, wave, chunk = finished.item("STATE"), finished.item("WAVE#app"), finished.item("CHUNK#app#0000")
    poison = {"pk": {"S": "EXEC#exe-broken"}, "sk": {"S": "STATE"}, "version": {"N": "3"}, "doc": {"S": "{oops"}}
    plan = {"pk": {"S": "PLAN#plan-it"}, "sk": {"S": "PLAN"}, "doc": {"S": "{}"}}
    records = [header, poison, wave, chunk, plan]
    batch = [finished.record(image, n) for n, image in enumerate(records, start=1)]
    # WHEN project_status handles it
    response = finished.project(batch)
    # THEN only the poison record is reported as failed
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    # AND the good records were projected: the summary, the app wave and its servers (the plan item is ignored)
    view = finished.rt.deps.store.load_view(finished.execution_id)
    expected = expected_view(finished.items("EXEC#"))
    assert view is not None
    assert without_versions(view) == {
        "summary": expected["summary"],
        "waves": {"app": expected["waves"]["app"]},
        "servers": {"app": expected["servers"]["app"]},
    }


def _header_at(header: dict[str, Any], version: int, status: str) -> dict[str, Any]:
    doc = {**json.loads(header["doc"]["S"]), "status": status}
    return {**header, "version": {"N": str(version)}, "status": {"S": status}, "doc": {"S": json.dumps(doc)}}


def test_a_batch_with_several_saves_of_one_execution_writes_each_row_once_at_its_newest(finished, monkeypatch):
    # GIVEN no read model, and a batch holding three saves of the header (versions v-2, v and v-1, out of order)
    for item in finished.items("VIEW#"):
        finished.rt.dynamodb.delete_item(TableName=TABLE_NAME, Key={"pk": item["pk"], "sk": item["sk"]})
    header = finished.item("STATE")
    version = int(header["version"]["N"])
    images = [_header_at(header, version - 2, "RUNNING"), header, _header_at(header, version - 1, "RUNNING")]
    written: list[tuple[str, int]] = []
    put = finished.rt.deps.store.put_view_rows

    def counting(execution_id: str, rows: list[Any]) -> int:
        written.extend((r.sk, r.source_version) for r in rows)
        return put(execution_id, rows)

    monkeypatch.setattr(finished.rt.deps.store, "put_view_rows", counting)
    # WHEN project_status handles it
    response = finished.project([finished.record(image, n) for n, image in enumerate(images, start=1)])
    # THEN the summary is written once, at the newest version, and shows the newest state
    assert response == {"batchItemFailures": []}
    assert written == [("SUMMARY", version)]
    view = finished.rt.deps.store.load_view(finished.execution_id)
    assert view is not None and view["summary"]["status"] == "COMPLETED"


def test_a_row_that_fails_to_write_fails_the_first_record_it_came_from_so_the_retry_covers_the_batch(
    finished, monkeypatch
):
    # GIVEN a batch: a wave, then two saves of the header, and a table that refuses the summary row
    header = finished.item("STATE")
    version = int(header["version"]["N"])
    images = [finished.item("WAVE#db"), _header_at(header, version - 1, "RUNNING"), header]
    put = finished.rt.deps.store.put_view_rows

    def refusing(execution_id: str, rows: list[Any]) -> int:
        if any(r.sk == "SUMMARY" for r in rows):
            raise StoreError("throttled")
        return put(execution_id, rows)

    monkeypatch.setattr(finished.rt.deps.store, "put_view_rows", refusing)
    # WHEN project_status handles it
    response = finished.project([finished.record(image, n) for n, image in enumerate(images, start=1)])
    # THEN the older header, the first record with a summary row, is reported: Lambda retries from it, so both
    # saves are projected again
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}
