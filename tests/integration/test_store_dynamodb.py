"""DynamoStore against moto DynamoDB, on a table created from the SAM template's own properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drwave.adapters.store import (
    ACTIVE_INDEX,
    KIND_INDEX,
    ConcurrentUpdate,
    DynamoStore,
    InvalidPageToken,
    StoreError,
)
from drwave.core.capacity import reserve
from drwave.models.capacity import CapacityLedger
from drwave.models.execution import Execution, ExecutionStatus, ExecutionType, WaveState, WaveStatus
from drwave.models.plan import ProtectionGroup, RecoveryPlan, Wave

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
REGION = "us-east-1"


def group() -> ProtectionGroup:
    return ProtectionGroup(id="pg-app", name="App", source_server_ids=["s-00000000000000001"])


def plan() -> RecoveryPlan:
    return RecoveryPlan(id="plan-it", name="Plan", waves=[Wave(id="app", protection_group_ids=["pg-app"])])


def execution(execution_id: str = "exe-0001", status: ExecutionStatus = ExecutionStatus.PENDING) -> Execution:
    return Execution(
        execution_id=execution_id,
        plan=plan(),
        protection_groups={"pg-app": group()},
        execution_type=ExecutionType.DRILL,
        status=status,
        account_id=ACCOUNT,
        region=REGION,
        started_by="it",
        created_at=T0,
        waves={"app": WaveState(wave_id="app")},
    )


def raw_item(dynamodb: Any, table: str, pk: str, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = dynamodb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    return item


# --- the table itself ---------------------------------------------------------------------------------------


def test_table_from_the_template_has_the_sparse_active_index_and_the_listing_index(dynamodb):
    # GIVEN the table created from the template's properties
    # WHEN it is described
    table = dynamodb.describe_table(TableName="drwave-it-state")["Table"]
    # THEN its key is pk/sk and it has the keys-only active index the store queries
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [("pk", "HASH"), ("sk", "RANGE")]
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {ACTIVE_INDEX, KIND_INDEX}
    active, listing = indexes[ACTIVE_INDEX], indexes[KIND_INDEX]
    assert [(k["AttributeName"], k["KeyType"]) for k in active["KeySchema"]] == [
        ("activeShard", "HASH"),
        ("pk", "RANGE"),
    ]
    assert active["Projection"]["ProjectionType"] == "KEYS_ONLY"
    # AND the listing index projects only the summary attributes (the header's frequent writes stay small there)
    assert [(k["AttributeName"], k["KeyType"]) for k in listing["KeySchema"]] == [
        ("kind", "HASH"),
        ("listKey", "RANGE"),
    ]
    assert listing["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["status", "planId", "executionType"],
    }
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


# --- definitions --------------------------------------------------------------------------------------------


def test_plans_and_groups_round_trip_and_unknown_ones_are_none(store):
    # GIVEN a stored plan and group
    store.put_plan(plan())
    store.put_group(group())
    # WHEN they are read back THEN they equal what was stored; unknown ids read as None
    assert store.get_plan("plan-it") == plan()
    assert store.get_group("pg-app") == group()
    assert store.get_plan("nope") is None
    assert store.get_group("nope") is None


def test_putting_a_plan_again_replaces_it(store):
    # GIVEN a stored plan WHEN a plan with the same id is put THEN the new one is read back
    store.put_plan(plan())
    renamed = plan().model_copy(update={"name": "Renamed"})
    store.put_plan(renamed)
    stored = store.get_plan("plan-it")
    assert stored is not None
    assert stored.name == "Renamed"


# --- executions ---------------------------------------------------------------------------------------------


def test_created_execution_loads_back_equal_with_version_zero(store):
    # GIVEN a new execution WHEN it is created and loaded
    assert store.create_execution(execution()) is True
    loaded = store.load_execution("exe-0001")
    # THEN it is the same execution at version 0
    assert loaded == execution()
    assert loaded is not None
    assert loaded.version == 0


def test_creating_an_existing_execution_is_refused_without_overwriting_it(store):
    # GIVEN an execution that has been created and then saved once
    first = execution()
    store.create_execution(first)
    first.started_by = "first"
    store.save_execution(first)
    # WHEN a duplicate request creates it again
    created = store.create_execution(execution())
    # THEN creation reports the duplicate and the saved state is untouched
    assert created is False
    loaded = store.load_execution("exe-0001")
    assert loaded is not None
    assert (loaded.started_by, loaded.version) == ("first", 1)


def test_unknown_execution_loads_as_none(store):
    # GIVEN an empty table WHEN an unknown execution is loaded THEN None
    assert store.load_execution("exe-missing") is None


def test_save_bumps_the_version_in_the_item_and_the_model(dynamodb, store):
    # GIVEN a created execution
    store.create_execution(execution())
    loaded = store.load_execution("exe-0001")
    assert loaded is not None
    # WHEN it is saved twice
    loaded.status = ExecutionStatus.RUNNING
    store.save_execution(loaded)
    store.save_execution(loaded)
    # THEN the model and the stored item are at version 2, with its queryable attributes
    assert loaded.version == 2
    item = raw_item(dynamodb, "drwave-it-state", "EXEC#exe-0001", "STATE")
    assert item is not None
    assert item["version"] == {"N": "2"}
    assert item["status"] == {"S": "RUNNING"}
    assert item["planId"] == {"S": "plan-it"}
    assert item["executionType"] == {"S": "DRILL"}
    assert "version" not in item["doc"]["S"]


def test_saving_a_stale_copy_raises_concurrent_update_and_keeps_the_winner(store):
    # GIVEN two handlers that loaded the same version
    store.create_execution(execution())
    winner = store.load_execution("exe-0001")
    loser = store.load_execution("exe-0001")
    assert winner is not None
    assert loser is not None
    # WHEN the first saves and then the second saves
    winner.started_by = "winner"
    store.save_execution(winner)
    loser.started_by = "loser"
    # THEN the second gets ConcurrentUpdate, keeps its version, and the first one's write stands
    with pytest.raises(ConcurrentUpdate):
        store.save_execution(loser)
    assert loser.version == 0
    stored = store.load_execution("exe-0001")
    assert stored is not None
    assert (stored.started_by, stored.version) == ("winner", 1)


def test_saving_an_execution_that_was_never_created_is_a_concurrent_update(store):
    # GIVEN no execution WHEN one is saved without being created THEN ConcurrentUpdate, nothing written
    with pytest.raises(ConcurrentUpdate):
        store.save_execution(execution())
    assert store.load_execution("exe-0001") is None


# --- execution + ledger transaction -------------------------------------------------------------------------


def test_save_with_ledger_writes_both_and_bumps_both_versions(store):
    # GIVEN a created execution and an empty ledger
    store.create_execution(execution())
    loaded = store.load_execution("exe-0001")
    assert loaded is not None
    ledger = store.load_ledger(ACCOUNT, REGION)
    held = reserve(ledger, "exe-0001#app#0", "exe-0001", "app", ["s-00000000000000001"], T0)
    # WHEN they are saved together
    store.save_execution(loaded, held)
    # THEN both were written and both versions moved on
    assert (loaded.version, held.version) == (1, 1)
    stored = store.load_ledger(ACCOUNT, REGION)
    assert list(stored.reservations) == ["exe-0001#app#0"]
    assert stored.version == 1
    assert store.load_execution("exe-0001").version == 1  # type: ignore[union-attr]


def test_stale_ledger_cancels_the_transaction_so_the_execution_is_not_saved_either(store):
    # GIVEN a ledger another execution saved after we loaded it
    store.create_execution(execution())
    mine = store.load_execution("exe-0001")
    assert mine is not None
    stale = store.load_ledger(ACCOUNT, REGION)
    other = store.load_ledger(ACCOUNT, REGION)
    store.save_ledger(reserve(other, "exe-other#w#0", "exe-other", "w", ["s-00000000000000009"], T0))
    # WHEN our execution is saved with the stale ledger
    mine.started_by = "should not stick"
    with pytest.raises(ConcurrentUpdate):
        store.save_execution(mine, reserve(stale, "exe-0001#app#0", "exe-0001", "app", ["s-00000000000000001"], T0))
    # THEN neither the execution nor our reservation was written
    stored = store.load_execution("exe-0001")
    assert stored is not None
    assert (stored.started_by, stored.version) == ("it", 0)
    assert list(store.load_ledger(ACCOUNT, REGION).reservations) == ["exe-other#w#0"]


def test_stale_execution_cancels_the_transaction_so_the_ledger_is_not_saved_either(store):
    # GIVEN an execution someone else saved after we loaded it
    store.create_execution(execution())
    stale = store.load_execution("exe-0001")
    fresh = store.load_execution("exe-0001")
    assert stale is not None
    assert fresh is not None
    store.save_execution(fresh)
    ledger = store.load_ledger(ACCOUNT, REGION)
    # WHEN we save our stale execution with a reservation
    with pytest.raises(ConcurrentUpdate):
        store.save_execution(stale, reserve(ledger, "exe-0001#app#0", "exe-0001", "app", ["s-00000000000000001"], T0))
    # THEN the ledger stayed unwritten and our in-memory versions did not move
    assert store.load_ledger(ACCOUNT, REGION).reservations == {}
    assert (stale.version, ledger.version) == (0, 0)


# --- capacity ledger alone ----------------------------------------------------------------------------------


def test_never_written_ledger_is_empty_at_version_zero(store):
    # GIVEN nothing WHEN a ledger is loaded THEN it is empty, for that account and region, at version 0
    ledger = store.load_ledger(ACCOUNT, REGION)
    assert ledger == CapacityLedger(account_id=ACCOUNT, region=REGION)
    assert ledger.version == 0


def test_ledgers_are_kept_per_account_and_region(store):
    # GIVEN a reservation in one region WHEN another region's ledger is loaded THEN it is empty
    ledger = store.load_ledger(ACCOUNT, REGION)
    store.save_ledger(reserve(ledger, "k", "exe", "w", ["s-00000000000000001"], T0))
    assert store.load_ledger(ACCOUNT, "eu-west-1").reservations == {}
    assert list(store.load_ledger(ACCOUNT, REGION).reservations) == ["k"]


def test_two_writers_of_a_new_ledger_cannot_both_win(store):
    # GIVEN two handlers that both saw no ledger
    first = store.load_ledger(ACCOUNT, REGION)
    second = store.load_ledger(ACCOUNT, REGION)
    # WHEN both save their reservation
    store.save_ledger(reserve(first, "a", "exe-a", "w", ["s-00000000000000001"], T0))
    # THEN the second is refused: its version-0 condition no longer holds
    with pytest.raises(ConcurrentUpdate):
        store.save_ledger(reserve(second, "b", "exe-b", "w", ["s-00000000000000002"], T0))
    assert list(store.load_ledger(ACCOUNT, REGION).reservations) == ["a"]


# --- the active index ---------------------------------------------------------------------------------------


def test_active_index_lists_running_executions_and_drops_them_once_terminal(store):
    # GIVEN three executions, all active
    for execution_id in ("exe-a", "exe-b", "exe-c"):
        store.create_execution(execution(execution_id))
    assert sorted(store.active_execution_ids()) == ["exe-a", "exe-b", "exe-c"]
    # WHEN one finishes and is saved
    done = store.load_execution("exe-b")
    assert done is not None
    done.status = ExecutionStatus.COMPLETED
    store.save_execution(done)
    # THEN it leaves the sparse index while the others stay
    assert sorted(store.active_execution_ids()) == ["exe-a", "exe-c"]


def test_active_index_ignores_definitions_ledgers_and_owners(store):
    # GIVEN plans, groups, a ledger and an owner record but no execution
    store.put_plan(plan())
    store.put_group(group())
    store.save_ledger(store.load_ledger(ACCOUNT, REGION))
    store.put_owner("JOB", "drsjob-00000000000000001", {"executionId": "exe-a", "waveId": "app"})
    # WHEN the active executions are listed THEN there are none
    assert store.active_execution_ids() == []


def test_terminal_execution_created_directly_is_never_active(store):
    # GIVEN an execution created already terminal WHEN active ids are listed THEN it is absent
    store.create_execution(execution("exe-done", ExecutionStatus.CANCELLED))
    assert store.active_execution_ids() == []
    stored = store.load_execution("exe-done")
    assert stored is not None
    assert stored.waves["app"].status is WaveStatus.PENDING


# --- owner index --------------------------------------------------------------------------------------------


def test_owners_of_jobs_and_actions_are_kept_apart_by_kind(store):
    # GIVEN a job and an action run with the same resource id owned by different executions
    store.put_owner("JOB", "same-id", {"executionId": "exe-job", "waveId": "app"})
    store.put_owner("ACTION", "same-id", {"executionId": "exe-action", "waveId": "app", "phase": "pre"})
    # WHEN each is looked up THEN each kind answers its own owner; unknown ids are not ours
    assert store.get_owner("JOB", "same-id") == {"executionId": "exe-job", "waveId": "app"}
    assert store.get_owner("ACTION", "same-id") == {"executionId": "exe-action", "waveId": "app", "phase": "pre"}
    assert store.get_owner("JOB", "drsjob-unknown") is None


# --- errors that are not lost races -------------------------------------------------------------------------


def test_a_missing_table_is_a_store_error_not_a_lost_race(aws):
    # GIVEN a store pointed at a table that does not exist
    missing = DynamoStore(aws.client("dynamodb"), "no-such-table")
    # WHEN it is written or read THEN StoreError names DynamoDB's reason
    with pytest.raises(StoreError, match="ResourceNotFoundException"):
        missing.create_execution(execution())
    with pytest.raises(StoreError, match="ResourceNotFoundException"):
        missing.save_execution(execution())
    with pytest.raises(StoreError, match="ResourceNotFoundException"):
        missing.load_execution("exe-0001")
    with pytest.raises(StoreError, match="ResourceNotFoundException"):
        missing.put_plan(plan())


# --- listings (kind-index) ---------------------------------------------------------------------------------


def test_groups_and_plans_list_by_id_and_deleting_one_removes_it_from_the_list(store):
    # GIVEN three groups and two plans stored out of order
    for gid in ("pg-c", "pg-a", "pg-b"):
        store.put_group(group().model_copy(update={"id": gid}))
    for pid in ("plan-b", "plan-a"):
        store.put_plan(plan().model_copy(update={"id": pid}))
    # WHEN they are listed  THEN each kind lists by id, without the other kind or any execution
    store.create_execution(execution("exe-listed"))
    assert [g.id for g in store.list_groups()] == ["pg-a", "pg-b", "pg-c"]
    assert [p.id for p in store.list_plans()] == ["plan-a", "plan-b"]
    # AND a delete says whether something was there, and the listing follows
    assert store.delete_group("pg-b") is True
    assert store.delete_group("pg-b") is False
    assert [g.id for g in store.list_groups()] == ["pg-a", "pg-c"]


def test_executions_list_newest_first_a_page_at_a_time_until_the_token_runs_out(store):
    # GIVEN five executions created a minute apart
    for n in range(5):
        created = execution(f"exe-{n}").model_copy(update={"created_at": T0 + timedelta(minutes=n)})
        store.create_execution(created)
    # WHEN they are listed two at a time, following nextToken
    pages, token = [], None
    while True:
        rows, token = store.list_executions(limit=2, next_token=token)
        pages.append([r.execution_id for r in rows])
        if token is None:
            break
    # THEN every execution appears once, newest first, in pages of at most two
    assert [e for page in pages for e in page] == ["exe-4", "exe-3", "exe-2", "exe-1", "exe-0"]
    assert all(len(page) <= 2 for page in pages)


def test_execution_listing_filters_by_status_plan_and_type(store):
    # GIVEN a running and a finished execution
    store.create_execution(execution("exe-run", ExecutionStatus.RUNNING))
    store.create_execution(execution("exe-done", ExecutionStatus.COMPLETED))
    # WHEN filtered  THEN only the matching ones come back, with their summary
    (row,), token = store.list_executions(status="COMPLETED")
    assert (row.execution_id, row.status, row.plan_id, row.execution_type, token) == (
        "exe-done",
        "COMPLETED",
        plan().id,
        "DRILL",
        None,
    )
    assert store.list_executions(plan_id="no-such-plan") == ([], None)
    assert {r.execution_id for r in store.list_executions(execution_type="DRILL")[0]} == {"exe-run", "exe-done"}


@pytest.mark.parametrize("token", ["not base64 at all!", "e30=", "eyJwayI6IDF9"])
def test_a_page_token_this_store_did_not_issue_is_refused(store, token):
    # GIVEN a forged or garbled token  WHEN used  THEN the store refuses it before querying
    with pytest.raises(InvalidPageToken, match="nextToken"):
        store.list_executions(next_token=token)


def test_an_execution_summary_is_read_from_its_header_alone(store):
    # GIVEN a created execution  WHEN its summary is read  THEN it carries what the header knows, None if unknown
    store.create_execution(execution("exe-sum", ExecutionStatus.RUNNING))
    summary = store.execution_summary("exe-sum")
    assert summary is not None
    assert (summary.plan_id, summary.execution_type, summary.status, summary.started_by) == (
        plan().id,
        "DRILL",
        "RUNNING",
        "it",
    )
    assert summary.created_at == "2026-01-05T09:00:00.000Z"
    assert store.execution_summary("exe-none") is None
