"""The local runtime's fast DynamoDB client answers exactly as a boto3 client over moto does.

Each script runs twice, on a fresh moto account each time: once through a real boto3 client (HTTP mock, signing,
serialisation), once through `fast_dynamodb`'s in-process client. Every call's outcome is recorded (the response
without its ResponseMetadata, or the exception's class and `response`) and the two records must be identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from moto import mock_aws

from drwave.adapters.cleanup_store import CleanupStore
from drwave.adapters.store import ACTIVE_INDEX, KIND_INDEX, ConcurrentUpdate, DynamoStore
from drwave.core.capacity import reserve
from drwave.models.capacity import CapacityLedger
from drwave.models.execution import Execution, ExecutionStatus, ExecutionType, WaveState, WaveStatus
from drwave.models.plan import ProtectionGroup, RecoveryPlan, Wave
from drwave_local.bench.meter import meter_for
from drwave_local.runtime.fast_dynamodb import FastClient, dynamodb_choice, fast_dynamodb, fast_dynamodbstreams
from drwave_local.runtime.moto_patches import fast_queries, fast_transactions
from drwave_local.runtime.template import load_template

REGION = "us-east-1"
TABLE = "drwave-fast-contract"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STREAMS_ENDPOINT = f"https://streams.dynamodb.{REGION}.amazonaws.com"
KINDS = ("moto", "fast")


@contextmanager
def aws(kind: str) -> Iterator[tuple[Any, boto3.Session]]:
    """A fresh moto world and a DynamoDB client of the given kind, with the template's table."""
    with mock_aws():
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        client = fast_dynamodb(session) if kind == "fast" else session.client("dynamodb")
        client.create_table(**load_template().create_table_kwargs(TABLE))
        yield client, session


class Recorder:
    """Forwards calls to a client and records what each one gave: the response, or the error."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.log: list[tuple[Any, ...]] = []
        self.meta = client.meta

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name == "get_paginator":
            return lambda op: _RecordedPaginator(self, method(op), op)
        return lambda **kwargs: self._record(name, method, kwargs)

    def _record(self, name: str, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        try:
            response = method(**kwargs)
        except ClientError as err:
            self.log.append((name, kwargs, "error", type(err).__name__, _strip(dict(err.response)), str(err)))
            raise
        except ParamValidationError as err:
            self.log.append((name, kwargs, "invalid", str(err)))
            raise
        self.log.append((name, kwargs, "ok", _strip(response)))
        return response


class _RecordedPaginator:
    def __init__(self, recorder: Recorder, paginator: Any, op: str) -> None:
        self._recorder, self._paginator, self._op = recorder, paginator, op

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for page in self._paginator.paginate(**kwargs):
            self._recorder.log.append((f"paginate:{self._op}", kwargs, "page", _strip(page)))
            yield page


def _strip(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def both(script: Callable[[Recorder, boto3.Session], Any]) -> dict[str, tuple[list[tuple[Any, ...]], Any]]:
    """The script's call log and result on each kind of client."""
    out = {}
    for kind in KINDS:
        with aws(kind) as (client, session):
            recorder = Recorder(client)
            result = script(recorder, session)
            out[kind] = (recorder.log, result)
    return out


def assert_same(outcomes: dict[str, tuple[list[tuple[Any, ...]], Any]]) -> None:
    (moto_log, moto_result), (fast_log, fast_result) = outcomes["moto"], outcomes["fast"]
    assert len(moto_log) == len(fast_log)
    for moto_call, fast_call in zip(moto_log, fast_log, strict=True):
        assert fast_call == moto_call
        # Same order too (the model's member order, moto's item order), as a JSON dump would show.
        if moto_call[2] in ("ok", "page"):
            assert list(fast_call[3]) == list(moto_call[3])
    assert fast_result == moto_result


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def attempt(call: Callable[[], Any]) -> str:
    """Run a call that may fail; the outcome is in the recorder's log."""
    try:
        call()
    except (ClientError, ParamValidationError) as err:
        return type(err).__name__
    return "ok"


