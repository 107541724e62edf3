"""Where moto is too slow for whole-plan rehearsals, a faster equivalent (local runtime only).

moto's TransactWriteItems backs up a table by deep-copying it, stream records included, once per
item in the transaction: a rehearsal of a 1,000-server plan spent most of its time there. A shallow
snapshot gives the same rollback, because put and delete replace stored items rather than mutate them.

moto's Query sorts the whole table (every partition, with DynamoType comparisons that re-cast both sides
each time) before it keeps the one partition asked for: `fast_queries` hands it that partition alone and
sorts with each item's key cast once. The items and their order are the same.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_PARTITION = "_drwave_partition"  # set on a table for the duration of one Query of the table itself
_SORT_KEY = "_drwave_sort_key"  # cached on an item: its key attributes never change while it is stored


def _no_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """moto backs up a whole table per transaction item (O(table) each); the touched items are backed up instead."""
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Table, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the stored item or None) of every item a transaction names."""
    touched = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        attrs = op.get("Item") or op.get("Key") or {}
        if table is None or table.hash_key_attr not in attrs:
            continue
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr in attrs else None
        stored = table.items.get(hash_key) if hash_key in table.items else None
        if range_key is not None and isinstance(stored, dict):
            stored = stored.get(range_key)
        touched.append((table, hash_key, range_key, copy.deepcopy(stored) if stored is not None else None))
    return touched


def _restore(touched: list[tuple[Table, Any, Any, Any]]) -> None:
    for table, hash_key, range_key, before in reversed(touched):
        if range_key is None:
            if before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
            continue
        partition = table.items[hash_key]
        if before is None:
            partition.pop(range_key, None)
            if not partition:
                del table.items[hash_key]
        else:
            partition[range_key] = before


def _rollback_touched_items(transact: Callable[..., None]) -> Callable[..., None]:
    """A cancelled transaction puts back the items it touched, and keeps the live stream shards.

    moto rolls a cancelled TransactWriteItems back by replacing each table with a whole-table backup taken per
    transaction item, which costs O(table) per write and kept gigabytes alive in long rehearsals. Here the
    backup is the touched items only. moto's ShardIterator holds the live stream shard, so it is kept, without
    the records of the writes that were rolled back (found by the fault-schedule property test of the read model).
    """

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        live = {n: (t.stream_shard, len(t.stream_shard.items)) for n, t in backend.tables.items() if t.stream_shard}
        touched = _touched(backend, transact_items)
        try:
            transact(backend, transact_items)
        except Exception:
            _restore(touched)
            for name, (shard, length) in live.items():
                table = backend.tables.get(name)
                if table is not None:
                    del shard.items[length:]
            raise

    return transact_write_items


def fast_transactions() -> Callable[[], None]:
    """Install the shallow table backup (and the live stream shards) in moto's DynamoDB backend; returns the undo."""
    original = dynamodb_models.copy
    dynamodb_models.copy = SimpleNamespace(deepcopy=_no_copy, copy=copy.copy)  # type: ignore[assignment]
    backend = dynamodb_models.DynamoDBBackend
    transact = backend.transact_write_items
    backend.transact_write_items = _rollback_touched_items(transact)  # type: ignore[method-assign]

    def undo() -> None:
        dynamodb_models.copy = original
        backend.transact_write_items = transact  # type: ignore[method-assign]

    return undo


def stream_releaser(table_name: str, region: str) -> Callable[[str, int | None], int]:
    """A function that makes moto forget what the local stream reader has already read; returns records dropped.

    moto keeps every stream record (the old and new image of every write) and every shard iterator it ever
    handed out, for the life of the mock: a 5,000-server rehearsal held gigabytes. DynamoDB itself trims a
    stream after 24 hours; locally, records the runtime has read (and so scheduled for delivery to the consumers)
    are trimmed at once, and each iterator is forgotten once it has been used. Sequence numbers carry on.
    """
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415
    from moto.dynamodbstreams.models import dynamodbstreams_backends  # noqa: PLC0415

    account = next(a for a, regions in list(dynamodb_backends.items()) if table_name in regions[region].tables)
    tables = dynamodb_backends[account][region].tables
    iterators = dynamodbstreams_backends[account][region].shard_iterators

    def release(used_iterator: str, next_sequence: int | None) -> int:
        iterators.pop(used_iterator, None)
        shard = tables[table_name].stream_shard
        if shard is None or next_sequence is None:
            return 0
        dropped = min(next_sequence - shard.starting_sequence_number, len(shard.items))
        if dropped > 0:
            del shard.items[:dropped]
            shard.starting_sequence_number += dropped  # the next record's number is len(items) + start
        return max(dropped, 0)

    return release


def _sort_key(item: Item) -> Any:
    """The order of moto's `(hash_key, range_key)` DynamoType tuples, each side cast once and cached on the item."""
    cached = item.__dict__.get(_SORT_KEY)
    if cached is None:
        # Same expression as Table.all_items; DynamoType == and < compare cast values (keys have one type each).
        cached = (item.hash_key.cast_value, item.range_key.cast_value) if item.range_key else item.hash_key.cast_value
        item.__dict__[_SORT_KEY] = cached
    return cached


def _all_items(table: Table) -> list[Item]:
    """Table.all_items, or only the partition being queried, sorted the same way."""
    items: list[Item] = []
    partition = table.__dict__.get(_PARTITION, table.items)
    hash_sets = [partition] if partition is not table.items else table.items.values()
    for hash_set in hash_sets:
        if hash_set is None:
            continue
        if table.range_key_attr:
            items.extend(hash_set.values())
        else:
            items.append(hash_set)
    return sorted(items, key=_sort_key)


def _query_one_partition(query: Callable[..., Any]) -> Callable[..., Any]:
    """A Query of the table (not of an index) keeps only items whose hash key equals the one asked for: the
    partition stored under that key, which is all `_all_items` yields while the query runs."""

    def table_query(table: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")  # moto passes it 8th, positionally
        if index_name or hash_key is None or _PARTITION in table.__dict__ or not table.range_key_attr:
            return query(table, hash_key, *args, **kwargs)
        table.__dict__[_PARTITION] = table.items.get(hash_key)  # get: the defaultdict must not grow a partition
        try:
            return query(table, hash_key, *args, **kwargs)
        finally:
            del table.__dict__[_PARTITION]

    return table_query


def fast_queries() -> Callable[[], None]:
    """Install the partition-only Query and the cached sort keys in moto's DynamoDB tables; returns the undo."""
    all_items, query = Table.all_items, Table.query
    Table.all_items = _all_items  # type: ignore[method-assign,assignment]
    Table.query = _query_one_partition(query)  # type: ignore[method-assign]

    def undo() -> None:
        Table.all_items = all_items  # type: ignore[method-assign]
        Table.query = query  # type: ignore[method-assign]

    return undo
