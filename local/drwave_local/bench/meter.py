"""Counts the DynamoDB capacity units an on-demand table would bill, from the items' true DynamoDB size.

moto reports no consumed capacity, so the meter watches a client's calls and sizes every item the way DynamoDB
does (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html): attribute
name bytes plus value bytes, numbers by significant digits, 3 bytes per list or map plus 1 per element. Writes are
billed on the larger of the item before and after the call, per started 1 KB (twice in a transaction); reads per
started 4 KB (halved when eventually consistent), a Query or Scan on the sum of its items. A write also writes each
global secondary index whose projection of the item changed (a changed index key: a delete and a put).

The sizes before and after a write come from the store behind the client (moto's backend locally), so an
UpdateItem or a conditional write that failed is billed as DynamoDB would bill it, without changing the adapter.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096

Attributes = dict[str, Any]  # an item in DynamoDB's wire format: name -> {"S": ...} / {"N": ...} / ...


def _number_size(text: str) -> int:
    """1 byte per two significant digits (leading and trailing zeroes trimmed), plus 1."""
    digits: tuple[int, ...]
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        digits = tuple(int(c) for c in text if c.isdigit())
    significant = 0 if digits == (0,) else len(digits)
    return math.ceil(significant / 2) + 1


def _binary_size(value: bytes | bytearray | str) -> int:
    return len(base64.b64decode(value)) if isinstance(value, str) else len(value)


def _text_size(text: str) -> int:
    """UTF-8 bytes of a string (without encoding a copy of it when it is ASCII: a chunk item holds 30 KB)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def value_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (without its name)."""
    [(kind, body)] = value.items()
    if kind == "S":
        return _text_size(body)
    if kind == "N":
        return _number_size(body)
    if kind == "B":
        return _binary_size(body)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_text_size(s) for s in body)
    if kind == "NS":
        return sum(_number_size(n) for n in body)
    if kind == "BS":
        return sum(_binary_size(b) for b in body)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in body)
    if kind == "M":
        return 3 + sum(_text_size(k) + value_size(v) + 1 for k, v in body.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(item: Attributes | None) -> int:
    """The item's size as DynamoDB bills and limits it (400 KB): names plus values, in bytes."""
    return sum(_text_size(name) + value_size(value) for name, value in (item or {}).items())


def write_units(size: int, transactional: bool = False) -> int:
    """Write request units for one item write of `size` bytes (at least one)."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES)) * (2 if transactional else 1)


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    """Read request units for reading `size` bytes in one request (at least one 4 KB block)."""
    blocks = max(1, math.ceil(size / READ_UNIT_BYTES))
    return blocks * (2.0 if transactional else 1.0 if consistent else 0.5)


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    include: tuple[str, ...] = ()

    def project(self, item: Attributes | None, table_keys: Iterable[str]) -> Attributes | None:
        """The index's copy of the item, or None when the item lacks an index key (not in the index)."""
        if item is None or any(k not in item for k in self.keys):
            return None
        if self.projection == "ALL":
            return item
        wanted = {*table_keys, *self.keys, *(self.include if self.projection == "INCLUDE" else ())}
        return {k: v for k, v in item.items() if k in wanted}


@dataclass
class TableShape:
    """What the meter needs to know of a table: its key attributes and global secondary indexes."""

    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()


class ItemSource:
    """Where the meter reads the stored items and the table's shape from (the table behind the client)."""

    def shape(self, table: str) -> TableShape:
        raise NotImplementedError

    def item(self, table: str, key: Attributes) -> Attributes | None:
        raise NotImplementedError