# --- the DynamoDB API, operation by operation -----------------------------------------------------------------


def api_script(db: Recorder, _: boto3.Session) -> list[str]:
    outcomes = []
    rich = {
        **key("P#1", "A"),
        "version": {"N": "1"},
        "blob": {"B": b"\x00\xffbytes"},
        "tags": {"SS": ["b", "a"]},
        "nums": {"NS": ["1", "2.5"]},
        "doc": {"M": {"list": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}, {"M": {}}]}, "n": {"N": "-0.5"}}},
        "empty": {"S": ""},
    }
    put = db.put_item
    outcomes.append(attempt(lambda: put(TableName=TABLE, Item=rich, ConditionExpression="attribute_not_exists(pk)")))
    # A conditional put that loses, with and without the old item in the error.
    extras: list[dict[str, Any]] = [{}, {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}]
    for extra in extras:
        outcomes.append(
            attempt(
                partial(
                    put, TableName=TABLE, Item=key("P#1", "A"), ConditionExpression="attribute_not_exists(pk)", **extra
                )
            )
        )
    outcomes.append(
        attempt(lambda: put(TableName=TABLE, Item={**key("P#1", "A"), "v": {"N": "2"}}, ReturnValues="ALL_OLD"))
    )
    # Optimistic locking: the right version wins, a stale one loses.
    update = db.update_item
    for version in ("1", "1"):
        outcomes.append(
            attempt(
                lambda v=version: update(  # type: ignore[misc]
                    TableName=TABLE,
                    Key=key("P#1", "B"),
                    UpdateExpression="SET #v = :new, doc = :doc ADD hits :one",
                    ConditionExpression="attribute_not_exists(pk) OR #v = :old",
                    ExpressionAttributeNames={"#v": "version"},
                    ExpressionAttributeValues={
                        ":new": {"N": str(int(v) + 1)},
                        ":old": {"N": v},
                        ":one": {"N": "1"},
                        ":doc": {"S": "d"},
                    },
                    ReturnValues="ALL_NEW",
                )
            )
        )
    for returns in ("UPDATED_OLD", "UPDATED_NEW", "ALL_OLD", "NONE"):
        outcomes.append(
            attempt(
                lambda r=returns: update(  # type: ignore[misc]
                    TableName=TABLE,
                    Key=key("P#1", "B"),
                    UpdateExpression="SET hits = hits + :one REMOVE doc",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                    ReturnValues=r,
                )
            )
        )
    # Invalid requests moto refuses, and ones botocore refuses before sending.
    outcomes.append(attempt(lambda: put(TableName=TABLE, Item={"pk": {"S": "P#1"}})))
    outcomes.append(attempt(lambda: put(TableName="no-such-table", Item=key("P#1", "A"))))
    outcomes.append(attempt(lambda: update(TableName=TABLE, Key=key("P#1", "B"), UpdateExpression="SET = oops")))
    outcomes.append(attempt(lambda: put(TableName=TABLE, Item={"pk": {"S": 1}})))
    outcomes.append(attempt(lambda: put(TableName=TABLE, Item=key("P#1", "A"), Bogus=True)))
    outcomes.append(attempt(lambda: db.get_item(Key=key("P#1", "A"))))
    # Reads.
    outcomes.append(attempt(lambda: db.get_item(TableName=TABLE, Key=key("P#1", "A"), ConsistentRead=True)))
    outcomes.append(attempt(lambda: db.get_item(TableName=TABLE, Key=key("P#1", "missing"))))
    outcomes.append(
        attempt(
            lambda: db.get_item(
                TableName=TABLE,
                Key=key("P#1", "A"),
                ProjectionExpression="#d.#l[0], tags",
                ExpressionAttributeNames={"#d": "doc", "#l": "list"},
            )
        )
    )
    # Deletes: conditional, returning the old item, of nothing.
    delete = db.delete_item
    outcomes.append(
        attempt(
            lambda: delete(
                TableName=TABLE,
                Key=key("P#1", "A"),
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": {"N": "9"}},
            )
        )
    )
    outcomes.append(attempt(lambda: delete(TableName=TABLE, Key=key("P#1", "A"), ReturnValues="ALL_OLD")))
    outcomes.append(attempt(lambda: delete(TableName=TABLE, Key=key("P#1", "A"))))
    return outcomes


