"""Where moto is too slow for whole-plan rehearsals, a faster equivalent (local runtime only).

moto's TransactWriteItems backs up a table by deep-copying it, stream records included, once per
item in the transaction: a rehearsal of a 1,000-server plan spent most of its time there. A shallow
snapshot gives the same rollback, because put and delete replace stored items rather than mutate them.

moto's Query sorts the whole table (every partition, with DynamoType comparisons that re-cast both sides
each time) before it keeps the one partition asked for: `fast_queries` hands it that partition alone and
sorts with each item's key cast once. A Query of a sparse index scanned every item of the table for the few
that carry the index's keys (the poll tick's queries, each minute): the index's items are kept instead, updated
from the keys written since its last query. The items and their order are the same.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import moto.dynamodb.models as dynamodb_models
import moto.dynamodb.models.table as table_module
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize

_PARTITION = "_drwave_partition"  # set on a table for the duration of one Query of the table itself
_SORT_KEY = "_drwave_sort_key"  # cached on an item: its key attributes never change while it is stored
_ITEM_LIMIT = 405_000  # moto's LimitedSizeDict limit (DynamoDB's 400 KB, as measured by moto)
_PARSED_LIMIT = 1024  # distinct condition expressions remembered (drwave writes a few dozen)
_INDEX_ITEMS = "_drwave_index_items"  # set on a table for the duration of one Query of an index: the items it holds
# On a table, per index queried so far: the items it holds by key, and the keys written since it was last queried.
_INDEXED = "_drwave_indexed"


def _no_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """moto backs up a whole table per transaction item (O(table) each); the touched items are backed up instead."""
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Table, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the stored item or None) of every item a transaction names."""
    touched = []
    for entry in transact_items:
        kind, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        attrs = op.get("Item") or op.get("Key") or {}
        if table is None or table.hash_key_attr not in attrs:
            continue
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr in attrs else None
        stored = table.items.get(hash_key) if hash_key in table.items else None
        if range_key is not None and isinstance(stored, dict):
            stored = stored.get(range_key)
        # Put and Delete replace the stored Item object (and a ConditionCheck leaves it): only an Update changes it in
        # place, so only an Update's item needs a copy to go back to.
        backup = copy.deepcopy(stored) if stored is not None and kind == "Update" else stored
        touched.append((table, hash_key, range_key, backup))
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


def stream_drainer(
    table_name: str, region: str, wanted: Callable[[dict[str, Any]], bool] | None = None
) -> Callable[[], list[dict[str, Any]]]:
    """A function that hands over, in order, the table's stream records written since its last call, and makes moto
    forget them (the local runtime is the stream's one reader, as Lambda's poller is on AWS).

    moto keeps every stream record (the old and new image of every write) for the life of the mock: a 5,000-server
    rehearsal held gigabytes; DynamoDB itself trims a stream after 24 hours. Reading through GetRecords also
    re-copied every image along the response shape, a tenth of a rehearsal. The records are moto's own, each built
    for its write (nothing else holds them once drained): the same as GetRecords returns, because drwave's items
    hold no binary attributes (which botocore would decode), and the runtime sets ApproximateCreationDateTime as
    Lambda hands it over. Sequence numbers carry on across drains.

    `wanted`, given a record's event name and keys alone ({"eventName": ..., "dynamodb": {"Keys": ...}}), says
    whether any consumer's filter takes it; moto then builds only the records that are: the status read model's own
    writes, which its filter leaves out, were half of all records. Their sequence numbers are skipped, as DynamoDB's
    are never contiguous anyway.
    """
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

    account = next(a for a, regions in list(dynamodb_backends.items()) if table_name in regions[region].tables)
    tables = dynamodb_backends[account][region].tables
    shard = tables[table_name].stream_shard
    if wanted is not None and shard is not None:
        shard.add = _only_wanted(shard, wanted)  # type: ignore[method-assign,assignment]

    def drain() -> list[dict[str, Any]]:
        shard = tables[table_name].stream_shard
        if shard is None or not shard.items:
            return []
        records = [record.to_json() for record in shard.items]
        shard.starting_sequence_number += len(shard.items)  # the next record's number is len(items) + start
        shard.items.clear()
        return records

    return drain


