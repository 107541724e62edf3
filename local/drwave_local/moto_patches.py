"""Where moto is too slow for whole-plan rehearsals, a faster equivalent (local runtime only).

moto's TransactWriteItems backs up a table by deep-copying it, stream records included, once per
item in the transaction: a rehearsal of a 1,000-server plan spent most of its time there. A shallow
snapshot gives the same rollback, because put and delete replace stored items rather than mutate them.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.table import Table


def _snapshot(table: Table) -> Table:
    """A rollback copy of a table: its own item containers and stream list, sharing the item objects."""
    clone = copy.copy(table)
    items: Any = defaultdict(dict)
    for key, value in table.items.items():
        items[key] = dict(value) if isinstance(value, dict) else value
    clone.items = items
    if table.stream_shard is not None:
        shard = copy.copy(table.stream_shard)
        shard.items = list(table.stream_shard.items)
        clone.stream_shard = shard
    return clone


def _deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    return _snapshot(value) if isinstance(value, Table) else copy.deepcopy(value, memo)


def fast_transactions() -> Callable[[], None]:
    """Install the shallow table backup in moto's DynamoDB backend; returns the undo."""
    original = dynamodb_models.copy
    dynamodb_models.copy = SimpleNamespace(deepcopy=_deepcopy, copy=copy.copy)  # type: ignore[assignment]

    def undo() -> None:
        dynamodb_models.copy = original

    return undo