class MotoItems(ItemSource):
    """moto's in-memory DynamoDB backend, read directly (local runtime only: no billable call of its own)."""

    def __init__(self, region: str) -> None:
        self._region = region
        self._tables: dict[str, Any] = {}

    def _table(self, name: str) -> Any:
        table = self._tables.get(name)
        if table is None:
            from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - local runtime only

            for _account, regions in list(dynamodb_backends.items()):
                backend = regions[self._region]
                if name in backend.tables:
                    table = self._tables[name] = backend.tables[name]
                    break
            else:
                raise KeyError(f"no table {name!r} in moto's {self._region} backend")
        return table

    def shape(self, table: str) -> TableShape:
        t = self._table(table)
        keys = tuple(k for k in (t.hash_key_attr, t.range_key_attr) if k)
        indexes = tuple(
            Index(
                i.name,
                tuple(i.schema_key_attrs),
                (i.projection or {}).get("ProjectionType", "ALL"),
                tuple((i.projection or {}).get("NonKeyAttributes", ())),
            )
            for i in t.global_indexes
        )
        return TableShape(keys, indexes)

    def item(self, table: str, key: Attributes) -> Attributes | None:
        from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415 - local runtime only

        t = self._table(table)
        range_key = DynamoType(key[t.range_key_attr]) if t.range_key_attr else None
        stored = t.get_item(DynamoType(key[t.hash_key_attr]), range_key)
        if stored is None:
            return None
        attributes: Attributes = stored.to_json()["Attributes"]
        return attributes


@dataclass
class _Write:
    table: str
    key: Attributes
    before: Attributes | None
    transactional: bool
    condition_only: bool = False
    written: Attributes | None = None  # what a Put stores, if it succeeds (read back otherwise)