def _only_wanted(shard: Any, wanted: Callable[[dict[str, Any]], bool]) -> Callable[[Any, Any], None]:
    """The shard's `add`, skipping the writes no consumer takes (judged on the event name and keys moto would give)."""
    add, table = shard.add, shard.table

    def add_wanted(old: Item | None, new: Item | None) -> None:
        item = old if old is not None else new
        if item is None:
            return
        keys = {table.hash_key_attr: item.hash_key.to_json()}
        if table.range_key_attr is not None and item.range_key is not None:
            keys[table.range_key_attr] = item.range_key.to_json()
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"  # as StreamShard.add names it
        if wanted({"eventName": event, "dynamodb": {"Keys": keys}}):
            add(old, new)

    return add_wanted


def _sort_key(item: Item) -> Any:
    """The order of moto's `(hash_key, range_key)` DynamoType tuples, each side cast once and cached on the item."""
    cached = item.__dict__.get(_SORT_KEY)
    if cached is None:
        # Same expression as Table.all_items; DynamoType == and < compare cast values (keys have one type each).
        cached = (item.hash_key.cast_value, item.range_key.cast_value) if item.range_key else item.hash_key.cast_value
        item.__dict__[_SORT_KEY] = cached
    return cached


def _all_items(table: Table) -> list[Item]:
    """Table.all_items, or only the partition being queried, sorted the same way; while an index is queried, only
    the items the index holds (those with its hash key attributes), unsorted: the query sorts its results itself."""
    index_items = table.__dict__.get(_INDEX_ITEMS)
    if index_items is not None:
        return list(index_items)
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


def _scan(table: Table) -> list[Item]:
    items: list[Item] = []
    for hash_set in table.items.values():
        stored: Any = hash_set.values() if table.range_key_attr else [hash_set]
        items.extend(stored)
    return items


