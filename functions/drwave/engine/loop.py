"""The load -> decide -> save -> publish loop that handlers and the control plane share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from drwave.adapters.publisher import PublishError
from drwave.adapters.store import ConcurrentUpdate, StoreError
from drwave.core import messages as m
from drwave.core.capacity import chunk_key, release
from drwave.core.decide import Decision, decide, freed_chunks
from drwave.engine.log import logger
from drwave.engine.ports import Dependencies
from drwave.models.events import EventDetail, WaveStartRequested
from drwave.models.execution import Execution

MAX_ATTEMPTS = 8
# A decision's own handler publishes its events right after the save; the tick re-sends only what stayed pending
# longer than this (a crash or a refused PutEvents), so it does not race a handler that is about to publish.
OUTBOX_GRACE = timedelta(seconds=20)


def apply(
    deps: Dependencies, execution_id: str, messages: Sequence[m.Message], loaded: Execution | None = None
) -> Decision | None:
    """Decide on the latest state, save it with its events (optimistic locking, retrying lost races), then publish.

    `loaded` spares the first read when the caller has just loaded the execution itself.
    """
    for _ in range(MAX_ATTEMPTS):
        execution, loaded = (loaded, None) if loaded is not None else (deps.store.load_execution(execution_id), None)
        if execution is None:
            logger.warning("unknown execution", execution_id=execution_id)
            return None
        decision = Decision(execution)
        for message in messages:
            step = decide(decision.execution, message, deps.now())
            if step.changed:
                decision = Decision(step.execution, decision.events + step.events, True)
        if not decision.changed:
            return decision
        freed = freed_chunks(execution, decision.execution)
        ledger = None
        if freed:
            ledger = deps.store.load_ledger(execution.account_id, execution.region)
            ledger = release(ledger, [chunk_key(execution_id, w, i) for w, i in freed])
            # Capacity came back: nudge the waves that were waiting for it, in any execution. A nudged
            # wave that still does not fit registers again, so the list never holds stale entries.
            decision.events.extend(
                WaveStartRequested(execution_id=w.execution_id, wave_id=w.wave_id) for w in ledger.waiters.values()
            )
            ledger.waiters.clear()
        version = decision.execution.version + 1
        stamp_event_ids(decision.events, execution_id, version)
        try:
            deps.store.save_execution(decision.execution, ledger, decision.events, deps.now())
        except ConcurrentUpdate:
            continue
        if decision.events:
            publish_saved(deps, execution_id, version, decision.events)
        return decision
    raise ConcurrentUpdate(execution_id)


def stamp_event_ids(events: Sequence[EventDetail], execution_id: str, version: int) -> None:
    """Give each event of a decision a stable id: the same on every re-publication, so subscribers can drop repeats."""
    for index, event in enumerate(events):
        event.event_id = f"{execution_id}/{version}/{index}"


def publish_saved(deps: Dependencies, execution_id: str, version: int, events: Sequence[EventDetail]) -> bool:
    """Publish a saved decision's events and clear its outbox record; a refusal leaves them for the tick to drain."""
    try:
        deps.publisher.publish(events)
    except PublishError as err:
        logger.warning("publish refused; the tick re-sends from the outbox", execution_id=execution_id, error=str(err))
        return False
    try:
        deps.store.mark_published(execution_id, version)
    except StoreError as err:  # published, but still pending: the tick sends it again under the same event ids
        logger.warning("outbox not cleared", execution_id=execution_id, error=str(err))
    return True


def drain_outbox(deps: Dependencies, grace: timedelta = OUTBOX_GRACE) -> int:
    """Publish every saved decision whose events are still pending after `grace` (lost by a crash or a refusal)."""
    cutoff = deps.now() - grace
    sent = 0
    for execution_id, version in deps.store.pending_outbox():
        batch = deps.store.load_outbox(execution_id, version)
        if batch is None or datetime.fromisoformat(batch.created_at) > cutoff:
            continue
        try:
            deps.publisher.publish_entries(batch.entries)
        except PublishError as err:
            logger.warning("outbox drain refused", execution_id=execution_id, version=version, error=str(err))
            continue
        deps.store.mark_published(execution_id, version)
        sent += len(batch.entries)
    return sent