def test_single_item_operations_and_their_errors_match_boto3_over_moto():
    outcomes = both(api_script)
    assert_same(outcomes)
    # The script did exercise the failures it is about.
    assert outcomes["fast"][1].count("ConditionalCheckFailedException") == 4
    assert "ParamValidationError" in outcomes["fast"][1]


def transaction_script(db: Recorder, _: boto3.Session) -> list[str]:
    outcomes = []

    def transact(*items: dict[str, Any]) -> None:
        db.transact_write_items(TransactItems=list(items))

    outcomes.append(
        attempt(lambda: transact({"Put": {"TableName": TABLE, "Item": {**key("T", "1"), "v": {"N": "1"}}}}))
    )
    # Cancelled: one condition fails, the others are "None"; nothing is written.
    outcomes.append(
        attempt(
            lambda: transact(
                {"Put": {"TableName": TABLE, "Item": key("T", "2")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("T", "1"),
                        "ConditionExpression": "v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("T", "3"),
                        "UpdateExpression": "SET v = :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            )
        )
    )
    outcomes.append(
        attempt(
            lambda: transact(
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": key("T", "1"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": key("T", "9")}},
            )
        )
    )
    # Two operations on one item: a validation error, not a cancellation.
    outcomes.append(
        attempt(
            lambda: transact(
                {"Put": {"TableName": TABLE, "Item": key("T", "4")}},
                {"Delete": {"TableName": TABLE, "Key": key("T", "4")}},
            )
        )
    )
    outcomes.append(attempt(transact))  # no items at all
    outcomes.append(
        attempt(
            lambda: db.transact_get_items(
                TransactItems=[
                    {"Get": {"TableName": TABLE, "Key": key("T", "1")}},
                    {"Get": {"TableName": TABLE, "Key": key("T", "2")}},
                ]
            )
        )
    )
    outcomes.append(
        attempt(
            lambda: db.query(
                TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "T"}}
            )
        )
    )
    return outcomes


def test_transactions_that_commit_cancel_or_are_refused_match_boto3_over_moto():
    outcomes = both(transaction_script)
    assert_same(outcomes)
    assert outcomes["fast"][1].count("TransactionCanceledException") == 2
    reasons = [
        c[4]["CancellationReasons"] for c in outcomes["fast"][0] if c[2] == "error" and "CancellationReasons" in c[4]
    ]
    assert [r["Code"] for r in reasons[0]] == ["None", "ConditionalCheckFailed", "None"]
    assert "Item" in reasons[1][0]  # ReturnValuesOnConditionCheckFailure in a cancellation reason


