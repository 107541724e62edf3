"""The capacity meter bills what DynamoDB's documented rules bill, from the items' true size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from drwave_local.bench.meter import CapacityMeter, item_size, meter_for, read_units, write_units


def test_item_size_counts_names_and_values_by_dynamodb_type() -> None:
    # GIVEN an item of every kind of attribute (sizes per AWS's "DynamoDB item sizes and formats")
    item = {
        "pk": {"S": "abc"},  # 2 + 3
        "café": {"S": "é"},  # 5 + 2: UTF-8 bytes, not characters
        "n": {"N": "123"},  # 1 + (2 bytes for 3 significant digits) + 1
        "z": {"N": "-0.0012300"},  # 1 + 3: leading and trailing zeroes trimmed, 123 left
        "k": {"N": "1000"},  # 1 + 2: one significant digit
        "b": {"B": b"\x00\x01\x02"},  # 1 + 3 raw bytes
        "t": {"BOOL": True},  # 1 + 1
        "u": {"NULL": True},  # 1 + 1
        "m": {"M": {"a": {"S": "x"}}},  # 1 + 3 + (1 + 1 + 1 per element)
        "l": {"L": [{"S": "xy"}, {"N": "7"}]},  # 1 + 3 + (2 + 1) + (2 + 1)
        "ss": {"SS": ["a", "bc"]},  # 2 + 3
    }
    # WHEN it is sized  THEN each attribute is its name's bytes plus its value's
    assert item_size(item) == 5 + 7 + 4 + 4 + 3 + 4 + 2 + 2 + 7 + 10 + 5


def test_item_size_matches_a_published_worked_example() -> None:
    # GIVEN the 8-attribute example of the ddbitemsizer README (141 bytes by the same rules)
    item = {
        "itemType": {"S": "SLOT"},
        "id": {"S": "abc1231"},
        "hostName": {"S": "Harry Mason"},
        "timeSlot": {"S": "February 23, 1999"},
        "slotStatus": {"S": "OPEN"},
        "createdAt": {"S": "February 1, 1999"},
        "updatedAt": {"S": "February 1, 1999"},
        "expiresAt": {"N": "2099"},
    }
    # WHEN it is sized  THEN it is 141 bytes, not its JSON length
    assert item_size(item) == 141


@pytest.mark.parametrize(
    ("size", "consistent", "transactional", "units"),
    [
        (3500, True, False, 1.0),  # AWS: a 3,500-byte item costs what a 4 KB one does
        (3500, False, False, 0.5),
        (8 * 1024, True, False, 2.0),  # AWS: 8 KB is 2 strongly consistent units, 1 eventual, 4 transactional
        (8 * 1024, False, False, 1.0),
        (8 * 1024, True, True, 4.0),
        (10 * 1024, True, False, 3.0),  # AWS: 10 KB rounds up to 12 KB
        (0, True, False, 1.0),  # a read that finds nothing still costs one unit
    ],
)
def test_read_units_round_each_request_up_to_4_kb(size: int, consistent: bool, transactional: bool, units: float):
    assert read_units(size, consistent, transactional) == units


def test_write_units_round_up_to_1_kb_and_double_in_a_transaction() -> None:
    assert (write_units(0), write_units(1024), write_units(1025), write_units(1025, transactional=True)) == (1, 1, 2, 4)


@pytest.fixture
def db() -> Iterator[tuple[Any, CapacityMeter]]:
    """A moto table with a sort key and a KEYS_ONLY index on `kind`, and a meter on its client."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "kind")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "kind-index",
                    "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client, meter_for(client)


def _item(sk: str, payload_bytes: int, **extra: str) -> dict[str, Any]:
    # pk(2)+"p"(1) + sk(2)+sk + data(4)+payload
    item = {"pk": {"S": "p"}, "sk": {"S": sk}, "data": {"S": "x" * payload_bytes}}
    return {**item, **{k: {"S": v} for k, v in extra.items()}}


def test_an_update_is_billed_on_the_larger_of_the_item_before_and_after(db) -> None:
    # GIVEN a stored item of about 2.5 KB
    client, meter = db
    client.put_item(TableName="t", Item=_item("a", 2500))
    before = meter.write_units
    # WHEN an update shrinks it to a few bytes
    client.update_item(
        TableName="t",
        Key={"pk": {"S": "p"}, "sk": {"S": "a"}},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":d": {"S": "y"}},
    )
    # THEN the put cost 3 units and the update 3 too (the item before it), not 1
    assert (before, meter.write_units - before) == (3, 3)