def _stored(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    stored: Any = table.items.get(hash_key)  # get: the defaultdict must not grow a partition
    if table.range_key_attr:
        return stored.get(range_key) if stored is not None and range_key is not None else None
    return stored


def _written(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
    """Note a write of this key for every index queried so far: its membership is looked at again at its next query."""
    for _, dirty in table.__dict__.get(_INDEXED, {}).values():
        dirty.add((hash_key, range_key))


def _written_attrs(table: Table | None, attrs: dict[str, Any]) -> None:
    if table is None or _INDEXED not in table.__dict__ or table.hash_key_attr not in attrs:
        return
    range_value = attrs.get(table.range_key_attr) if table.range_key_attr else None
    _written(table, DynamoType(attrs[table.hash_key_attr]), DynamoType(range_value) if range_value else None)


def _held(item: Item, hash_keys: list[str]) -> bool:
    return all(k in item.attrs for k in hash_keys)


def _index_members(table: Table, index_name: str, hash_keys: list[str]) -> list[Item]:
    """The items a sparse index holds (those with its hash key attributes), kept up to date from the keys written
    since its last query instead of a scan of the whole table per query (the poll tick queries them every minute).
    """
    indexed = table.__dict__.setdefault(_INDEXED, {})
    entry = indexed.get(index_name)
    if entry is None:
        members = {(i.hash_key, i.range_key): i for i in _scan(table) if _held(i, hash_keys)}
        indexed[index_name] = (members, set())
    else:
        members, dirty = entry
        for key in dirty:
            item = _stored(table, *key)
            if item is not None and _held(item, hash_keys):
                members[key] = item
            else:
                members.pop(key, None)
        dirty.clear()
    if os.environ.get("DRWAVE_VALIDATION_CHECKS") == "1":  # the suites: the kept members equal a scan's
        scanned = {id(i) for i in _scan(table) if _held(i, hash_keys)}
        if scanned != {id(i) for i in members.values()}:
            raise AssertionError(f"index {index_name} of {table.name}: kept members differ from the table's items")
    return list(members.values())


def _marking_put(put: Callable[..., Item]) -> Callable[..., Item]:
    def put_item(table: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
        try:
            return put(table, item_attrs, *args, **kwargs)
        finally:
            _written_attrs(table, item_attrs)

    return put_item


def _marking_delete(delete: Callable[..., Item | None]) -> Callable[..., Item | None]:
    def delete_item(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
        try:
            return delete(table, hash_key, range_key)
        finally:
            _written(table, hash_key, range_key)

    return delete_item


def _marking_update(update: Callable[..., Item]) -> Callable[..., Item]:
    """UpdateItem changes the stored item in place (the one write that does not go through Table.put_item)."""

    def update_item(backend: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
        try:
            return update(backend, table_name, key, *args, **kwargs)
        finally:
            _written_attrs(backend.tables.get(table_name), key)

    return update_item


def _query_one_partition(query: Callable[..., Any]) -> Callable[..., Any]:
    """A Query of the table (not of an index) keeps only items whose hash key equals the one asked for: the
    partition stored under that key, which is all `_all_items` yields while the query runs."""

    def table_query(table: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")  # moto passes it 8th, positionally
        if index_name and _INDEX_ITEMS not in table.__dict__:
            index = next((i for i in table.all_indexes() if i.name == index_name), None)
            if index is None:
                return query(table, hash_key, *args, **kwargs)  # moto's own error for an unknown index
            keys = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            table.__dict__[_INDEX_ITEMS] = _index_members(table, index_name, keys)
            try:
                return query(table, hash_key, *args, **kwargs)
            finally:
                del table.__dict__[_INDEX_ITEMS]
        if index_name or hash_key is None or _PARTITION in table.__dict__ or not table.range_key_attr:
            return query(table, hash_key, *args, **kwargs)
        table.__dict__[_PARTITION] = table.items.get(hash_key)  # get: the defaultdict must not grow a partition
        try:
            return query(table, hash_key, *args, **kwargs)
        finally:
            del table.__dict__[_PARTITION]

    return table_query


def _with_values(node: Any, values: dict[str, Any]) -> Any:
    """A parsed condition tree with this call's expression attribute values in its value nodes."""
    if node.kind == ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE:
        return node._replace(value=values[node.text])
    if not node.children:
        return node
    return node._replace(children=[_with_values(child, values) for child in node.children])


def _parsed_once(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """moto's condition parser, remembered per expression, names and the set of value names.

    The tree moto builds depends on those alone; the values only fill its value nodes (the passes after the
    lookup read no value). moto parses the same few expressions on every write (a conditional put twice), and
    parsing was a sixth of a rehearsal's time. Errors are never remembered: a failing parse raises every time.
    """
    trees: dict[tuple[Any, ...], tuple[Any, list[str], list[str]]] = {}

    def parse_condition(parser: Any) -> Any:
        text = parser.condition_expression
        if not text:
            return parse(parser)
        names = parser.expression_attribute_names or {}
        values = parser.expression_attribute_values or {}
        key = (text, tuple(sorted(names.items())), frozenset(values))
        known = trees.get(key)
        if known is None:
            nodes = parser._lex_condition_expression()
            # moto's ConditionExpressionParser.parse, pass for pass, stopping before it builds the Op
            for step in ("_parse_paths", "_apply_functions", "_apply_comparator", "_apply_in", "_apply_between"):
                nodes = getattr(parser, step)(nodes)
            nodes = parser._apply_parens_and_booleans(nodes)
            node = nodes[0]
            parser._assert_no_redundant_parentheses(node)
            known = (node, parser._find_literals(node), parser._find_expr_attr_values(node))
            if len(trees) < _PARSED_LIMIT:
                trees[key] = known
        node, literals, value_names = known
        parser.expr_attr_names_found.extend(literals)
        parser.expr_attr_values_found.extend(value_names)
        return parser._make_op_condition(_with_values(node, values))

    return parse_condition


def _item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """moto's Item.__init__ with its 400 KB check kept as a running sum.

    moto's LimitedSizeDict re-sizes every attribute already set each time one more is set (quadratic in the
    attributes, re-encoding 30 KB strings each time). Built here once, with the same limit and the same error; the
    dict the item keeps is moto's own, so later in-place updates are checked by moto's code as before.
    """
    self.hash_key = hash_key
    self.range_key = range_key
    built = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        size = bytesize(key) + typed.size()
        if total + size > _ITEM_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(built, key, typed)
        total += size
    self.attrs = built


class _Length:
    """Stands in for the JSON text moto measures a stream record by: only its length is ever taken."""

    def __init__(self, length: int) -> None:
        self._length = length

    def __len__(self) -> int:
        return self._length


def _text_length(value: Any) -> int:
    """Roughly the length of `value` as JSON (names, strings and numbers; not the punctuation)."""
    total = 0
    if isinstance(value, dict):
        for key, member in value.items():  # string members inline: most of a record's leaves are strings
            total += len(key) + (len(member) if type(member) is str else _text_length(member))
        return total
    if isinstance(value, list | tuple):
        for member in value:
            total += len(member) if type(member) is str else _text_length(member)
        return total
    return len(value) if isinstance(value, str) else 8


def _stream_record_size(record: Any) -> _Length:
    """moto sizes every stream record by dumping it, old and new image, to JSON (its own comment calls the figure
    "a substantial overestimate"); nothing reads SizeBytes locally, and dumping 30 KB chunk images was a tenth of
    each write. Same order of size, from the strings' lengths."""
    return _Length(_text_length(record))


def _hash(self: DynamoType) -> int:
    """DynamoType.__hash__ without building the cast value of a string (its cast value is itself)."""
    value = self.value
    return hash(("S", value)) if self.type == "S" else hash((self.type, self.cast_value))


def _equal(self: DynamoType, other: DynamoType) -> bool:
    """DynamoType.__eq__, strings compared directly (keys are strings: every partition lookup compares them)."""
    if self.type == "S":
        return other.type == "S" and self.value == other.value
    return self.type == other.type and self.cast_value == other.cast_value


def fast_queries() -> Callable[[], None]:
    """Install the partition-only Query, the cached sort keys and the remembered condition parses in moto's
    DynamoDB; returns the undo."""
    all_items, query = Table.all_items, Table.query
    parse = ConditionExpressionParser.parse
    put, delete, update = Table.put_item, Table.delete_item, dynamodb_models.DynamoDBBackend.update_item
    Table.put_item, Table.delete_item = _marking_put(put), _marking_delete(delete)  # type: ignore[method-assign]
    dynamodb_models.DynamoDBBackend.update_item = _marking_update(update)  # type: ignore[method-assign]
    Table.all_items = _all_items  # type: ignore[method-assign,assignment]
    Table.query = _query_one_partition(query)  # type: ignore[method-assign]
    ConditionExpressionParser.parse = _parsed_once(parse)  # type: ignore[method-assign,assignment]
    item_init = Item.__init__
    Item.__init__ = _item_init  # type: ignore[method-assign]
    hashed, equal = DynamoType.__hash__, DynamoType.__eq__
    DynamoType.__hash__, DynamoType.__eq__ = _hash, _equal  # type: ignore[method-assign]
    dump = table_module.dynamo_json_dump  # table.py measures stream records with it, and uses it for nothing else
    table_module.dynamo_json_dump = _stream_record_size  # type: ignore[assignment]

    def undo() -> None:
        Table.put_item, Table.delete_item = put, delete  # type: ignore[method-assign]
        dynamodb_models.DynamoDBBackend.update_item = update  # type: ignore[method-assign]
        Table.all_items = all_items  # type: ignore[method-assign]
        Table.query = query  # type: ignore[method-assign]
        ConditionExpressionParser.parse = parse  # type: ignore[method-assign]
        table_module.dynamo_json_dump = dump
        Item.__init__ = item_init  # type: ignore[method-assign]
        DynamoType.__hash__, DynamoType.__eq__ = hashed, equal  # type: ignore[method-assign]

    return undo