def paging_script(db: Recorder, _: boto3.Session) -> list[Any]:
    """Paging with Limit and ExclusiveStartKey, the GSIs, key conditions, filters and batches."""
    items = [
        {
            **key(f"EXEC#{p}", f"WAVE#{i:03d}"),
            "kind": {"S": "EXECUTION"},
            "createdAt": {"S": f"2026-01-0{p}T{i:02d}"},
            "activeShard": {"S": "ACTIVE"},
            "n": {"N": str(i)},
        }
        for p in (1, 2)
        for i in range(130)
    ]
    for start in range(0, len(items), 25):
        db.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]})
    results: list[Any] = []
    # A hand-made page loop on the table.
    start_key = None
    while True:
        extra: dict[str, Any] = {"ExclusiveStartKey": start_key} if start_key else {}
        page = db.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "EXEC#1"}},
            Limit=40,
            **extra,
        )
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            break
    query = db.get_paginator("query").paginate
    conditions = [
        ("pk = :p AND begins_with(sk, :s)", {":p": {"S": "EXEC#2"}, ":s": {"S": "WAVE#01"}}),
        ("pk = :p AND sk BETWEEN :a AND :b", {":p": {"S": "EXEC#2"}, ":a": {"S": "WAVE#005"}, ":b": {"S": "WAVE#017"}}),
        ("pk = :p AND sk > :a", {":p": {"S": "EXEC#2"}, ":a": {"S": "WAVE#120"}}),
    ]
    for condition, values in conditions:
        for forward in (True, False):
            list(
                query(
                    TableName=TABLE,
                    KeyConditionExpression=condition,
                    ExpressionAttributeValues=values,
                    ScanIndexForward=forward,
                    PaginationConfig={"PageSize": 7},
                )
            )
    # The listing index, newest first, filtered and paged; the sparse active index.
    list(
        query(
            TableName=TABLE,
            IndexName=KIND_INDEX,
            KeyConditionExpression="kind = :k",
            FilterExpression="n < :n",
            ExpressionAttributeValues={":k": {"S": "EXECUTION"}, ":n": {"N": "50"}},
            ScanIndexForward=False,
            PaginationConfig={"PageSize": 30},
        )
    )
    list(
        query(
            TableName=TABLE,
            IndexName=ACTIVE_INDEX,
            KeyConditionExpression="activeShard = :a",
            ExpressionAttributeValues={":a": {"S": "ACTIVE"}},
            ProjectionExpression="pk, sk",
            PaginationConfig={"PageSize": 100},
        )
    )
    results.append(
        attempt(
            lambda: db.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "EXEC#1"}},
                Select="COUNT",
            )
        )
    )
    results.append(
        attempt(
            lambda: db.query(
                TableName=TABLE,
                IndexName=ACTIVE_INDEX,
                KeyConditionExpression="activeShard = :a",
                ExpressionAttributeValues={":a": {"S": "ACTIVE"}},
                ConsistentRead=True,
            )
        )
    )
    results.append(
        attempt(
            lambda: db.query(
                TableName=TABLE, KeyConditionExpression="sk = :s", ExpressionAttributeValues={":s": {"S": "x"}}
            )
        )
    )
    list(db.get_paginator("scan").paginate(TableName=TABLE, PaginationConfig={"PageSize": 50}))
    # Batch gets: more than 100 keys is refused; 100 are answered (in moto's order), missing keys are skipped.
    keys = [key(f"EXEC#{p}", f"WAVE#{i:03d}") for p in (1, 2) for i in range(0, 130, 2)] + [key("EXEC#9", "none")]
    results.append(attempt(lambda: db.batch_get_item(RequestItems={TABLE: {"Keys": keys}})))
    results.append(
        attempt(lambda: db.batch_get_item(RequestItems={TABLE: {"Keys": keys[-100:], "ConsistentRead": True}}))
    )
    results.append(attempt(lambda: db.batch_get_item(RequestItems={TABLE: {"Keys": [keys[0], keys[0]]}})))
    results.append(
        attempt(lambda: db.batch_write_item(RequestItems={TABLE: [{"DeleteRequest": {"Key": k}} for k in keys[:20]]}))
    )
    return results


def test_paging_indexes_key_conditions_and_batches_match_boto3_over_moto():
    outcomes = both(paging_script)
    assert_same(outcomes)
    assert outcomes["fast"][1] == ["ok", "ClientError", "ClientError", "ClientError", "ok", "ClientError", "ok"]
    pages = [c for c in outcomes["fast"][0] if c[0] == "query" and c[1].get("Limit") == 40]
    assert len(pages) == 4 and "ExclusiveStartKey" in pages[1][1]


