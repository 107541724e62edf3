"""Event router: delivers bus events to the functions whose template rules match, with AWS's
delivery semantics (at least once, asynchronous) and optional faults."""

from __future__ import annotations

import importlib
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from moto.events.models import EventPattern

from drwave.models.base import iso_z
from drwave_local.runtime.clock import VirtualClock
from drwave_local.runtime.template import DRWAVE_BUS, Route, Template

Handler = Callable[..., Any]
# Lambda retries a failed asynchronous invocation twice, about a minute and then two minutes later.
ASYNC_RETRY_DELAYS = (60.0, 120.0)


@dataclass
class Faults:
    """Delivery faults to inject; probabilities per delivery, drawn from a seeded RNG."""

    duplicate: float = 0.0
    drop: float = 0.0
    max_delay_seconds: float = 0.0  # extra random delay per delivery: reorders events in flight
    crash_after_save: float = 0.0  # the handler saves its state, then dies before publishing
    publish_failure: float = 0.0  # PutEvents reports a failed entry
    seed: int = 0
    # Operator commands are acknowledged to the operator only once accepted (the API answers after
    # PutEvents succeeded, and a DLQ keeps undeliverable events): losing one is not a delivery fault
    # the engine could repair, so they are never dropped here.
    never_drop: frozenset[str] = frozenset(
        {
            "Execution Requested",
            "Wave Gate Approved",
            "Execution Cancel Requested",
            "Execution Pause Requested",
            "Execution Resume Requested",
        }
    )

    def describe(self) -> str:
        """Human-readable summary of the active faults."""
        active = {k: v for k, v in vars(self).items() if k not in ("seed", "never_drop") and v}
        return ", ".join(f"{k}={v}" for k, v in active.items()) or "none"


@dataclass
class DeliveryStats:
    """What the router did, for reports and benchmarks."""

    published: Counter[str] = field(default_factory=Counter)
    invocations: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    duplicated: int = 0
    dead_lettered: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class EventMatcher:
    """moto's EventBridge pattern matcher, told quickly what cannot match.

    An event whose source or detail-type is not among the exact strings the pattern lists is refused at once, and
    the rest is matched on the parts the pattern names: moto's matcher flattens the whole event, item images and all,
    and a pattern only ever looks at the keys it names. A pattern made only of exact strings and prefixes (the
    template's stream filter, most rules) is judged directly. Same answers as moto's on the whole event.
    """

    def __init__(self, pattern: dict[str, Any]) -> None:
        self.pattern = pattern
        self._moto = EventPattern.load(json.dumps(pattern))
        self._exact = _exact_values(pattern)
        self._simple = _simple(pattern)

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether the pattern matches the event."""
        if self._simple is not None:
            return _simple_match(self._simple, event)
        for key, values in self._exact.items():
            value = event.get(key)
            if value is None or (isinstance(value, str) and value not in values):
                return False  # a list (or anything else) is left to moto's rules
        return bool(self._moto.matches_event(pruned(event, self.pattern)))  # type: ignore[arg-type]


# A simple pattern: each named field holds either a nested simple pattern or its leaf's (exact strings, prefixes).
_Simple = dict[str, "tuple[frozenset[str], tuple[str, ...]] | _Simple"]


def _simple(pattern: dict[str, Any]) -> _Simple | None:
    """The pattern compiled for direct matching, or None when it uses anything but exact strings and prefixes."""
    compiled: _Simple = {}
    for key, rule in pattern.items():
        if key.startswith("$"):
            return None
        if isinstance(rule, dict):
            nested = _simple(rule)
            if nested is None or not nested:
                return None
            compiled[key] = nested
            continue
        if not isinstance(rule, list) or not rule:
            return None
        exact = [v for v in rule if isinstance(v, str)]
        prefixes = [v["prefix"] for v in rule if isinstance(v, dict) and list(v) == ["prefix"]]
        if len(exact) + len(prefixes) != len(rule) or not all(isinstance(p, str) for p in prefixes):
            return None
        compiled[key] = (frozenset(exact), tuple(prefixes))
    return compiled


def _leaf_match(leaf: tuple[frozenset[str], tuple[str, ...]], value: Any) -> bool:
    """A string among the leaf's, or starting with one of its prefixes; a list matches if one of its strings does."""
    exact, prefixes = leaf
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and (v in exact or any(v.startswith(p) for p in prefixes)) for v in values)


def _simple_match(pattern: _Simple, event: dict[str, Any]) -> bool:
    for key, rule in pattern.items():
        if key not in event:
            return False
        value = event[key]
        if isinstance(rule, dict):
            if not isinstance(value, dict) or not _simple_match(rule, value):
                return False
        elif not _leaf_match(rule, value):
            return False
    return True


