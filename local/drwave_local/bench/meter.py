"""Counts DynamoDB capacity units from request and response sizes (moto reports none)."""

from __future__ import annotations

import json
import math
from typing import Any


def _size(item: dict[str, Any]) -> int:
    """Approximate DynamoDB item size: attribute names plus their values, in bytes."""
    return sum(len(name) + len(json.dumps(value)) for name, value in item.items())


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
            self.write_units += math.ceil(_size(params["Item"]) / 1024)
        elif model.name == "TransactWriteItems":
            # Transactions bill two units per kilobyte of each item.
            self.write_units += sum(2 * math.ceil(_size(t["Put"]["Item"]) / 1024) for t in params["TransactItems"])

    def _response(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "GetItem" and "Item" in parsed:
            self.read_units += math.ceil(_size(parsed["Item"]) / 4096)
        elif model.name == "Query":
            total = sum(_size(i) for i in parsed.get("Items", []))
            self.read_units += max(1, math.ceil(total / 4096))
