"""Transactional outbox: a decision's events are saved with its state and always published, under stable ids;
the audit trail lives outside the items the engine reads; one broken execution does not stop the tick."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drwave.adapters.store import ConcurrentUpdate, StoreError
from drwave.engine.loop import OUTBOX_GRACE
from drwave.models.events import WaveStartRequested
from drwave.models.execution import Execution, ExecutionStatus, ExecutionType, TimelineEntry, WaveState, WaveStatus
from drwave.models.plan import ProtectionGroup, RecoveryPlan, Wave

GATE = {"pauseBeforeWave": {"timeoutMinutes": 30, "message": "smoke test"}}
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def execution_factory() -> Callable[[], Execution]:
    def build() -> Execution:
        group = ProtectionGroup(id="pg-app", name="App", source_server_ids=["s-00000000000000001"])
        plan = RecoveryPlan(id="plan-it", name="Plan", waves=[Wave(id="app", protection_group_ids=["pg-app"])])
        return Execution(
            execution_id="exe-0001",
            plan=plan,
            protection_groups={"pg-app": group},
            execution_type=ExecutionType.DRILL,
            account_id="111122223333",
            region="us-east-1",
            created_at=T0,
            waves={"app": WaveState(wave_id="app")},
        )

    return build


def db_completed(h: Any) -> dict[str, Any]:
    h.request("exe-0001")
    h.run_wave("exe-0001", "db")
    (event,) = h.bus.raw("Wave Completed")
    return dict(event)


def refuse_puts(monkeypatch: pytest.MonkeyPatch, h: Any) -> None:
    monkeypatch.setattr(h.rt.router.faults, "publish_failure", 1.0)


def test_a_refused_publish_after_the_save_is_sent_by_the_tick_under_the_same_event_id(
    harness, two_waves, sid, monkeypatch
):
    # GIVEN db completed and app has a gate
    h = harness(two_waves([sid(1)], [sid(2)], **GATE))
    completed = db_completed(h)
    h.bus.clear()
    # WHEN the planner opens the gate while EventBridge refuses every entry
    with monkeypatch.context() as refused:
        refuse_puts(refused, h)
        h.invoke("advance_plan", completed)
    # THEN the gate is saved, its notice is not on the bus, and it waits in the outbox
    assert h.execution("exe-0001").waves["app"].status is WaveStatus.WAITING_APPROVAL
    assert h.bus.of("Wave Gate Waiting") == []
    (pending,) = h.rt.deps.store.pending_outbox()
    saved = h.rt.deps.store.load_outbox(*pending)
    assert saved is not None
    assert [e["detailType"] for e in saved.entries] == ["Wave Gate Waiting"]
    # WHEN the tick runs after the grace period, PutEvents working again
    h.advance((OUTBOX_GRACE + timedelta(seconds=1)).total_seconds())
    h.tick()
    # THEN the notice is published once, with the id it was saved under, and nothing is pending
    (waiting,) = h.bus.of("Wave Gate Waiting")
    assert waiting["waveId"] == "app"
    assert h.bus.event_ids("Wave Gate Waiting") == [f"exe-0001/{pending[1]}/0"]
    assert h.rt.deps.store.pending_outbox() == []
    # AND a later tick sends nothing again
    h.tick()
    assert len(h.bus.of("Wave Gate Waiting")) == 1


def test_a_handler_that_dies_after_its_save_loses_no_event(harness, two_waves, sid, monkeypatch):
    # GIVEN db completed, and the planner's Lambda will die right after saving
    h = harness(two_waves([sid(1)], [sid(2)]))
    completed = db_completed(h)
    h.bus.clear()

    def die(_: Any) -> None:
        raise RuntimeError("Lambda timed out after the save")

    with monkeypatch.context() as dying:
        dying.setattr(h.rt.deps.publisher, "publish", die)
        with pytest.raises(RuntimeError):
            h.invoke("advance_plan", completed)
    # WHEN Lambda retries the event: the state already moved on, so the retry decides nothing new
    h.invoke("advance_plan", completed)
    assert h.bus.of("Wave Start Requested") == []
    # THEN the tick publishes the lost "Wave Start Requested", and app launches from it
    h.advance(OUTBOX_GRACE.total_seconds() + 1)
    h.tick()
    assert h.bus.of("Wave Start Requested") == [{"schemaVersion": "1", "executionId": "exe-0001", "waveId": "app"}]
    h.deliver_new("Wave Start Requested", "start_wave")
    assert h.execution("exe-0001").waves["app"].chunks[0].job_id


def test_the_tick_leaves_a_fresh_outbox_to_the_handler_publishing_it(harness, two_waves, sid, monkeypatch):
    # GIVEN a decision saved a moment ago whose publish failed
    h = harness(two_waves([sid(1)], [sid(2)], **GATE))
    completed = db_completed(h)
    h.bus.clear()
    with monkeypatch.context() as refused:
        refuse_puts(refused, h)
        h.invoke("advance_plan", completed)
    # WHEN the tick runs inside the grace period THEN it does not re-send yet
    assert h.tick()["eventsResent"] == 0
    assert h.bus.of("Wave Gate Waiting") == []
    assert len(h.rt.deps.store.pending_outbox()) == 1


def test_a_drain_refused_again_stays_pending_for_the_next_tick(harness, two_waves, sid, monkeypatch):
    # GIVEN an event left in the outbox
    h = harness(two_waves([sid(1)], [sid(2)], **GATE))
    completed = db_completed(h)
    h.bus.clear()
    with monkeypatch.context() as refused:
        refuse_puts(refused, h)
        h.invoke("advance_plan", completed)
        h.advance(OUTBOX_GRACE.total_seconds() + 1)
        # WHEN the tick's own PutEvents is refused too
        h.tick()
    # THEN it is still pending, and the next tick sends it
    assert len(h.rt.deps.store.pending_outbox()) == 1
    assert h.tick()["eventsResent"] == 1
    assert len(h.bus.of("Wave Gate Waiting")) == 1


def test_every_event_of_a_saved_decision_carries_a_distinct_stable_id(harness, two_waves, sid):
    # GIVEN an execution run through its first wave
    h = harness(two_waves([sid(1)], [sid(2)]))
    db_completed(h)
    # THEN every event that came from a saved decision has an id naming the execution and the saved version
    ids = [e["detail"].get("eventId") for e in h.bus.events if e["source"] == "drwave"]
    decided = [i for i in ids if i is not None]
    assert decided
    assert len(set(decided)) == len(decided)
    assert all(i.startswith("exe-0001/") for i in decided)


def test_a_lost_race_writes_neither_timeline_nor_outbox(store, execution_factory):
    # GIVEN a stored execution that another writer saved since we loaded it
    exe = execution_factory()
    store.create_execution(exe)
    ours = store.load_execution("exe-0001")
    theirs = store.load_execution("exe-0001")
    assert ours is not None and theirs is not None
    theirs.timeline.append(TimelineEntry(at=theirs.created_at, event="THEIRS"))
    store.save_execution(theirs, events=[], now=theirs.created_at)
    # WHEN our stale save carries a timeline entry and an event
    ours.timeline.append(TimelineEntry(at=ours.created_at, event="OURS"))
    event = WaveStartRequested(execution_id="exe-0001", wave_id="app")
    with pytest.raises(ConcurrentUpdate):
        store.save_execution(ours, events=[event], now=ours.created_at)
    # THEN nothing of it was written
    assert [e.event for e in store.load_timeline("exe-0001")] == ["THEIRS"]
    assert store.pending_outbox() == []


def test_the_timeline_lives_outside_the_header_and_reads_back_in_order(store, execution_factory):
    # GIVEN an execution saved 50 times, each save adding an audit entry
    exe = execution_factory()
    store.create_execution(exe)
    for n in range(50):
        exe.timeline.append(TimelineEntry(at=exe.created_at, event="STEP", detail=f"step {n} " + "x" * 200))
        store.save_execution(exe, now=exe.created_at)
    # THEN the header item the engine reads holds no timeline, and stays small
    header = store.execution_item("exe-0001", "STATE")
    assert header is not None
    assert "timeline" not in header["doc"]["S"]
    assert len(header["doc"]["S"]) < 2_000
    # AND the engine's load skips the trail, while the audit read returns it whole and in order
    engine_view = store.load_execution("exe-0001")
    audit_view = store.load_execution("exe-0001", timeline=True)
    assert engine_view is not None and audit_view is not None
    assert engine_view.timeline == []
    assert [e.detail.split()[1] for e in audit_view.timeline] == [str(n) for n in range(50)]


def test_one_execution_that_cannot_be_loaded_does_not_stop_the_tick_for_the_others(harness, one_wave, sid, monkeypatch):
    # GIVEN two active executions, one of which the store can no longer read
    h = harness(one_wave([sid(1)], pauseBeforeWave={"timeoutMinutes": 5}), servers=1)
    h.request("exe-0001")
    h.request("exe-0002")
    real_load = h.rt.deps.store.load_execution

    def load(execution_id: str, **kwargs: Any) -> Any:
        if execution_id == "exe-0001":
            raise StoreError("ValidationException: Item size has exceeded the maximum allowed size")
        return real_load(execution_id, **kwargs)

    # WHEN the tick runs after the other's gate timed out
    h.advance(6 * 60)
    with monkeypatch.context() as broken:
        broken.setattr(h.rt.deps.store, "load_execution", load)
        counts = h.tick()
    # THEN the readable execution still got its timeout, and the broken one is counted, not fatal
    assert counts["executionsFailed"] == 1
    assert h.execution("exe-0002").status is ExecutionStatus.FAILED
    assert h.execution("exe-0001").status is not ExecutionStatus.FAILED
