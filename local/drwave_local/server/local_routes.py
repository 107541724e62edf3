"""Local-only routes of `drwave serve`: set a CloudWatch alarm's state, and read the bus's events as they pass.

`POST /_local/alarms/<name>` `{"state": "ALARM"}` changes the alarm in the embedded CloudWatch and puts AWS's own
"CloudWatch Alarm State Change" on the default bus (the trigger function evaluates it on the clock).
`GET /_local/events?after=N&detailType=A&detailType=B` returns the events put on drwave's bus after sequence N
(`drwave events tail` polls it). Neither exists on AWS: there, CloudWatch and EventBridge do this themselves.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from drwave_local.runtime.embedded import LocalRuntime

ALARMS_PREFIX = "/_local/alarms/"
EVENTS_PATH = "/_local/events"
KEEP_EVENTS = 5000
DECISIONS = ("Drill Skipped", "Drill Overdue", "Failover Triggered", "Failover Suppressed")
Response = tuple[int, dict[str, str], bytes]


def _json(status: int, body: Any) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode("utf-8")


class LocalRoutes:
    """The event log of drwave's bus and the alarm switch, for one runtime."""

    def __init__(self, runtime: LocalRuntime, out: Callable[[str], None] = print) -> None:
        self.runtime = runtime
        self.out = out
        self.events: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=KEEP_EVENTS)
        self._sequence = 0
        runtime.router.observers.append(self._record)

    def _record(self, bus: str, event: dict[str, Any]) -> None:
        self._sequence += 1
        self.events.append((self._sequence, bus, event))
        if event["detail-type"] in DECISIONS:  # the console shows every trigger decision, with its reason
            d = event["detail"]
            why = d.get("reason") or d.get("mode") or ""
            self.out(
                f"{event['time']} {event['detail-type']}: {d.get('triggerId') or d.get('scheduleId') or ''} "
                f"{d.get('planId', '')} {why} {d.get('executionId') or ''} {d.get('message', '')}".rstrip()
            )

    def handle(self, method: str, path: str, query: str, body: str | None) -> Response | None:
        """The response to a local-only route, or None for any other path. The caller holds the stack's lock."""
        if path.startswith(ALARMS_PREFIX):
            if method != "POST":
                return _json(405, {"error": "METHOD_NOT_ALLOWED", "message": f"POST {ALARMS_PREFIX}<name>"})
            try:
                state = str(json.loads(body or "{}").get("state", ""))
                event = self.runtime.triggers.set_alarm(path.removeprefix(ALARMS_PREFIX), state.upper())
            except (ValueError, AttributeError) as err:
                return _json(400, {"error": "INVALID_PARAMETER", "message": f"state: {err}"})
            return _json(200, {"alarmArn": event["resources"][0], "state": state.upper(), "time": event["time"]})
        if path == EVENTS_PATH:
            params = parse_qs(query)
            try:
                after = int((params.get("after") or ["0"])[-1])
            except ValueError:
                return _json(400, {"error": "INVALID_PARAMETER", "message": "after: not a whole number"})
            wanted = set(params.get("detailType") or [])
            items = [
                {"sequence": n, "bus": bus, "event": e}
                for n, bus, e in self.events
                if n > after and (not wanted or e["detail-type"] in wanted)
            ]
            return _json(200, {"items": items, "last": self._sequence})
        return None
