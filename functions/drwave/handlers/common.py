"""What every event handler shares: the logger and the EventBridge envelope's detail."""

from __future__ import annotations

from typing import Any


class InvalidEvent(ValueError):
    """The incoming event does not match its contract."""


def detail_of(event: dict[str, Any]) -> dict[str, Any]:
    """The detail of an EventBridge envelope, or InvalidEvent."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidEvent("detail: missing or not an object")
    return detail
