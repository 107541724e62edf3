"""Counts DynamoDB capacity units from request and response sizes (moto reports none)."""

from __future__ import annotations

import json
import math
from typing import Any


def _size(item: dict[str, Any]) -> int:
    """Approximate DynamoDB item size: attribute names plus their values, in bytes."""
    return sum(len(name) + len(json.dumps(value)) for name, value in item.items())


# Key attributes of the table's global secondary indexes (active-index, kind-index): a written item carrying one
# is also written to that index, one unit for its small projection. (An item leaving an index is not counted.)
INDEX_KEYS = ("activeShard", "kind")


def _index_writes(item: dict[str, Any]) -> int:
    return sum(1 for key in INDEX_KEYS if key in item)


class CapacityMeter:
    """Write and read request units an on-demand table would bill for the calls it sees."""

    def __init__(self) -> None:
        self.write_units = 0
        self.read_units = 0
        self.calls = 0

    def attach(self, client: Any) -> None:
        """Watch every DynamoDB call of this client."""
        client.meta.events.register("provide-client-params.dynamodb.*", self._request)
        client.meta.events.register("after-call.dynamodb.*", self._response)

    def _request(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls += 1
        if model.name == "PutItem":
            self.write_units += math.ceil(_size(params["Item"]) / 1024) + _index_writes(params["Item"])
        elif model.name == "TransactWriteItems":
            # Transactions bill two units per kilobyte of each item; index propagation is billed once.
            puts = [t["Put"]["Item"] for t in params["TransactItems"]]
            self.write_units += sum(2 * math.ceil(_size(i) / 1024) + _index_writes(i) for i in puts)

    def _response(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "GetItem" and "Item" in parsed:
            self.read_units += math.ceil(_size(parsed["Item"]) / 4096)
        elif model.name == "Query":
            total = sum(_size(i) for i in parsed.get("Items", []))
            self.read_units += max(1, math.ceil(total / 4096))