# --- the store, method by method ------------------------------------------------------------------------------


def _group() -> ProtectionGroup:
    return ProtectionGroup(id="pg-app", name="App", source_server_ids=[f"s-{n:017d}" for n in range(3)])


def _plan() -> RecoveryPlan:
    return RecoveryPlan(id="plan-c", name="Plan", waves=[Wave(id="app", protection_group_ids=["pg-app"])])


def _execution(execution_id: str) -> Execution:
    return Execution(
        execution_id=execution_id,
        plan=_plan(),
        protection_groups={"pg-app": _group()},
        execution_type=ExecutionType.DRILL,
        status=ExecutionStatus.PENDING,
        account_id="111122223333",
        region=REGION,
        started_by="contract",
        created_at=T0,
        waves={"app": WaveState(wave_id="app")},
    )


def _stepper(out: list[Any]) -> Callable[[str, Callable[[], Any]], None]:
    """Records what a store call returned (as data) or raised (the store's own exceptions) under a name."""

    def step(name: str, call: Callable[[], Any]) -> None:
        try:
            value = call()
        except Exception as err:  # ConcurrentUpdate, VersionMismatch, InvalidPageToken, ...
            out.append((name, "raised", type(err).__name__))
            return
        out.append((name, _data(value)))

    return step


def store_script(db: Recorder, _: boto3.Session) -> list[Any]:
    """Every DynamoStore method, the refusals included; what each returned (as data) or raised."""
    store = DynamoStore(db, TABLE)
    out: list[Any] = []
    step = _stepper(out)

    step("put_group", lambda: store.put_group(_group(), create=True))
    step("put_group again", lambda: store.put_group(_group(), create=True))
    step("put_group stale", lambda: store.put_group(_group(), expect=7))
    step("put_plan", lambda: store.put_plan(_plan()))
    step("put_plan must_exist", lambda: store.put_plan(_plan().model_copy(update={"id": "nope"}), must_exist=True))
    step("get_plan_versioned", lambda: store.get_plan_versioned("plan-c"))
    step("get_group", lambda: store.get_group("pg-app"))
    step("list_groups", store.list_groups)
    step("list_plans", store.list_plans)
    for n in range(12):
        step(f"create_execution {n}", lambda n=n: store.create_execution(_execution(f"exe-{n:04d}")))  # type: ignore[misc]
    step("create_execution duplicate", lambda: store.create_execution(_execution("exe-0000")))
    step("list_executions page", lambda: store.list_executions(limit=5))
    token = store.list_executions(limit=5)[1]
    step("list_executions next", lambda: store.list_executions(limit=5, next_token=token))
    step("list_executions filtered", lambda: store.list_executions(status="PENDING", plan_id="plan-c", limit=50))
    step("list_executions bad token", lambda: store.list_executions(next_token="not-a-token"))
    step("active_execution_ids", store.active_execution_ids)
    return out + execution_steps(store)


