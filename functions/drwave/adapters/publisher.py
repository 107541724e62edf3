"""EventBridge publisher for drwave's domain events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drwave.models.events import EVENT_SOURCE, EventDetail, wire_entries

MAX_ENTRIES_PER_CALL = 10  # PutEvents limit


class PublishError(Exception):
    """EventBridge did not accept every entry."""


class EventPublisher:
    """Publishes event details on the drwave bus, 10 entries per PutEvents call."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self._events = client
        self._bus = bus_name

    @classmethod
    def unconfigured(cls) -> EventPublisher:
        """A function given no bus (and no events:PutEvents): publishing fails, leaving events to the outbox."""
        return cls(None, "")

    def publish(self, details: Sequence[EventDetail]) -> None:
        """Publish all details in order; raise PublishError if any entry failed."""
        self.publish_entries(wire_entries(details))

    def publish_entries(self, outbox: Sequence[dict[str, str]]) -> None:
        """Publish stored events (detail-type and detail JSON, as the outbox keeps them) in order."""
        if self._events is None:
            raise PublishError("this function has no event bus (EVENT_BUS_NAME is not set): the outbox keeps them")
        entries = [
            {"Source": EVENT_SOURCE, "DetailType": e["detailType"], "Detail": e["detail"], "EventBusName": self._bus}
            for e in outbox
        ]
        for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            batch = entries[start : start + MAX_ENTRIES_PER_CALL]
            response = self._events.put_events(Entries=batch)
            if response.get("FailedEntryCount", 0):
                codes = {e.get("ErrorCode", "?") for e in response.get("Entries", []) if e.get("ErrorCode")}
                raise PublishError(f"{response['FailedEntryCount']} of {len(batch)} events rejected: {sorted(codes)}")
