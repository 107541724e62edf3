"""The execution's item layout: a launch result writes a few small items, and a store catches up from others' saves."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from drwave.adapters.store import ConcurrentUpdate, DynamoStore
from drwave.core import messages as m
from drwave.core.decide import decide
from drwave.models.execution import Execution, ExecutionType, LaunchStatus, WaveState
from drwave.models.plan import ProtectionGroup, RecoveryPlan, Wave

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SERVERS = [f"s-{n:017d}" for n in range(250)]  # three DRS jobs: 100 + 100 + 50


def new_execution(execution_id: str, servers: list[str]) -> Execution:
    """A drill of one wave over these servers, not started."""
    group = ProtectionGroup(id="pg", name="All", source_server_ids=servers)
    plan = RecoveryPlan(id=f"plan-{execution_id}", name="Wide", waves=[Wave(id="all", protection_group_ids=["pg"])])
    return Execution(
        execution_id=execution_id,
        plan=plan,
        protection_groups={"pg": group},
        execution_type=ExecutionType.DRILL,
        account_id="111122223333",
        region="us-east-1",
        created_at=T0,
        waves={"all": WaveState(wave_id="all")},
    )


def launching() -> Execution:
    """A drill whose one wave has its 250 servers resolved into three chunks, the first one started."""
    execution = new_execution("exe-wide", SERVERS)
    for message in (
        m.Start(),
        m.ServersResolved("all", SERVERS),
        m.ChunkStarting("all", 0, "t"),
        m.ChunkStarted("all", 0, "drsjob-1"),
    ):
        execution = decide(execution, message, T0).execution
    return execution


class Calls:
    """The DynamoDB calls a client makes, by operation, with their parameters."""

    def __init__(self, client: Any) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params.dynamodb.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.seen.append((model.name, params))

    def clear(self) -> None:
        self.seen.clear()

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]

    def written_sks(self) -> list[str]:
        return sorted(
            t["Put"]["Item"]["sk"]["S"]
            for name, params in self.seen
            if name == "TransactWriteItems"
            for t in params["TransactItems"]
        )


TABLE = "drwave-it-state"  # the conftest's table


@pytest.fixture
def saved(store) -> tuple[DynamoStore, Execution]:
    execution = launching()
    assert store.create_execution(execution)
    return store, execution


def test_a_launch_result_writes_the_header_its_wave_one_server_item_and_the_decision_record(dynamodb, saved):
    # GIVEN a 250-server wave whose first job runs, loaded once
    store, _ = saved
    calls = Calls(dynamodb)
    loaded = store.load_execution("exe-wide")
    assert loaded is not None
    calls.clear()
    # WHEN one launch result is decided and saved
    decision = decide(loaded, m.ServerResult("drsjob-1", SERVERS[7], LaunchStatus.LAUNCHED), T0)
    store.save_execution(decision.execution, events=decision.events, now=T0)
    # THEN one transaction wrote four small items, whatever the wave's size
    assert calls.names() == ["TransactWriteItems"]
    assert calls.written_sks() == ["0000000001", f"SERVER#all#{SERVERS[7]}", "STATE", "WAVE#all"]
    # AND loading it again reads only the header
    calls.clear()
    again = store.load_execution("exe-wide")
    assert calls.names() == ["GetItem"]
    assert again is not None and again.waves["all"].servers[SERVERS[7]].launch_status is LaunchStatus.LAUNCHED


def test_a_wave_s_stored_counts_follow_each_result_as_a_count_of_all_its_servers(dynamodb, saved, monkeypatch):
    # GIVEN a 250-server wave whose first job runs, without the suites' checks (they would recount every save)
    monkeypatch.setenv("DRWAVE_STORE_CHECKS", "0")
    store, _ = saved
    store = DynamoStore(dynamodb, TABLE)
    # WHEN results arrive one at a time, a later one changing a server's earlier one, each loaded and saved
    results = [(SERVERS[n], LaunchStatus.LAUNCHED) for n in range(0, 60, 3)]
    results += [(SERVERS[n], LaunchStatus.FAILED) for n in (1, 4, 7)] + [(SERVERS[2], LaunchStatus.IN_PROGRESS)]
    results += [(SERVERS[2], LaunchStatus.FAILED), (SERVERS[0], LaunchStatus.LAUNCHED)]  # and a duplicate
    # (and, made by hand as no message does today, a final server changed: the store must not assume it never is)
    results += [(SERVERS[0], LaunchStatus.FAILED), (SERVERS[1], LaunchStatus.TERMINATED)]
    for n, (server_id, status) in enumerate(results):
        loaded = store.load_execution("exe-wide")
        assert loaded is not None
        if n < len(results) - 2:
            execution = decide(loaded, m.ServerResult("drsjob-1", server_id, status), T0).execution
        else:
            wave = loaded.waves["all"]
            servers = dict(wave.servers)
            servers[server_id] = servers[server_id].model_copy(update={"launch_status": status})
            execution = loaded.model_copy(update={"waves": {"all": wave.model_copy(update={"servers": servers})}})
        store.save_execution(execution, now=T0)
        # THEN the counts written on the wave item equal counting every server of the execution just saved
        wave = execution.waves["all"]
        item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "EXEC#exe-wide"}, "sk": {"S": "WAVE#all"}})
        statuses = [s.launch_status for s in wave.servers.values()]
        expected = [
            statuses.count(LaunchStatus.LAUNCHED),
            statuses.count(LaunchStatus.FAILED),
            sum(s.final for s in statuses),
            len(statuses),
        ]
        assert json.loads(item["Item"]["counts"]["S"]) == expected
    assert expected[:2] == [19, 4]  # s0 failed after it launched, s1 terminated, s2 failed after it was in progress


def test_another_store_catches_up_from_the_decision_records_without_reading_the_whole_execution(dynamodb, saved):
    # GIVEN two stores (two Lambda containers) that both loaded the execution
    mine, _ = saved
    theirs = DynamoStore(dynamodb, TABLE)
    first = theirs.load_execution("exe-wide")
    assert first is not None and mine.load_execution("exe-wide") is not None
    # WHEN the other one saves two launch results
    for sid in SERVERS[:2]:
        current = theirs.load_execution("exe-wide")
        assert current is not None
        decision = decide(current, m.ServerResult("drsjob-1", sid, LaunchStatus.LAUNCHED), T0)
        theirs.save_execution(decision.execution, now=T0)
    calls = Calls(dynamodb)
    caught_up = mine.load_execution("exe-wide")
    # THEN this store read the header, the decision records since its version and the two server items only
    assert calls.names() == ["GetItem", "Query", "BatchGetItem"]
    batch = calls.seen[2][1]["RequestItems"]
    assert sorted(k["sk"]["S"] for t in batch.values() for k in t["Keys"]) == [
        f"SERVER#all#{SERVERS[0]}",
        f"SERVER#all#{SERVERS[1]}",
        "WAVE#all",
    ]
    # AND what it loaded equals a fresh store's full read
    fresh = DynamoStore(dynamodb, TABLE).load_execution("exe-wide")
    assert caught_up == fresh
    assert caught_up is not None and caught_up.version == 2


def test_a_stale_copy_is_refused_without_writing_anything(dynamodb, saved):
    # GIVEN a copy loaded before this store saved a newer version
    store, _ = saved
    stale = store.load_execution("exe-wide")
    assert stale is not None
    decision = decide(stale, m.ServerResult("drsjob-1", SERVERS[0], LaunchStatus.LAUNCHED), T0)
    store.save_execution(decision.execution, now=T0)
    calls = Calls(dynamodb)
    # WHEN the stale copy is saved THEN ConcurrentUpdate, and no request was even sent
    late = decide(stale, m.ServerResult("drsjob-1", SERVERS[1], LaunchStatus.LAUNCHED), T0)
    with pytest.raises(ConcurrentUpdate):
        store.save_execution(late.execution, now=T0)
    assert calls.names() == []


def test_a_change_made_in_place_instead_of_copied_is_caught_by_the_checks(saved, monkeypatch):
    # GIVEN the suites' checks (DRWAVE_STORE_CHECKS=1) and a loaded execution changed in place, not copied on write
    monkeypatch.setenv("DRWAVE_STORE_CHECKS", "1")
    store, _ = saved
    loaded = store.load_execution("exe-wide")
    assert loaded is not None
    loaded.waves["all"].servers[SERVERS[3]].error = "changed behind the store's back"
    # WHEN it is saved THEN the store refuses: it would have skipped that server as unchanged
    with pytest.raises(AssertionError, match="changed in place"):
        store.save_execution(loaded, now=T0)


def test_a_3000_server_wave_is_stored_in_items_far_below_the_400_kb_limit(dynamodb, store):
    # GIVEN a wave as wide as DRS allows, its 3,000 servers resolved into 30 jobs and every job started
    wide = [f"s-{n:017d}" for n in range(3000)]
    execution = new_execution("exe-3000", wide)
    store.create_execution(execution)
    messages: list[m.Message] = [m.Start(), m.ServersResolved("all", wide)]
    messages += [
        msg for i in range(30) for msg in (m.ChunkStarting("all", i, f"t{i}"), m.ChunkStarted("all", i, f"j{i}"))
    ]
    for message in messages:
        loaded = store.load_execution("exe-3000")
        assert loaded is not None
        decision = decide(loaded, message, T0)
        store.save_execution(decision.execution, events=decision.events, now=T0)
    # WHEN its items are read
    items = store.execution_items("exe-3000", "")
    # THEN there are 30 chunk items and none of the state items reaches a tenth of DynamoDB's 400 KB
    assert sum(i["sk"]["S"].startswith("CHUNK#") for i in items) == 30
    sizes = {i["sk"]["S"]: len(json.dumps(i)) for i in items if i["sk"]["S"] != "SNAPSHOT"}
    assert max(sizes.values()) < 40_000, max(sizes.items(), key=lambda kv: kv[1])
    # AND it loads back whole and equal from a fresh store
    fresh = DynamoStore(dynamodb, TABLE).load_execution("exe-3000")
    assert fresh is not None and fresh == store.load_execution("exe-3000")
    assert len(fresh.waves["all"].servers) == 3000