def execution_steps(store: DynamoStore) -> list[Any]:
    """The execution half of `store_script`: saves that win and lose, and everything that reads them."""
    out: list[Any] = []
    step = _stepper(out)

    loaded = store.load_execution("exe-0001")
    assert loaded is not None
    ledger = store.load_ledger("111122223333", REGION)
    ledger = reserve(ledger, "exe-0001#app#0", "exe-0001", "app", ["s-00000000000000001"], T0)
    loaded.status = ExecutionStatus.RUNNING
    loaded.waves["app"].status = WaveStatus.LAUNCHING
    step("save_execution", lambda: store.save_execution(loaded, ledger=ledger, now=T0 + timedelta(seconds=5)))
    stale = store.load_execution("exe-0002")
    assert stale is not None
    again = stale.model_copy(deep=True)
    step("save_execution first", lambda: store.save_execution(stale, now=T0))
    step("save_execution stale", lambda: store.save_execution(again, now=T0))
    step("load_execution", lambda: store.load_execution("exe-0001", timeline=True))
    step("load_execution missing", lambda: store.load_execution("exe-none"))
    step("load_ledger", lambda: store.load_ledger("111122223333", REGION))
    step("pending_outbox", store.pending_outbox)
    step("decision_records", lambda: store.decision_records("exe-0001"))
    step("load_timeline", lambda: store.load_timeline("exe-0001"))
    step("execution_summary", lambda: store.execution_summary("exe-0001"))
    step("execution_item", lambda: store.execution_item("exe-0001", "STATE"))
    step("execution_items", lambda: store.execution_items("exe-0001", "WAVE#"))
    step("load_view", lambda: store.load_view("exe-0001"))
    step("put_owner", lambda: store.put_owner("instance", "i-1", {"executionId": "exe-0001"}))
    step("get_owner", lambda: store.get_owner("instance", "i-1"))
    step("delete_plan stale", lambda: store.delete_plan("plan-c", expect=99))
    step("delete_plan", lambda: store.delete_plan("plan-c"))
    step("delete_plan again", lambda: store.delete_plan("plan-c"))
    cleanup = CleanupStore(store._db, TABLE)  # the same client and table as the store under test
    step("cleanup pending", cleanup.pending)
    return out