def test_a_failed_conditional_write_and_a_delete_are_billed(db) -> None:
    # GIVEN a stored 1.5 KB item
    client, meter = db
    client.put_item(TableName="t", Item=_item("a", 1500))
    start = meter.write_units
    # WHEN a conditional put on it fails, and then the item is deleted
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        client.put_item(TableName="t", Item=_item("a", 10), ConditionExpression="attribute_not_exists(pk)")
    client.delete_item(TableName="t", Key={"pk": {"S": "p"}, "sk": {"S": "a"}})
    # THEN each is billed on the 1.5 KB item: 2 units apiece
    assert meter.write_units - start == 4
    assert meter.calls["PutItem"] == 2 and meter.calls["DeleteItem"] == 1


def test_a_refused_put_writes_nothing_to_an_index_and_is_billed_on_the_item_it_left(db) -> None:
    # GIVEN a small item in the kind index
    client, meter = db
    client.put_item(TableName="t", Item=_item("a", 10, kind="plan"))
    start, index_start = meter.write_units, meter.index_write_units
    # WHEN a 2.5 KB conditional put that would move it in the index is refused
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        client.put_item(
            TableName="t", Item=_item("a", 2500, kind="group"), ConditionExpression="attribute_not_exists(pk)"
        )
    # THEN one unit for the small item it left as it was, and no index write
    assert (meter.write_units - start, meter.index_write_units - index_start) == (1, 0)


def test_a_transaction_bills_twice_per_kilobyte_of_every_item_it_touches(db) -> None:
    # GIVEN a stored 100-byte item to check
    client, meter = db
    client.put_item(TableName="t", Item=_item("checked", 100))
    start = meter.write_units
    # WHEN a transaction puts a 1.5 KB item and condition-checks the other
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": _item("new", 1500)}},
            {
                "ConditionCheck": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "p"}, "sk": {"S": "checked"}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
    )
    # THEN the put costs 2 x 2 units and the check 2 x 1
    assert meter.write_units - start == 6


def test_index_writes_are_billed_only_when_the_indexed_copy_changes(db) -> None:
    # GIVEN an item in the kind index
    client, meter = db
    client.put_item(TableName="t", Item=_item("a", 10, kind="plan"))
    assert meter.index_write_units == 1
    # WHEN a non-projected attribute changes, and then the index key does
    client.put_item(TableName="t", Item=_item("a", 20, kind="plan"))
    unchanged = meter.index_write_units
    client.put_item(TableName="t", Item=_item("a", 20, kind="group"))
    # THEN the first costs the index nothing, the second a delete and a put there
    assert (unchanged, meter.index_write_units) == (1, 3)


def test_reads_are_billed_per_item_in_a_batch_and_on_the_sum_in_a_query(db) -> None:
    # GIVEN a 1.5 KB and a 6.5 KB item in one partition
    client, meter = db
    client.put_item(TableName="t", Item=_item("a", 1536 - 12))
    client.put_item(TableName="t", Item=_item("b", 6656 - 12))
    keys = [{"pk": {"S": "p"}, "sk": {"S": s}} for s in "ab"]
    # WHEN a strongly consistent BatchGetItem reads both (AWS's example: 4 KB + 8 KB = 12 KB, 3 units)
    client.batch_get_item(RequestItems={"t": {"Keys": keys, "ConsistentRead": True}})
    batch = meter.read_units
    # AND an eventually consistent Query reads the partition (8 KB in all: 2 blocks, half a unit each)
    client.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}})
    # THEN
    assert (batch, meter.read_units - batch) == (3.0, 1.0)


def test_calls_outside_the_counted_window_are_not_billed(db) -> None:
    # GIVEN a meter told to count nothing (as for the local runtime's own bookkeeping reads)
    client, meter = db
    meter.counting = lambda: False
    # WHEN a write happens  THEN it is not billed
    client.put_item(TableName="t", Item=_item("a", 10))
    assert (meter.write_units, sum(meter.calls.values())) == (0, 0)
