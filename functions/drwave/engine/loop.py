"""The load -> decide -> save -> publish loop that handlers and the control plane share."""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Logger

from drwave.adapters.store import ConcurrentUpdate
from drwave.core import messages as m
from drwave.core.capacity import chunk_key, release
from drwave.core.decide import Decision, decide, freed_chunks
from drwave.engine.ports import Dependencies
from drwave.models.events import WaveStartRequested
from drwave.models.execution import Execution

logger = Logger(service="drwave")
MAX_ATTEMPTS = 8


def apply(
    deps: Dependencies, execution_id: str, messages: Sequence[m.Message], loaded: Execution | None = None
) -> Decision | None:
    """Decide on the latest state, save with optimistic locking (retrying lost races), then publish.

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
        try:
            if freed:
                ledger = deps.store.load_ledger(execution.account_id, execution.region)
                ledger = release(ledger, [chunk_key(execution_id, w, i) for w, i in freed])
                # Capacity came back: nudge the waves that were waiting for it, in any execution. A nudged
                # wave that still does not fit registers again, so the list never holds stale entries.
                waiting = list(ledger.waiters.values())
                ledger.waiters.clear()
                deps.store.save_execution(decision.execution, ledger)
                decision.events.extend(
                    WaveStartRequested(execution_id=w.execution_id, wave_id=w.wave_id) for w in waiting
                )
            else:
                deps.store.save_execution(decision.execution)
        except ConcurrentUpdate:
            continue
        deps.publisher.publish(decision.events)
        return decision
    raise ConcurrentUpdate(execution_id)