def _exact_values(pattern: dict[str, Any]) -> dict[str, frozenset[str]]:
    """The top-level fields a pattern matches by exact strings only (source, detail-type)."""
    if any(key.startswith("$") for key in pattern):
        return {}
    return {
        key: frozenset(values)
        for key in ("source", "detail-type")
        if isinstance(values := pattern.get(key), list) and values and all(isinstance(v, str) for v in values)
    }


def pruned(event: dict[str, Any], pattern: dict[str, Any]) -> dict[str, Any]:
    """The parts of an event a pattern names (the whole event under "$or" and the like)."""
    if any(key.startswith("$") for key in pattern):
        return event
    kept: dict[str, Any] = {}
    for key, rule in pattern.items():
        if key in event:
            value = event[key]
            kept[key] = pruned(value, rule) if isinstance(rule, dict) and isinstance(value, dict) else value
    return kept


class EventRouter:
    """Matches events against the template's rules and invokes handlers on the virtual clock."""

    def __init__(
        self,
        clock: VirtualClock,
        template: Template,
        invoke: Callable[[Route, dict[str, Any]], None],
        *,
        account_id: str,
        region: str,
        hop_latency: float = 0.25,
        faults: Faults | None = None,
    ) -> None:
        self._clock = clock
        self._invoke = invoke
        self._account = account_id
        self._region = region
        self.hop_latency = hop_latency
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self._routes = [(r, EventMatcher(r.pattern)) for r in template.routes]
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        self.stats = DeliveryStats()

    def envelope(self, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]) -> dict[str, Any]:
        """An EventBridge event as a target receives it."""
        return {
            "version": "0",
            "id": str(uuid.UUID(int=self._rng.getrandbits(128))),
            "detail-type": detail_type,
            "source": source,
            "account": self._account,
            "time": iso_z(self._clock.now()).replace(".000Z", "Z"),
            "region": self._region,
            "resources": resources,
            "detail": detail,
        }

    def put(self, bus: str, event: dict[str, Any]) -> None:
        """Accept one event on a bus and schedule its deliveries."""
        self.stats.published[event["detail-type"]] += 1
        for observer in self.observers:
            observer(bus, event)
        for route, matcher in self._routes:
            if route.bus == bus and matcher.matches(event):
                self._schedule(route, event, attempt=0)

    def put_entries(self, entries: list[dict[str, Any]]) -> list[bool]:
        """PutEvents entries from the publisher; False marks an entry the bus 'rejected' (fault)."""
        accepted = []
        for entry in entries:
            if self.faults.publish_failure and self._rng.random() < self.faults.publish_failure:
                accepted.append(False)
                continue
            bus = DRWAVE_BUS if entry.get("EventBusName", "default") != "default" else "default"
            detail = json.loads(entry.get("Detail") or "{}")
            self.put(bus, self.envelope(entry["Source"], entry["DetailType"], detail, entry.get("Resources", [])))
            accepted.append(True)
        return accepted

    def _schedule(self, route: Route, event: dict[str, Any], attempt: int) -> None:
        faults = self.faults
        if attempt == 0 and event["detail-type"] not in faults.never_drop and self._chance(faults.drop):
            self.stats.dropped += 1
            return
        copies = 2 if attempt == 0 and self._chance(faults.duplicate) else 1
        self.stats.duplicated += copies - 1
        for _ in range(copies):
            delay = self.hop_latency + (
                self._rng.uniform(0, faults.max_delay_seconds) if faults.max_delay_seconds else 0
            )
            self._clock.call_later(delay, partial(self._deliver, route, event, attempt), label=route.function)

    def _deliver(self, route: Route, event: dict[str, Any], attempt: int) -> None:
        self.stats.invocations[route.function] += 1
        try:
            self._invoke(route, event)
        except Exception as err:
            self.stats.failures[route.function] += 1
            self.stats.errors.append(f"{route.function} ({event['detail-type']}): {err!r}")
            if attempt < len(ASYNC_RETRY_DELAYS):
                retry = partial(self._deliver, route, event, attempt + 1)
                self._clock.call_later(ASYNC_RETRY_DELAYS[attempt], retry, label=route.function)
            else:
                self.stats.dead_lettered.append({"function": route.function, "event": event, "error": repr(err)})

    def _chance(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability


def load_handler(path: str) -> Handler:
    """Import `package.module.function` as named by a template's Handler property."""
    module_name, _, attr = path.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attr)
    return handler
