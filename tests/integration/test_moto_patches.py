"""The local runtime's moto patches keep moto's behaviour where drwave relies on it (DynamoDB streams, rollback)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from drwave_local.runtime.moto_patches import fast_queries, fast_transactions, stream_drainer


@pytest.fixture
def table() -> Iterator[tuple[Any, Any, str]]:
    """A streamed table, its streams client and a LATEST shard iterator, with the patches installed."""
    with mock_aws():
        undo = fast_transactions()
        try:
            db = boto3.client("dynamodb", region_name="us-east-1")
            # the classic endpoint: moto does not serve botocore's account-based one
            endpoint = "https://streams.dynamodb.us-east-1.amazonaws.com"
            streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=endpoint)
            arn = db.create_table(
                TableName="t",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )["TableDescription"]["LatestStreamArn"]
            shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
            yield db, streams, iterator["ShardIterator"]
        finally:
            undo()


def put(key: str, condition: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": "t", "Item": {"pk": {"S": key}}}
    if condition:
        request["ConditionExpression"] = condition
    return {"Put": request}


def keys(page: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]]


def test_a_stream_reader_keeps_seeing_writes_after_a_cancelled_transaction(table):
    # GIVEN a stream reader and an item that makes the next transaction's condition fail
    db, streams, iterator = table
    db.put_item(TableName="t", Item={"pk": {"S": "taken"}})
    # WHEN a transaction writes one item and is then cancelled by the other's condition
    with pytest.raises(ClientError, match="TransactionCanceled"):
        db.transact_write_items(TransactItems=[put("rolled-back"), put("taken", "attribute_not_exists(pk)")])
    # AND a later write succeeds
    db.put_item(TableName="t", Item={"pk": {"S": "after"}})
    # THEN the reader sees the committed writes, the later one included, and none of the rolled-back one
    page = streams.get_records(ShardIterator=iterator)
    assert keys(page) == ["taken", "after"]
    # AND the rolled-back item is not in the table
    assert "Item" not in db.get_item(TableName="t", Key={"pk": {"S": "rolled-back"}})


def test_a_cancelled_transaction_leaves_every_item_it_put_updated_or_deleted_as_it_was(table):
    # GIVEN three stored items, and a transaction that replaces one, updates one, deletes one and then fails
    db, _, _ = table
    for key in ("put", "updated", "deleted", "guard"):
        db.put_item(TableName="t", Item={"pk": {"S": key}, "n": {"N": "1"}, "m": {"M": {"x": {"S": "old"}}}})
    items = [
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "put"}, "n": {"N": "2"}}}},
        {
            "Update": {
                "TableName": "t",
                "Key": {"pk": {"S": "updated"}},
                "UpdateExpression": "SET n = :two, m.x = :new",
                "ExpressionAttributeValues": {":two": {"N": "2"}, ":new": {"S": "new"}},
            }
        },
        {"Delete": {"TableName": "t", "Key": {"pk": {"S": "deleted"}}}},
        {
            "ConditionCheck": {
                "TableName": "t",
                "Key": {"pk": {"S": "guard"}},
                "ConditionExpression": "n = :two",
                "ExpressionAttributeValues": {":two": {"N": "2"}},
            }
        },
    ]
    # WHEN it is cancelled by the condition
    with pytest.raises(ClientError, match="TransactionCanceled"):
        db.transact_write_items(TransactItems=items)
    # THEN each item is exactly as before, nested values included
    for key in ("put", "updated", "deleted"):
        item = db.get_item(TableName="t", Key={"pk": {"S": key}})["Item"]
        assert item == {"pk": {"S": key}, "n": {"N": "1"}, "m": {"M": {"x": {"S": "old"}}}}


def test_a_drained_stream_forgets_what_was_read_and_keeps_numbering_new_records(table):
    # GIVEN a drainer that has taken two writes
    db, _, _ = table
    drain = stream_drainer("t", "us-east-1")
    db.put_item(TableName="t", Item={"pk": {"S": "one"}})
    db.put_item(TableName="t", Item={"pk": {"S": "two"}})
    first = drain()
    # THEN it had them in order, and moto keeps neither
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in first] == ["one", "two"]
    assert dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables["t"].stream_shard.items == []
    # AND a drain with nothing new is empty, and the next write comes numbered after them
    assert drain() == []
    db.put_item(TableName="t", Item={"pk": {"S": "three"}})
    [later] = drain()
    assert later["dynamodb"]["Keys"]["pk"]["S"] == "three"
    assert int(later["dynamodb"]["SequenceNumber"]) == int(first[-1]["dynamodb"]["SequenceNumber"]) + 1


def test_a_drained_record_is_what_get_records_returns(table):
    # GIVEN an item of every attribute type drwave writes, put and then replaced
    db, streams, iterator = table
    item = {
        "pk": {"S": "a"},
        "n": {"N": "12.50"},
        "m": {"M": {"s": {"S": "x"}, "l": {"L": [{"N": "1"}, {"BOOL": True}, {"NULL": True}]}}},
        "ss": {"SS": ["b", "a"]},
        "ns": {"NS": ["2", "1"]},
    }
    db.put_item(TableName="t", Item=item)
    db.put_item(TableName="t", Item={**item, "n": {"N": "13"}})
    # WHEN one reader uses GetRecords and the drainer then takes the same records
    page = streams.get_records(ShardIterator=iterator)["Records"]
    drained = stream_drainer("t", "us-east-1")()

    # THEN both hold the same records, images and all (the creation time aside, which the runtime sets)
    def comparable(record: dict[str, Any]) -> dict[str, Any]:
        stream = {k: v for k, v in record["dynamodb"].items() if k != "ApproximateCreationDateTime"}
        return {**record, "dynamodb": stream}

    assert [comparable(r) for r in drained] == [comparable(r) for r in page]
    assert [r["eventName"] for r in drained] == ["INSERT", "MODIFY"]


def test_a_remembered_condition_is_judged_with_each_call_s_own_values():
    # GIVEN moto with the remembered condition parses and an item at version 4
    with mock_aws():
        undo = fast_queries()
        try:
            db = boto3.client("dynamodb", region_name="us-east-1")
            db.create_table(
                TableName="v",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )

            def put(version: int, condition: str = "attribute_not_exists(pk) OR #v < :v") -> bool:
                try:
                    db.put_item(
                        TableName="v",
                        Item={"pk": {"S": "a"}, "v": {"N": str(version)}},
                        ConditionExpression=condition,
                        ExpressionAttributeNames={"#v": "v"},
                        ExpressionAttributeValues={":v": {"N": str(version)}},
                    )
                except ClientError as err:
                    assert err.response["Error"]["Code"] == "ConditionalCheckFailedException"
                    return False
                return True

            # WHEN the same expression is sent with newer, older and equal values
            outcomes = [put(4), put(6), put(5), put(6), put(7)]

            # THEN each is judged on its own value, and a malformed one is refused every time, not remembered
            assert outcomes == [True, True, False, False, True]
            stored = db.get_item(TableName="v", Key={"pk": {"S": "a"}})["Item"]["v"]["N"]
            assert stored == "7"
            bad = "attribute_not_exists(pk) OR OR #v < :v"
            refusals = [_refusal(lambda: put(8, bad)) for _ in range(2)]
        finally:
            undo()
        assert refusals == [_refusal(lambda: put(8, bad))] * 2  # as plain moto refuses it
        assert refusals[0] != "accepted"


def _refusal(call: Callable[[], object]) -> str:
    try:
        call()
    except Exception as err:  # whatever moto raises is what is compared
        return f"{type(err).__name__}: {err}"
    return "accepted"


def test_stream_records_are_still_sized_within_moto_s_own_estimate(table):
    # GIVEN a stream reader and a 5 KB item written with and without the local runtime's sizing
    db, streams, iterator = table

    def size_of_next_write(key: str) -> int:
        nonlocal iterator
        db.put_item(TableName="t", Item={"pk": {"S": key}, "doc": {"S": "x" * 5000}, "v": {"N": "3"}})
        page = streams.get_records(ShardIterator=iterator)
        iterator = page["NextShardIterator"]
        return int(page["Records"][-1]["dynamodb"]["SizeBytes"])

    plain = size_of_next_write("a")
    undo = fast_queries()
    try:
        sized = size_of_next_write("b")
    finally:
        undo()
    # THEN the record is sized from its strings: no more than moto's JSON length, and not far below it
    assert 0.9 * plain <= sized <= plain, (sized, plain)


def test_items_are_held_to_dynamodb_s_size_limit_as_plain_moto_holds_them(table):
    # GIVEN moto with and without the local runtime's item construction
    db, _, _ = table

    def outcome(key: str, kilobytes: int) -> str:
        # two attributes: the running sum must add them up, not check each alone
        item = {"pk": {"S": key}, "a": {"S": "x" * (kilobytes * 512)}, "b": {"S": "y" * (kilobytes * 512)}}
        return _refusal(lambda: db.put_item(TableName="t", Item=item))

    plain = [outcome("p-small", 390), outcome("p-big", 410)]
    undo = fast_queries()
    try:
        patched = [outcome("f-small", 390), outcome("f-big", 410)]
    finally:
        undo()
    # THEN a 390 KB item is stored and a 410 KB one refused, with the same error either way
    assert patched == plain
    assert plain[0] == "accepted" and plain[1] != "accepted", plain


def test_attribute_values_hash_and_compare_as_plain_moto_has_them():
    # GIVEN attribute values of every kind, and moto's own equality and hash
    values = [
        {"S": "a"},
        {"S": "1"},
        {"N": "1"},
        {"N": "1.0"},
        {"B": "YQ=="},
        {"SS": ["a", "b"]},
        {"NS": ["1", "2"]},
        {"BOOL": True},
        {"NULL": True},
    ]
    plain = [(DynamoType.__eq__, DynamoType.__hash__)]
    undo = fast_queries()
    try:
        patched_eq, patched_hash = DynamoType.__eq__, DynamoType.__hash__
    finally:
        undo()
    [(plain_eq, plain_hash)] = plain
    typed = [DynamoType(v) for v in values]
    # THEN the patched ones give the same answers for every pair, and the same hash for every hashable value
    for a in typed:
        for b in typed:
            assert patched_eq(a, b) == plain_eq(a, b)
        if a.type not in {"SS", "NS"}:  # sets do not hash, in moto either
            assert patched_hash(a) == plain_hash(a)


def test_a_drainer_told_what_is_wanted_makes_only_those_records_and_makes_them_whole(table):
    # GIVEN a drainer that wants only inserts and updates of EXEC# items (the status projection's filter)
    db, _, _ = table
    drain = stream_drainer(
        "t", "us-east-1", lambda r: r["eventName"] != "REMOVE" and r["dynamodb"]["Keys"]["pk"]["S"].startswith("EXEC#")
    )
    # WHEN items of both kinds are put, replaced and deleted
    for key in ("EXEC#1", "VIEW#1", "EXEC#2"):
        db.put_item(TableName="t", Item={"pk": {"S": key}, "n": {"N": "1"}})
    db.put_item(TableName="t", Item={"pk": {"S": "EXEC#1"}, "n": {"N": "2"}})
    db.delete_item(TableName="t", Key={"pk": {"S": "EXEC#2"}})
    # THEN only the wanted writes became records, in order, with their images
    records = drain()
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [
        ("INSERT", "EXEC#1"),
        ("INSERT", "EXEC#2"),
        ("MODIFY", "EXEC#1"),
    ]
    assert records[-1]["dynamodb"]["OldImage"]["n"] == {"N": "1"}
    assert records[-1]["dynamodb"]["NewImage"]["n"] == {"N": "2"}
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == sorted(set(numbers))


def test_a_sparse_index_holds_exactly_the_items_with_its_key_through_every_kind_of_write():
    # GIVEN moto with the local runtime's patches and a table whose sparse index holds the items with "active"
    with mock_aws():
        undo, undo_queries = fast_transactions(), fast_queries()
        try:
            db = boto3.client("dynamodb", region_name="us-east-1")
            db.create_table(
                TableName="s",
                AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "active")],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": "active-index",
                        "KeySchema": [{"AttributeName": "active", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                ],
                BillingMode="PAY_PER_REQUEST",
            )

            def item(n: int, active: bool) -> dict[str, Any]:
                return {"pk": {"S": f"p{n % 3}"}, "sk": {"S": f"s{n}"}, **({"active": {"S": "A"}} if active else {})}

            def held() -> list[str]:
                page = db.query(
                    TableName="s",
                    IndexName="active-index",
                    KeyConditionExpression="active = :a",
                    ExpressionAttributeValues={":a": {"S": "A"}},
                )
                return sorted(i["sk"]["S"] for i in page["Items"])

            for n in range(6):
                db.put_item(TableName="s", Item=item(n, active=n % 2 == 0))
            # WHEN the index is queried, then the items change by each kind of write, THEN it follows every change
            assert held() == ["s0", "s2", "s4"]
            db.put_item(TableName="s", Item=item(0, active=False))  # overwritten without the key
            db.update_item(  # the key set in place
                TableName="s",
                Key={"pk": {"S": "p1"}, "sk": {"S": "s1"}},
                UpdateExpression="SET active = :a",
                ExpressionAttributeValues={":a": {"S": "A"}},
            )
            db.update_item(TableName="s", Key={"pk": {"S": "p2"}, "sk": {"S": "s2"}}, UpdateExpression="REMOVE active")
            db.delete_item(TableName="s", Key={"pk": {"S": "p1"}, "sk": {"S": "s4"}})
            db.batch_write_item(RequestItems={"s": [{"PutRequest": {"Item": item(7, active=True)}}]})
            assert held() == ["s1", "s7"]
            with pytest.raises(ClientError, match="TransactionCanceled"):  # a cancelled transaction's writes undone
                db.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": "s", "Item": item(8, active=True)}},
                        {"Delete": {"TableName": "s", "Key": {"pk": {"S": "p1"}, "sk": {"S": "s7"}}}},
                        {"Put": {**put("x", "attribute_exists(pk)")["Put"], "TableName": "s", "Item": item(9, True)}},
                    ]
                )
            assert held() == ["s1", "s7"]
            db.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "s", "Item": item(8, active=True)}},
                    {"Delete": {"TableName": "s", "Key": {"pk": {"S": "p1"}, "sk": {"S": "s7"}}}},
                ]
            )
            assert held() == ["s1", "s8"]
        finally:
            undo_queries()
            undo()