def _data(value: Any) -> Any:
    """Store results compared as data (pydantic models dumped, dataclasses by their fields)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_data(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f: _data(getattr(value, f)) for f in value.__dataclass_fields__}
    return value


def test_every_store_method_gives_the_same_answers_and_the_same_calls():
    outcomes = both(store_script)
    assert_same(outcomes)
    result = dict((name, rest) for name, *rest in outcomes["fast"][1])
    assert result["put_group again"] == ["raised", "VersionMismatch"]
    assert result["save_execution stale"] == ["raised", ConcurrentUpdate.__name__]
    assert result["list_executions bad token"][0] == "raised"


# --- streams, the meter, the client surface -------------------------------------------------------------------


def streams_script(db: Recorder, session: boto3.Session) -> list[Any]:
    """What the local runtime reads from the table's stream after writes, a cancelled transaction included."""
    streams = (
        fast_dynamodbstreams(session, endpoint_url=STREAMS_ENDPOINT)
        if isinstance(db._client, FastClient)
        else session.client("dynamodbstreams", endpoint_url=STREAMS_ENDPOINT)
    )
    arn = db.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    db.put_item(TableName=TABLE, Item={**key("S", "1"), "v": {"N": "1"}})
    db.update_item(
        TableName=TABLE,
        Key=key("S", "1"),
        UpdateExpression="SET v = :two",
        ExpressionAttributeValues={":two": {"N": "2"}},
    )
    attempt(
        lambda: db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": key("S", "2")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("S", "1"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    )
    db.delete_item(TableName=TABLE, Key=key("S", "1"))
    pages = []
    for _ in range(2):
        page = streams.get_records(ShardIterator=iterator, Limit=2)
        iterator = page["NextShardIterator"]
        pages.append(
            [
                (
                    r["eventName"],
                    r["dynamodb"]["SequenceNumber"],
                    r["dynamodb"].get("Keys"),
                    r["dynamodb"].get("NewImage"),
                    r["dynamodb"].get("OldImage"),
                    sorted(r),
                    sorted(r["dynamodb"]),
                    type(r["dynamodb"]["ApproximateCreationDateTime"]).__name__,
                )
                for r in page["Records"]
            ]
        )
    return pages


def test_stream_records_are_the_same_through_either_client():
    undo = fast_transactions()  # as the local runtime runs moto: a cancelled transaction leaves no record
    try:
        outcomes = both(streams_script)
    finally:
        undo()
    assert outcomes["fast"][1] == outcomes["moto"][1]
    assert [e for page in outcomes["fast"][1] for e, *_ in page] == ["INSERT", "MODIFY", "REMOVE"]


def test_the_capacity_meter_counts_the_same_units_on_either_client():
    counted = {}
    for kind in KINDS:
        with aws(kind) as (client, session):
            meter = meter_for(client)
            store_script(Recorder(client), session)
            counted[kind] = (sum(meter.calls.values()), meter.read_units, meter.write_units)
    assert counted["fast"] == counted["moto"]
    assert counted["fast"][0] >= 40  # every store method ran, each one call or more


def test_the_client_surface_the_adapters_use():
    with aws("fast") as (client, _):
        assert client.exceptions.ConditionalCheckFailedException.__name__ == "ConditionalCheckFailedException"
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(TableName=TABLE, Item=key("X", "1"), ConditionExpression="attribute_exists(pk)")
        assert client.can_paginate("query") and not client.can_paginate("get_item")
        with pytest.raises(AttributeError):
            client.no_such_operation  # noqa: B018
        # A provide-client-params handler may replace the parameters, as on a botocore client.
        client.meta.events.register(
            "provide-client-params.dynamodb.GetItem", lambda params, **_: {**params, "Key": key("X", "2")}
        )
        client.put_item(TableName=TABLE, Item={**key("X", "2"), "v": {"S": "swapped"}})
        assert client.get_item(TableName=TABLE, Key=key("X", "1"))["Item"]["v"] == {"S": "swapped"}


def test_the_caller_s_dicts_are_never_shared_with_moto():
    with aws("fast") as (client, _):
        item = {**key("X", "1"), "tags": {"SS": ["a"]}, "doc": {"M": {"l": {"L": [{"S": "x"}]}}}}
        client.put_item(TableName=TABLE, Item=item)
        item["tags"]["SS"].append("mutated")
        item["doc"]["M"]["l"]["L"].append({"S": "mutated"})
        got = client.get_item(TableName=TABLE, Key=key("X", "1"))["Item"]
        got["tags"]["SS"].append("mutated too")
        again = client.get_item(TableName=TABLE, Key=key("X", "1"))["Item"]
        assert again["tags"] == {"SS": ["a"]} and again["doc"] == {"M": {"l": {"L": [{"S": "x"}]}}}


def test_the_choice_of_dynamodb(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DRWAVE_LOCAL_DYNAMODB", raising=False)
    assert dynamodb_choice(default="fast") == "fast"
    monkeypatch.setenv("DRWAVE_LOCAL_DYNAMODB", "moto")
    assert dynamodb_choice(default="fast") == "moto"
    assert dynamodb_choice("fast", default="moto") == "fast"
    monkeypatch.setenv("DRWAVE_LOCAL_DYNAMODB", "sqlite")
    with pytest.raises(ValueError, match="fast, moto"):
        dynamodb_choice(default="fast")


@pytest.mark.parametrize("script", [paging_script, store_script, transaction_script], ids=lambda s: s.__name__)
def test_moto_answers_the_same_with_the_local_runtime_s_query_patch(script):
    # The local runtime runs moto with fast_queries (a Query reads only its partition): same items, same order.
    plain = both(script)
    undo = fast_queries()
    try:
        patched = both(script)
    finally:
        undo()
    assert_same({"moto": plain["moto"], "fast": patched["moto"]})
    assert_same({"moto": plain["moto"], "fast": patched["fast"]})


def test_a_ledger_reservation_round_trips():
    # A guard on the script above: the ledger it saves is really read back (not an empty default).
    def script(db: Recorder, _: boto3.Session) -> Any:
        store = DynamoStore(db, TABLE)
        ledger = CapacityLedger(account_id="111122223333", region=REGION)
        store.save_ledger(reserve(ledger, "exe-1#app#0", "exe-1", "app", ["s-00000000000000002"], T0))
        return store.load_ledger("111122223333", REGION).model_dump(mode="json")

    outcomes = both(script)
    assert_same(outcomes)