@dataclass
class CapacityMeter:
    """Write and read request units an on-demand table would bill for the calls it sees, by operation."""

    source: ItemSource
    write_units: int = 0
    read_units: float = 0.0
    index_write_units: int = 0  # included in write_units: propagation to global secondary indexes
    calls: Counter[str] = field(default_factory=Counter)
    largest_item_bytes: int = 0
    counting: Callable[[], bool] = lambda: True  # e.g. only inside handlers: the runtime's own reads are not billed
    _shapes: dict[str, TableShape] = field(default_factory=dict)

    def attach(self, client: Any) -> None:
        """Watch every DynamoDB call of this client."""
        client.meta.events.register("provide-client-params.dynamodb.*", self._request)
        client.meta.events.register("after-call.dynamodb.*", self._response)

    # --- the calls ------------------------------------------------------------------------------------

    def _shape(self, table: str) -> TableShape:
        if table not in self._shapes:
            self._shapes[table] = self.source.shape(table)
        return self._shapes[table]

    def _key(self, table: str, item: Attributes) -> Attributes:
        return {k: item[k] for k in self._shape(table).keys}

    def _pending(
        self, table: str, key: Attributes, transactional: bool, check: bool = False, written: Attributes | None = None
    ) -> _Write:
        return _Write(table, key, self.source.item(table, key), transactional, check, written)

    def _request(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        """Before a write: remember each touched item as it was (the bill needs the larger of before and after)."""
        if not self.counting():
            return
        name = model.name
        writes: list[_Write] = []
        if name == "PutItem":
            table = params["TableName"]
            writes.append(self._pending(table, self._key(table, params["Item"]), False, written=params["Item"]))
        elif name in ("UpdateItem", "DeleteItem"):
            writes.append(self._pending(params["TableName"], params["Key"], False))
        elif name == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        key = self._key(table, request["PutRequest"]["Item"])
                    else:
                        key = request["DeleteRequest"]["Key"]
                    writes.append(self._pending(table, key, False))
        elif name == "TransactWriteItems":
            for entry in params["TransactItems"]:
                [(kind, op)] = entry.items()
                key = self._key(op["TableName"], op["Item"]) if kind == "Put" else op["Key"]
                written = op["Item"] if kind == "Put" else None
                writes.append(self._pending(op["TableName"], key, True, kind == "ConditionCheck", written))
        if writes:
            context["drwave_meter_writes"] = writes
        context["drwave_meter_params"] = params

    def _response(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if "drwave_meter_params" not in context:
            return  # not counted (see `counting`)
        name = model.name
        self.calls[name] += 1
        refused = "Error" in parsed  # a refused write (or cancelled transaction) changed nothing
        for write in context.pop("drwave_meter_writes", []):
            self._bill_write(write, refused)
        params = context.pop("drwave_meter_params", {})
        if name == "GetItem":
            whole = not (params.get("ProjectionExpression") or params.get("AttributesToGet"))
            returned = parsed.get("Item") if whole and not refused else None  # the stored item itself
            self._bill_read_items(
                params["TableName"], [params["Key"]], params.get("ConsistentRead", False), False, returned
            )
        elif name == "BatchGetItem":
            unprocessed = parsed.get("UnprocessedKeys", {})
            for table, request in params["RequestItems"].items():
                retry = {self._key_id(table, k) for k in unprocessed.get(table, {}).get("Keys", [])}
                keys = [k for k in request["Keys"] if self._key_id(table, k) not in retry]
                self._bill_read_items(table, keys, request.get("ConsistentRead", False), False)
        elif name == "TransactGetItems":
            for entry in params["TransactItems"]:
                get = entry["Get"]
                self._bill_read_items(get["TableName"], [get["Key"]], True, True)
        elif name in ("Query", "Scan"):
            self._bill_query(params, parsed)

    def _key_id(self, table: str, item: Attributes) -> tuple[str, ...]:
        return tuple(repr(item[k]) for k in self._shape(table).keys)

    # --- billing --------------------------------------------------------------------------------------

    def _bill_write(self, write: _Write, refused: bool = False) -> None:
        if write.condition_only or refused:
            after = write.before
        else:
            after = write.written if write.written is not None else self.source.item(write.table, write.key)
        after_size = item_size(after)
        size = max(item_size(write.before), after_size)
        self.largest_item_bytes = max(self.largest_item_bytes, after_size)
        self.write_units += write_units(size, write.transactional)
        if write.condition_only:
            return
        shape = self._shape(write.table)
        for index in shape.indexes:
            old, new = index.project(write.before, shape.keys), index.project(after, shape.keys)
            if old == new:
                continue  # nothing the index holds changed: no index write
            if old is not None and new is not None and any(old[k] != new[k] for k in index.keys):
                units = write_units(item_size(old)) + write_units(item_size(new))  # moved: a delete and a put
            else:
                units = write_units(item_size(new if new is not None else old))
            self.index_write_units += units
            self.write_units += units

    def _bill_read_items(
        self,
        table: str,
        keys: list[Attributes],
        consistent: bool,
        transactional: bool,
        returned: Attributes | None = None,
    ) -> None:
        """Item-by-item reads (GetItem, BatchGetItem, TransactGetItems): each rounded up to 4 KB on its own.

        `returned` is the one item a GetItem answered with, whole: its size is the stored item's.
        """
        for key in keys:
            stored = returned if returned is not None else self.source.item(table, key)
            self.read_units += read_units(item_size(stored), consistent, transactional)

    def _bill_query(self, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        """The sum of the returned items' sizes (as stored, whatever the projection), rounded up to 4 KB once.

        Items a FilterExpression discards are billed by DynamoDB too but never reach the client: not counted.
        """
        table = params["TableName"]
        consistent = params.get("ConsistentRead", False)
        shape = self._shape(table)
        index = next((i for i in shape.indexes if i.name == params.get("IndexName")), None)
        total = 0
        for returned in parsed.get("Items", []):
            has_key = all(k in returned for k in shape.keys)
            stored = (self.source.item(table, self._key(table, returned)) if has_key else None) or returned
            total += item_size(index.project(stored, shape.keys) if index else stored)
        self.read_units += read_units(total, consistent)


def meter_for(client: Any, source: ItemSource | None = None) -> CapacityMeter:
    """A meter attached to a client whose table lives in moto (unless another item source is given)."""
    meter = CapacityMeter(source or MotoItems(client.meta.region_name))
    meter.attach(client)
    return meter
