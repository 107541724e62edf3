"""DynamoDB store: plans, groups, executions and the capacity ledger, with optimistic locking."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from drwave.core.projection import ViewRow, view_pk
from drwave.models.accounts import TargetAccount
from drwave.models.base import iso_z
from drwave.models.capacity import CapacityLedger
from drwave.models.events import EventDetail, wire_entries
from drwave.models.execution import Chunk, Execution, LaunchStatus, ServerState, TimelineEntry, WaveState
from drwave.models.plan import ProtectionGroup, RecoveryPlan

D = TypeVar("D", bound=BaseModel)

ACTIVE_INDEX = "active-index"
KIND_INDEX = "kind-index"  # lists groups, plans (by id) and executions (by creation time) without a scan
SNAPSHOT_FIELDS = {"plan", "protection_groups"}
HEADER_EXCLUDES = {"version", "waves", "timeline", *SNAPSHOT_FIELDS}  # stored in their own items
ACTIVE_SHARD = "ACTIVE"
# Decision records whose events are not yet known to be published sit under this key of the sparse active-index,
# so the tick finds every pending one with one Query, whatever the state of their execution.
OUTBOX_SHARD = "OUTBOX"
LOG_PREFIX = "LOG#"
TARGETS_PK = "TARGETS"
MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems
CACHED_EXECUTIONS = 64  # executions a store (one per warm Lambda container) remembers
# A decision that changes more servers of one chunk than this (or than a third of a large chunk, at most 24) rewrites
# the chunk item instead of one item each.
SERVER_ITEMS_PER_CHUNK = 4
# A definition's JSON within one DynamoDB item (400 KB for names and values together), with room for the rest.
MAX_DOC_BYTES = 380_000


class InvalidPageToken(ValueError):
    """A nextToken that this store did not issue."""


@dataclass(frozen=True)
class ExecutionSummary:
    """One row of an execution listing."""

    execution_id: str
    plan_id: str
    execution_type: str
    status: str
    created_at: str
    started_by: str = ""  # only when read from the execution itself (the listing index does not project it)


@dataclass(frozen=True)
class OutboxBatch:
    """The events one saved decision still has to publish, as PutEvents entries (detail-type, detail JSON)."""

    execution_id: str
    version: int
    created_at: str
    entries: list[dict[str, str]]


class ConcurrentUpdate(Exception):
    """Another writer saved first: reload, decide again, retry."""


class StoreError(Exception):
    """DynamoDB refused a request for a reason other than a lost race."""


class ItemTooLarge(StoreError):
    """A definition whose JSON does not fit one DynamoDB item."""


class VersionMismatch(Exception):
    """A conditional definition write lost: the id exists (create), or the item is gone or has another version."""


@dataclass(frozen=True)
class Versioned(Generic[D]):
    """A stored definition and its version (1 after the first write; 0 for items written before versions)."""

    value: D
    version: int


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _exec_key(execution_id: str) -> dict[str, Any]:
    return _key(f"EXEC#{execution_id}", "STATE")


def _log_key(execution_id: str, version: int) -> dict[str, Any]:
    return _key(f"{LOG_PREFIX}{execution_id}", f"{version:010d}")


def _ledger_key(account_id: str, region: str) -> dict[str, Any]:
    return _key(f"CAPACITY#{account_id}#{region}", "LEDGER")


def _is_condition_failure(err: ClientError) -> bool:
    code = err.response["Error"]["Code"]
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = err.response.get("CancellationReasons") or []
        return any(r.get("Code") in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons) or not reasons
    return False


class DynamoStore:
    """All persistent state in one table (pk/sk) plus a sparse GSI listing active executions."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name
        # What each execution's wave items held at the version we last read or wrote, to write only changes.
        # What this store last read or wrote of each execution (most recently used last), to load and save changes.
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        # Tests set DRWAVE_STORE_CHECKS=1: every save also proves that what it skipped as unchanged is unchanged.
        self._checks = os.environ.get("DRWAVE_STORE_CHECKS") == "1"

    # --- definitions -------------------------------------------------------------------------------

    # Groups, plans and target accounts carry a version, bumped by every write. `create=True` writes only if the id
    # is new, `expect=N` only if the stored version is N, `must_exist=True` only if it exists; a lost condition
    # raises VersionMismatch. Each put returns the version written.

    def put_plan(
        self, plan: RecoveryPlan, *, create: bool = False, expect: int | None = None, must_exist: bool = False
    ) -> int:
        """Create or replace a recovery plan."""
        key = _key(f"PLAN#{plan.id}", "PLAN")
        return self._put_definition(
            key, plan.to_wire(), "PLAN", plan.id, create=create, expect=expect, must_exist=must_exist
        )

    def get_plan(self, plan_id: str) -> RecoveryPlan | None:
        """A recovery plan, or None."""
        found = self.get_plan_versioned(plan_id)
        return found.value if found else None

    def get_plan_versioned(self, plan_id: str) -> Versioned[RecoveryPlan] | None:
        """A recovery plan and its version, or None."""
        return self._get_definition(_key(f"PLAN#{plan_id}", "PLAN"), RecoveryPlan)

    def put_group(
        self, group: ProtectionGroup, *, create: bool = False, expect: int | None = None, must_exist: bool = False
    ) -> int:
        """Create or replace a protection group."""
        key = _key(f"GROUP#{group.id}", "GROUP")
        return self._put_definition(
            key, group.to_wire(), "GROUP", group.id, create=create, expect=expect, must_exist=must_exist
        )

    def get_group(self, group_id: str) -> ProtectionGroup | None:
        """A protection group, or None."""
        found = self.get_group_versioned(group_id)
        return found.value if found else None

    def get_group_versioned(self, group_id: str) -> Versioned[ProtectionGroup] | None:
        """A protection group and its version, or None."""
        return self._get_definition(_key(f"GROUP#{group_id}", "GROUP"), ProtectionGroup)

    def list_groups(self) -> list[ProtectionGroup]:
        """Every protection group, by id."""
        return [ProtectionGroup.model_validate(d) for d in self._list_docs("GROUP")]

    def list_plans(self) -> list[RecoveryPlan]:
        """Every recovery plan, by id."""
        return [RecoveryPlan.model_validate(d) for d in self._list_docs("PLAN")]

    def delete_group(self, group_id: str, *, expect: int | None = None) -> bool:
        """Delete a protection group (at version `expect`, if given); False if there was none."""
        return self._delete(_key(f"GROUP#{group_id}", "GROUP"), expect)

    def delete_plan(self, plan_id: str, *, expect: int | None = None) -> bool:
        """Delete a recovery plan (at version `expect`, if given); False if there was none."""
        return self._delete(_key(f"PLAN#{plan_id}", "PLAN"), expect)

    def list_executions(
        self,
        *,
        status: str | None = None,
        plan_id: str | None = None,
        execution_type: str | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> tuple[list[ExecutionSummary], str | None]:
        """Executions, newest first, filtered; a page of at most `limit` and the token of the next page."""
        filters = {"status": status, "planId": plan_id, "executionType": execution_type}
        used = {k: v for k, v in filters.items() if v is not None}
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": KIND_INDEX,
            "KeyConditionExpression": "kind = :kind",
            "ExpressionAttributeValues": {":kind": {"S": "EXECUTION"}, **{f":{k}": {"S": v} for k, v in used.items()}},
            "ScanIndexForward": False,
        }
        if used:
            query["FilterExpression"] = " AND ".join(f"#{k} = :{k}" for k in used)
            query["ExpressionAttributeNames"] = {f"#{k}": k for k in used}
        start = _decode_token(next_token) if next_token else None
        rows: list[ExecutionSummary] = []
        while True:
            page_query = {**query, "Limit": limit - len(rows)}
            if start:
                page_query["ExclusiveStartKey"] = start
            try:
                page = self._db.query(**page_query)
            except ClientError as err:
                raise StoreError(str(err)) from err
            rows.extend(_summary(item) for item in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start or len(rows) >= limit:
                return rows, _encode_token(start) if start else None

    # Target accounts share one partition (sk ACCOUNT#<id>): a handful of items that are listed with one Query.

    def put_target_account(
        self, account: TargetAccount, *, create: bool = False, expect: int | None = None, must_exist: bool = False
    ) -> int:
        """Register or replace a target account."""
        key = _key(TARGETS_PK, f"ACCOUNT#{account.account_id}")
        return self._put_definition(key, account.to_wire(), create=create, expect=expect, must_exist=must_exist)

    def get_target_account(self, account_id: str) -> TargetAccount | None:
        """A registered target account, or None."""
        found = self.get_target_account_versioned(account_id)
        return found.value if found else None

    def get_target_account_versioned(self, account_id: str) -> Versioned[TargetAccount] | None:
        """A registered target account and its version, or None."""
        return self._get_definition(_key(TARGETS_PK, f"ACCOUNT#{account_id}"), TargetAccount)

    def list_target_accounts(self) -> list[TargetAccount]:
        """Every registered target account, by account id."""
        return [TargetAccount.model_validate_json(i["doc"]["S"]) for i in self._query(TARGETS_PK, "ACCOUNT#")]

    def delete_target_account(self, account_id: str, *, expect: int | None = None) -> bool:
        """Unregister a target account (at version `expect`, if given); False if it was not registered."""
        return self._delete(_key(TARGETS_PK, f"ACCOUNT#{account_id}"), expect)

    # --- executions ----------------------------------------------------------------------------------

    # Layout (partition EXEC#<id>), so that one launch result writes a few small items whatever the plan's size:
    #   STATE                  the header: status and version (the optimistic lock) and the progress counts
    #   SNAPSHOT               the plan and groups as started: written once, cached (it never changes)
    #   WAVE#<wave>            a wave without its chunks and servers, with its server counts and job ids
    #   CHUNK#<wave>#<index>   one DRS job's worth (<= 100) of servers: the chunk and its servers' states
    #   SERVER#<wave>#<id>     one server's state, written instead of its chunk when only a few servers changed;
    #                          it stands over its chunk's copy while its `v` (the version that wrote it) is newer
    # Every item carries `v`. The audit trail and the outbox live in another partition (LOG#<id>): one decision
    # record per saved version, written in the same transaction as the state, naming the items it changed.
    # A store keeps what it last read or wrote of an execution: loading it again costs one GetItem of the header,
    # plus, when others saved meanwhile, their decision records and the items they name (never the whole plan).

    def create_execution(self, execution: Execution) -> bool:
        """Insert a new execution; False if one with this id already exists (a duplicate request)."""
        base = execution.model_copy(deep=True)
        base.timeline = []
        layout = _Layout.of(base, execution.version)
        writes = layout.writes  # without a base: every wave and chunk item
        items = [
            {
                "Put": {
                    **self._put(self._header_item(execution, execution.version, layout.progress())),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": self._put(_item(execution.execution_id, "SNAPSHOT", _snapshot_json(execution), execution.version))},
            *({"Put": self._put(item)} for item in writes.values()),
        ]
        if execution.timeline:
            items.append({"Put": self._log_put(execution, execution.version, (), iso_z(execution.created_at), [])})
        try:
            self._transact(execution.execution_id, items)
        except ClientError as err:
            if _is_condition_failure(err):
                return False
            raise StoreError(str(err)) from err
        self._remember(base, layout)
        execution.mark_timeline_saved()
        return True

    def load_execution(self, execution_id: str, *, timeline: bool = False) -> Execution | None:
        """The latest saved execution (strongly consistent), or None; its audit trail only when asked for.

        The result shares unchanged parts with what this store holds: change it only through decide(), which copies
        what it changes (or take a deep copy first).
        """
        cached = self._cache.get(execution_id)
        execution: Execution | None = None
        if cached is not None:
            header = self._get_item(_exec_key(execution_id))
            if header is None:
                self._cache.pop(execution_id, None)
                return None
            version = int(header["version"]["N"])
            if version == cached.version:
                execution = cached.execution
            elif version > cached.version:
                execution = self._catch_up(cached, header)
        if execution is None:
            execution = self._load_all(execution_id)
            if execution is None:
                return None
        self._cache.move_to_end(execution_id)
        view = execution.model_copy(update={"waves": dict(execution.waves), "timeline": []})
        if timeline:
            view.timeline = self.load_timeline(execution_id)
        view.mark_timeline_saved()
        return view

    def decision_records(self, execution_id: str) -> list[dict[str, Any]]:
        """Every saved decision of an execution, oldest first: version, timeline entries, events, still pending."""
        return [
            {
                "version": int(item["sk"]["S"]),
                "createdAt": item["createdAt"]["S"],
                "entries": json.loads(item["entries"]["S"]),
                "events": json.loads(item["outbox"]["S"]) if "outbox" in item else [],
                "pending": "activeShard" in item,
                "changed": json.loads(item["changed"]["S"]) if "changed" in item else [],
            }
            for item in self._query(f"{LOG_PREFIX}{execution_id}", "")
        ]

    def load_timeline(self, execution_id: str) -> list[TimelineEntry]:
        """The whole audit trail of an execution, oldest first (one decision record per saved version)."""
        entries: list[TimelineEntry] = []
        for item in self._query(f"{LOG_PREFIX}{execution_id}", ""):
            entries.extend(TimelineEntry.model_validate(e) for e in json.loads(item["entries"]["S"]))
        return entries

    def save_execution(
        self,
        execution: Execution,
        ledger: CapacityLedger | None = None,
        events: Sequence[EventDetail] = (),
        now: datetime | None = None,
    ) -> None:
        """Save if nobody saved since we loaded, atomically with the ledger, the new timeline entries and the events
        to publish (the outbox); bump the versions. Only the items that changed are written."""
        execution_id = execution.execution_id
        new_version = execution.version + 1
        cached = self._cache.get(execution_id)
        if cached is not None and cached.version > execution.version:
            raise ConcurrentUpdate(execution_id)  # we have seen a newer save: the condition below cannot hold
        layout = _Layout.of(execution, new_version, cached if cached and cached.version == execution.version else None)
        writes = layout.writes  # the items that differ from the base
        if self._checks and cached is not None and cached.version == execution.version:
            _check_copy_on_write(cached, layout, writes)
        header = {
            **self._put(self._header_item(execution, new_version, layout.progress())),
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": {":v": {"N": str(execution.version)}},
        }
        items = [{"Put": header}, *({"Put": self._put(item)} for item in writes.values())]
        if ledger is not None:
            items.append({"Put": self._ledger_put(ledger)})
        created = iso_z(now or execution.created_at)
        items.append({"Put": self._log_put(execution, new_version, events, created, sorted(writes))})
        try:
            self._transact(execution_id, items)
        except ClientError as err:
            if _is_condition_failure(err):
                raise ConcurrentUpdate(execution_id) from err
            raise StoreError(str(err)) from err
        execution.version = new_version
        execution.mark_timeline_saved()
        self._remember(execution, layout)
        if ledger is not None:
            ledger.version += 1

    def _transact(self, execution_id: str, items: list[dict[str, Any]]) -> None:
        if len(items) > MAX_TRANSACTION_ITEMS:
            # One decision is one transaction (DynamoDB takes 100 items): a larger one cannot be saved atomically.
            raise StoreError(
                f"execution {execution_id}: one decision changes {len(items)} items; a transaction holds "
                f"{MAX_TRANSACTION_ITEMS} (the plan has too many waves and jobs changing at once)"
            )
        self._db.transact_write_items(TransactItems=items)

    def _remember(self, execution: Execution, layout: _Layout) -> None:
        self._cache[execution.execution_id] = layout.cached(execution)
        self._cache.move_to_end(execution.execution_id)
        while len(self._cache) > CACHED_EXECUTIONS:
            self._cache.popitem(last=False)

    def _load_all(self, execution_id: str) -> Execution | None:
        items = self._query(f"EXEC#{execution_id}", "")
        header = next((i for i in items if i["sk"]["S"] == "STATE"), None)
        snapshot = next((i for i in items if i["sk"]["S"] == "SNAPSHOT"), None)
        if header is None or snapshot is None:
            return None
        version = int(header["version"]["N"])
        doc = {**json.loads(header["doc"]["S"]), **json.loads(snapshot["doc"]["S"]), "waves": {}}
        execution = Execution.model_validate(doc)
        execution.version = version
        waves = {i["sk"]["S"].removeprefix("WAVE#"): i for i in items if i["sk"]["S"].startswith("WAVE#")}
        rest = [i for i in items if i["sk"]["S"].startswith(("CHUNK#", "SERVER#"))]
        order = {w.id: n for n, w in enumerate(execution.plan.waves)}
        execution.waves = {w: _assemble_wave(waves[w], rest) for w in sorted(waves, key=lambda w: order.get(w, 0))}
        execution.timeline = []
        self._remember(execution, _Layout.of(execution, version))
        return execution

    def _catch_up(self, cached: _Cached, header: dict[str, Any]) -> Execution | None:
        """The cached execution brought to the header's version from the decision records since; None: reload."""
        execution_id = cached.execution.execution_id
        try:
            records = [
                item
                for page in self._db.get_paginator("query").paginate(
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk AND sk > :v",
                    ExpressionAttributeValues={
                        ":pk": {"S": f"{LOG_PREFIX}{execution_id}"},
                        ":v": {"S": f"{cached.version:010d}"},
                    },
                    ProjectionExpression="sk, changed",
                    ConsistentRead=True,
                )
                for item in page["Items"]
            ]
        except ClientError as err:
            raise StoreError(str(err)) from err
        version = int(header["version"]["N"])
        seen = {int(r["sk"]["S"]) for r in records}
        gaps = any(v not in seen for v in range(cached.version + 1, version + 1))
        if gaps or any("changed" not in r for r in records):
            return None  # a record is missing (written before records named their items): read it all
        changed = sorted({sk for r in records for sk in json.loads(r["changed"]["S"])})
        fetched = self._batch_get(f"EXEC#{execution_id}", changed)
        old = cached.execution
        doc = {**json.loads(header["doc"]["S"]), "plan": old.plan, "protectionGroups": old.protection_groups}
        execution = Execution.model_validate({**doc, "waves": {}})  # the snapshot's models are taken as they are
        execution.version = version
        execution.waves = dict(old.waves)
        by_wave: dict[str, list[dict[str, Any]]] = {}
        for item in fetched:
            sk = item["sk"]["S"]
            by_wave.setdefault(sk.split("#", 2)[1], []).append(item)
        for wave_id, items in by_wave.items():
            execution.waves[wave_id] = _patch_wave(old.waves.get(wave_id), items)
        execution.timeline = []
        self._remember(execution, _Layout.of(execution, version))
        return execution

    def _batch_get(self, pk: str, sks: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        try:
            for start in range(0, len(sks), 100):  # BatchGetItem takes 100 keys
                keys = [_key(pk, sk) for sk in sks[start : start + 100]]
                request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
                while request:
                    response = self._db.batch_get_item(RequestItems=request)
                    found.extend(response["Responses"].get(self._table, []))
                    request = response.get("UnprocessedKeys") or {}
        except ClientError as err:
            raise StoreError(str(err)) from err
        return found

    # --- outbox: events saved with the decision that caused them ----------------------------------------------

    def pending_outbox(self) -> list[tuple[str, int]]:
        """(execution id, version) of every decision record whose events are not yet known to be published."""
        pending: list[tuple[str, int]] = []
        try:
            for page in self._db.get_paginator("query").paginate(
                TableName=self._table,
                IndexName=ACTIVE_INDEX,
                KeyConditionExpression="activeShard = :o",
                ExpressionAttributeValues={":o": {"S": OUTBOX_SHARD}},
            ):
                pending.extend((i["pk"]["S"].removeprefix(LOG_PREFIX), int(i["sk"]["S"])) for i in page["Items"])
        except ClientError as err:
            raise StoreError(str(err)) from err
        return sorted(pending)

    def load_outbox(self, execution_id: str, version: int) -> OutboxBatch | None:
        """A decision record's pending events, or None when they were published meanwhile."""
        item = self._get_item(_log_key(execution_id, version))
        if item is None or "outbox" not in item or "activeShard" not in item:
            return None
        return OutboxBatch(execution_id, version, item["createdAt"]["S"], json.loads(item["outbox"]["S"]))

    def mark_published(self, execution_id: str, version: int) -> None:
        """The decision's events reached the bus: the record leaves the pending index (its events stay, for audit)."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_log_key(execution_id, version),
                UpdateExpression="REMOVE activeShard",
                ConditionExpression="attribute_exists(pk)",
            )
        except ClientError as err:
            if _is_condition_failure(err):
                return
            raise StoreError(str(err)) from err

    def active_execution_ids(self) -> list[str]:
        """Ids of every execution not yet terminal (sparse index: terminal items leave it)."""
        ids: list[str] = []
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            IndexName=ACTIVE_INDEX,
            KeyConditionExpression="activeShard = :a",
            ExpressionAttributeValues={":a": {"S": ACTIVE_SHARD}},
            ProjectionExpression="pk",
        ):
            ids.extend(item["pk"]["S"].removeprefix("EXEC#") for item in page["Items"])
        return ids

    def execution_summary(self, execution_id: str) -> ExecutionSummary | None:
        """An execution's summary from its header item alone (strongly consistent), or None."""
        item = self._get_item(_exec_key(execution_id))
        if item is None:
            return None
        return ExecutionSummary(
            execution_id=execution_id,
            plan_id=item["planId"]["S"],
            execution_type=item["executionType"]["S"],
            status=item["status"]["S"],
            created_at=item["listKey"]["S"].rsplit("#", 1)[0],
            started_by=str(json.loads(item["doc"]["S"]).get("startedBy", "")),
        )

    def execution_item(self, execution_id: str, sk: str) -> dict[str, Any] | None:
        """One raw item of an execution (sk STATE, SNAPSHOT or WAVE#<id>), strongly consistent, or None."""
        return self._get_item(_key(f"EXEC#{execution_id}", sk))

    def execution_items(self, execution_id: str, sk_prefix: str) -> list[dict[str, Any]]:
        """Raw items of an execution whose sk starts with a prefix (e.g. every WAVE#), strongly consistent."""
        return self._query(f"EXEC#{execution_id}", sk_prefix)

    # --- status read model (VIEW#<executionId>, written by the status projection) ------------------------

    def put_view_rows(self, execution_id: str, rows: list[ViewRow]) -> int:
        """Write read-model rows unless the stored row reflects the same or a newer version; the number written."""
        written = 0
        for row in rows:
            text = json.dumps(row.doc, sort_keys=True)
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item={
                        **_key(view_pk(execution_id), row.sk),
                        "doc": {"S": text},
                        "sourceVersion": {"N": str(row.source_version)},
                    },
                    ConditionExpression="attribute_not_exists(pk) OR sourceVersion < :v",
                    ExpressionAttributeValues={":v": {"N": str(row.source_version)}},
                )
            except ClientError as err:
                if _is_condition_failure(err):
                    continue  # already as new or newer: a replay or an out-of-order record, nothing to do
                raise StoreError(str(err)) from err
            written += 1
        return written

    def load_view(self, execution_id: str) -> dict[str, Any] | None:
        """The read model of an execution, or None if not projected yet.

        {"summary": {...} | None, "waves": {waveId: {...}}, "servers": {waveId: {serverId: {...}}}}; each row
        carries the execution version it reflects as "sourceVersion".
        """
        items = self._query(view_pk(execution_id), "")
        if not items:
            return None
        view: dict[str, Any] = {"summary": None, "waves": {}, "servers": {}}
        for item in items:
            sk = item["sk"]["S"]
            doc = {**json.loads(item["doc"]["S"]), "sourceVersion": int(item["sourceVersion"]["N"])}
            if sk == "SUMMARY":
                view["summary"] = doc
            elif sk.startswith("WAVE#"):
                view["waves"][sk.removeprefix("WAVE#")] = doc
            elif sk.startswith("SERVER#"):
                wave_id, server_id = sk.removeprefix("SERVER#").split("#", 1)
                view["servers"].setdefault(wave_id, {})[server_id] = doc
        return view

    def load_view_row(self, execution_id: str, sk: str) -> dict[str, Any] | None:
        """One read-model row (e.g. SUMMARY) with its "sourceVersion", or None if not projected yet."""
        item = self._get_item(_key(view_pk(execution_id), sk))
        if item is None:
            return None
        return {**json.loads(item["doc"]["S"]), "sourceVersion": int(item["sourceVersion"]["N"])}

    # --- capacity ledger --------------------------------------------------------------------------------

    def load_ledger(self, account_id: str, region: str) -> CapacityLedger:
        """The capacity ledger of an account+region (empty, version 0, if never written)."""
        item = self._get_item(_ledger_key(account_id, region))
        if item is None:
            return CapacityLedger(account_id=account_id, region=region)
        ledger = CapacityLedger.model_validate_json(item["doc"]["S"])
        ledger.version = int(item["version"]["N"])
        return ledger

    def save_ledger(self, ledger: CapacityLedger) -> None:
        """Save the ledger alone, with the same optimistic locking."""
        try:
            self._db.put_item(**self._ledger_put(ledger))
        except ClientError as err:
            if _is_condition_failure(err):
                raise ConcurrentUpdate(f"{ledger.account_id}#{ledger.region}") from err
            raise StoreError(str(err)) from err
        ledger.version += 1

    # --- ownership index ------------------------------------------------------------------------------

    def put_owner(self, kind: str, resource_id: str, owner: dict[str, str]) -> None:
        """Remember which execution owns a DRS job or SSM run, so AWS's own events can be routed back."""
        self._put_doc(f"{kind}#{resource_id}", "OWNER", owner)

    def get_owner(self, kind: str, resource_id: str) -> dict[str, str] | None:
        """Owner of a DRS job or SSM run, or None if it is not ours."""
        return self._get_doc(f"{kind}#{resource_id}", "OWNER")

    # --- helpers ------------------------------------------------------------------------------------------

    def _ledger_put(self, ledger: CapacityLedger) -> dict[str, Any]:
        key = _ledger_key(ledger.account_id, ledger.region)
        doc = ledger.model_dump_json(by_alias=True, exclude={"version"})
        return {
            "TableName": self._table,
            "Item": {**key, "doc": {"S": doc}, "version": {"N": str(ledger.version + 1)}},
            "ConditionExpression": "attribute_not_exists(pk) OR version = :v",
            "ExpressionAttributeValues": {":v": {"N": str(ledger.version)}},
        }

    def _log_put(
        self, execution: Execution, version: int, events: Sequence[EventDetail], created_at: str, changed: list[str]
    ) -> dict[str, Any]:
        entries = [e.to_wire() for e in execution.unsaved_timeline()]
        item = {
            **_log_key(execution.execution_id, version),
            "entries": {"S": json.dumps(entries)},
            "createdAt": {"S": created_at},
            "changed": {"S": json.dumps(changed)},
        }
        if events:
            item["outbox"] = {"S": json.dumps(wire_entries(events))}
            item["activeShard"] = {"S": OUTBOX_SHARD}
        return {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}

    def _put(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"TableName": self._table, "Item": item}

    def _header_item(self, execution: Execution, version: int, progress: dict[str, Any]) -> dict[str, Any]:
        item = {
            **_exec_key(execution.execution_id),
            "doc": {
                "S": execution.model_dump_json(
                    by_alias=True, exclude={"version", "waves", "timeline", *SNAPSHOT_FIELDS}
                )
            },
            "version": {"N": str(version)},
            "status": {"S": str(execution.status)},
            "planId": {"S": execution.plan.id},
            "executionType": {"S": str(execution.execution_type)},
            "kind": {"S": "EXECUTION"},
            "listKey": {"S": f"{iso_z(execution.created_at)}#{execution.execution_id}"},
            "progress": {"S": json.dumps(progress, separators=(",", ":"))},
        }
        if not execution.status.terminal:
            item["activeShard"] = {"S": ACTIVE_SHARD}
        return item

    def _put_doc(self, pk: str, sk: str, doc: dict[str, Any], *, kind: str = "", list_key: str = "") -> None:
        item = {**_key(pk, sk), "doc": {"S": json.dumps(doc)}}
        if kind:
            item |= {"kind": {"S": kind}, "listKey": {"S": list_key}}
        try:
            self._db.put_item(TableName=self._table, Item=item)
        except ClientError as err:
            raise StoreError(str(err)) from err

    def _put_definition(
        self,
        key: dict[str, Any],
        doc: dict[str, Any],
        kind: str = "",
        list_key: str = "",
        *,
        create: bool,
        expect: int | None,
        must_exist: bool,
    ) -> int:
        text = json.dumps(doc)
        if len(text.encode("utf-8")) > MAX_DOC_BYTES:
            raise ItemTooLarge(f"{len(text.encode('utf-8'))} bytes of JSON; one item holds {MAX_DOC_BYTES}")
        names = {"#doc": "doc", "#v": "version"}
        values: dict[str, Any] = {":doc": {"S": text}, ":one": {"N": "1"}}
        sets = ["#doc = :doc"]
        if kind:
            names |= {"#kind": "kind", "#lk": "listKey"}
            values |= {":kind": {"S": kind}, ":lk": {"S": list_key}}
            sets += ["#kind = :kind", "#lk = :lk"]
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": key,
            "UpdateExpression": f"SET {', '.join(sets)} ADD #v :one",
            "ReturnValues": "UPDATED_NEW",
        }
        condition = _version_condition(values, expect)
        if create:
            condition = "attribute_not_exists(pk)"
        elif condition is None and must_exist:
            condition = "attribute_exists(pk)"
        if condition is not None:
            request["ConditionExpression"] = condition
        try:
            response = self._db.update_item(**request, ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as err:
            if _is_condition_failure(err):
                raise VersionMismatch(key["pk"]["S"]) from err
            raise StoreError(str(err)) from err
        return int(response["Attributes"]["version"]["N"])

    def _get_definition(self, key: dict[str, Any], model: type[D]) -> Versioned[D] | None:
        item = self._get_item(key)
        if item is None:
            return None
        value = model.model_validate_json(item["doc"]["S"])
        return Versioned(value, int(item.get("version", {"N": "0"})["N"]))

    def _list_docs(self, kind: str) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = []
        try:
            for page in self._db.get_paginator("query").paginate(
                TableName=self._table,
                IndexName=KIND_INDEX,
                KeyConditionExpression="kind = :kind",
                ExpressionAttributeValues={":kind": {"S": kind}},
            ):
                keys.extend({"pk": i["pk"], "sk": i["sk"]} for i in page["Items"])
            docs: dict[str, dict[str, Any]] = {}
            for start in range(0, len(keys), 100):  # BatchGetItem takes 100 keys
                request = {self._table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
                while request:
                    response = self._db.batch_get_item(RequestItems=request)
                    for item in response["Responses"].get(self._table, []):
                        docs[item["pk"]["S"]] = json.loads(item["doc"]["S"])
                    request = response.get("UnprocessedKeys") or {}
        except ClientError as err:
            raise StoreError(str(err)) from err
        return [docs[k["pk"]["S"]] for k in keys if k["pk"]["S"] in docs]  # the index's (id) order

    def _delete(self, key: dict[str, Any], expect: int | None = None) -> bool:
        request: dict[str, Any] = {"TableName": self._table, "Key": key, "ReturnValues": "ALL_OLD"}
        values: dict[str, Any] = {}
        condition = _version_condition(values, expect)
        if condition is not None:
            request |= {"ConditionExpression": condition, "ExpressionAttributeNames": {"#v": "version"}}
            if values:
                request["ExpressionAttributeValues"] = values
        try:
            response = self._db.delete_item(**request)
        except ClientError as err:
            if _is_condition_failure(err):
                raise VersionMismatch(key["pk"]["S"]) from err
            raise StoreError(str(err)) from err
        return bool(response.get("Attributes"))

    def _get_doc(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._get_item(_key(pk, sk))
        return json.loads(item["doc"]["S"]) if item else None

    def _query(self, pk: str, sk_prefix: str) -> list[dict[str, Any]]:
        condition, values = "pk = :pk", {":pk": {"S": pk}}
        if sk_prefix:
            condition += " AND begins_with(sk, :sk)"
            values[":sk"] = {"S": sk_prefix}
        items: list[dict[str, Any]] = []
        try:
            for page in self._db.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ConsistentRead=True,
            ):
                items.extend(page["Items"])
        except ClientError as err:
            raise StoreError(str(err)) from err
        return items

    def _get_item(self, key: dict[str, Any]) -> dict[str, Any] | None:
        try:
            response = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        except ClientError as err:
            raise StoreError(str(err)) from err
        item: dict[str, Any] | None = response.get("Item")
        return item


def _version_condition(values: dict[str, Any], expect: int | None) -> str | None:
    """The condition "stored version is `expect`" (version 0: an item written before versions existed)."""
    if expect is None:
        return None
    if expect == 0:
        return "attribute_exists(pk) AND attribute_not_exists(#v)"
    values[":expect"] = {"N": str(expect)}
    return "#v = :expect"


def _summary(item: dict[str, Any]) -> ExecutionSummary:
    return ExecutionSummary(
        execution_id=item["pk"]["S"].removeprefix("EXEC#"),
        plan_id=item["planId"]["S"],
        execution_type=item["executionType"]["S"],
        status=item["status"]["S"],
        created_at=item["listKey"]["S"].rsplit("#", 1)[0],
    )


def _encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def _decode_token(token: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):  # a crafted token may nest deeply
        raise InvalidPageToken("nextToken: not a token this API issued") from None
    expected = {"pk", "sk", "kind", "listKey"}
    if (
        not isinstance(key, dict)
        or set(key) != expected
        or not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
        or key["kind"]["S"] != "EXECUTION"
        or not key["pk"]["S"].startswith("EXEC#")
    ):
        raise InvalidPageToken("nextToken: not a token this API issued")
    return key


# --- execution items: how an execution is split into items, and put back together ------------------------------

WAVE_EXCLUDES = {"chunks", "servers"}
Counts = tuple[int, int, int, int]  # servers launched, failed, final, total


def _item(execution_id: str, sk: str, doc: str, version: int, **extra: dict[str, Any]) -> dict[str, Any]:
    return {**_key(f"EXEC#{execution_id}", sk), "doc": {"S": doc}, "v": {"N": str(version)}, **extra}


def _snapshot_json(execution: Execution) -> str:
    return execution.model_dump_json(by_alias=True, include=SNAPSHOT_FIELDS)


def _chunk_sk(wave_id: str, index: int) -> str:
    return f"CHUNK#{wave_id}#{index:04d}"


def _counts(wave: WaveState) -> Counts:
    launched = failed = final = 0
    for server in wave.servers.values():
        status = server.launch_status
        launched += status is LaunchStatus.LAUNCHED
        failed += status is LaunchStatus.FAILED
        final += status.final
    return launched, failed, final, len(wave.servers)


def _counts_after(counts: Counts, old: WaveState, wave: WaveState, changed: set[str]) -> Counts:
    """`counts` of `old` moved on by the servers that changed: a launch result costs the same in a wave of any size."""
    launched, failed, final, _ = counts
    added = 0
    for sid in changed:
        before = old.servers.get(sid)
        if before is None:
            added += 1
        else:
            launched -= before.launch_status is LaunchStatus.LAUNCHED
            failed -= before.launch_status is LaunchStatus.FAILED
            final -= before.launch_status.final
        status = wave.servers[sid].launch_status
        launched += status is LaunchStatus.LAUNCHED
        failed += status is LaunchStatus.FAILED
        final += status.final
    if len(old.servers) + added != len(wave.servers):
        return _counts(wave)  # a server was removed (never, today): count them all
    return launched, failed, final, len(wave.servers)


@dataclass
class _Cached:
    """What a store last read or wrote of one execution: the model at a version and the stored JSON of its parts."""

    version: int
    execution: Execution
    docs: dict[str, str]  # sk -> the JSON stored for that wave or chunk (the doc attribute with its derived ones)
    counts: dict[str, Counts]
    servers: dict[str, str] | None = None  # (checks only) "<wave>#<server>" -> JSON


@dataclass
class _Layout:
    """An execution as items: the wave and chunk items it stores and which of them differ from the cached ones."""

    execution: Execution
    version: int
    base: _Cached | None
    docs: dict[str, str]
    counts: dict[str, Counts]
    writes: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, execution: Execution, version: int, base: _Cached | None = None) -> _Layout:
        """The items of `execution` at `version`; with `base`, only the parts that are new objects are examined."""
        layout = cls(execution, version, base, dict(base.docs) if base else {}, dict(base.counts) if base else {}, {})
        for wave_id, wave in execution.waves.items():
            old = base.execution.waves.get(wave_id) if base else None
            if old is wave:
                continue
            layout._wave(wave, old)
        return layout

    def _wave(self, wave: WaveState, old: WaveState | None) -> None:
        exe_id, version = self.execution.execution_id, self.version
        changed_servers = (
            set(wave.servers)
            if old is None
            else set()
            if wave.servers is old.servers
            else {sid for sid, s in wave.servers.items() if old.servers.get(sid) is not s}
        )
        known = self.counts.get(wave.wave_id)
        if old is None or known is None:
            counts = _counts(wave)
        else:
            counts = _counts_after(known, old, wave, changed_servers) if changed_servers else known
        self.counts[wave.wave_id] = counts
        jobs = [c.job_id for c in wave.chunks if c.job_id]
        doc = wave.model_dump_json(by_alias=True, exclude=WAVE_EXCLUDES)
        sk = f"WAVE#{wave.wave_id}"
        stored = f"{doc}|{list(counts)}|{jobs}"
        if self.docs.get(sk) != stored:
            self.docs[sk] = stored
            self.writes[sk] = _item(
                exe_id, sk, doc, version, counts={"S": json.dumps(list(counts))}, jobIds={"S": json.dumps(jobs)}
            )
        for chunk in wave.chunks:
            same_chunk = old is not None and chunk.index < len(old.chunks) and old.chunks[chunk.index] is chunk
            ids = chunk.source_server_ids
            mine = [sid for sid in ids if sid in changed_servers] if changed_servers else []
            csk = _chunk_sk(wave.wave_id, chunk.index)
            fresh = not same_chunk or csk not in self.docs
            chunk_doc = chunk.model_dump_json(by_alias=True) if fresh else self.docs[csk]
            # A server item is ~0.4 KB, a chunk's ~0.33 KB per server: past a third of the chunk, one item is cheaper.
            if chunk_doc != self.docs.get(csk) or len(mine) > max(SERVER_ITEMS_PER_CHUNK, min(24, len(ids) // 3)):
                self.docs[csk] = chunk_doc
                servers = "[" + ",".join(wave.servers[sid].model_dump_json(by_alias=True) for sid in ids) + "]"
                self.writes[csk] = _item(exe_id, csk, chunk_doc, version, servers={"S": servers})
            else:
                for sid in mine:
                    ssk = f"SERVER#{wave.wave_id}#{sid}"
                    doc = wave.servers[sid].model_dump_json(by_alias=True)
                    self.writes[ssk] = _item(exe_id, ssk, doc, version, chunk={"N": str(chunk.index)})
        chunked = {sid for c in wave.chunks for sid in c.source_server_ids} if len(changed_servers) else set()
        for sid in changed_servers - chunked:  # servers of no chunk (none today: chunks are made with the servers)
            ssk = f"SERVER#{wave.wave_id}#{sid}"
            doc = wave.servers[sid].model_dump_json(by_alias=True)
            self.writes[ssk] = _item(exe_id, ssk, doc, version, chunk={"N": "-1"})

    def progress(self) -> dict[str, Any]:
        """The counts the status summary shows, kept on the header so that projecting it reads nothing."""
        totals = [sum(c[i] for c in self.counts.values()) for i in range(4)]
        # Waves counted by status, not listed: the header (written on every save) stays the same size at any plan.
        by_status = Counter(str(s.status) for s in self.execution.waves.values())
        return {"servers": totals, "wavesByStatus": dict(sorted(by_status.items()))}

    def cached(self, execution: Execution) -> _Cached:
        """What the store remembers after writing or reading this layout."""
        servers = None
        if os.environ.get("DRWAVE_STORE_CHECKS") == "1":
            servers = {
                f"{w.wave_id}#{sid}": s.model_dump_json(by_alias=True)
                for w in execution.waves.values()
                for sid, s in w.servers.items()
            }
        return _Cached(self.version, execution, self.docs, self.counts, servers)


def _check_copy_on_write(cached: _Cached, layout: _Layout, writes: dict[str, dict[str, Any]]) -> None:
    """Fail loudly if a part that was skipped as unchanged (the same object) was in fact changed in place, or if a
    wave's counts, moved on by its changed servers, differ from counting them all."""
    fresh = _Layout.of(layout.execution, layout.version)
    for wave_id, counts in fresh.counts.items():
        if layout.counts.get(wave_id) != counts:
            raise AssertionError(f"wave {wave_id}: counts {layout.counts.get(wave_id)} kept, {counts} counted")
    for sk, item in fresh.writes.items():
        if sk in writes or sk.startswith("SERVER#"):
            continue
        stored = cached.docs.get(sk)
        doc = item["doc"]["S"]
        if sk.startswith("WAVE#"):
            doc = f"{doc}|{json.loads(item['counts']['S'])}|{json.loads(item['jobIds']['S'])}"
        if stored is not None and stored != doc:
            raise AssertionError(f"{sk} changed in place (not copied on write): it would not be saved")
    in_chunks = {
        f"{sk.split('#', 2)[1]}#{sid}"
        for sk, item in writes.items()
        if sk.startswith("CHUNK#")
        for sid in json.loads(item["doc"]["S"])["sourceServerIds"]
    }
    for wave in layout.execution.waves.values():
        for sid, server in wave.servers.items():
            key = f"{wave.wave_id}#{sid}"
            before = (cached.servers or {}).get(key)
            written = f"SERVER#{wave.wave_id}#{sid}" in writes or key in in_chunks
            if before is not None and not written and before != server.model_dump_json(by_alias=True):
                raise AssertionError(f"server {key} changed in place (not copied on write): it would not be saved")


def _parse_chunk(item: dict[str, Any]) -> tuple[Chunk, list[ServerState], int]:
    chunk = Chunk.model_validate_json(item["doc"]["S"])
    servers = [ServerState.model_validate(s) for s in json.loads(item["servers"]["S"])]
    return chunk, servers, int(item["v"]["N"])


def _assemble_wave(wave_item: dict[str, Any], items: list[dict[str, Any]]) -> WaveState:
    """A wave from its item, its chunk items and any newer server items."""
    wave = WaveState.model_validate_json(wave_item["doc"]["S"])
    prefix_c, prefix_s = f"CHUNK#{wave.wave_id}#", f"SERVER#{wave.wave_id}#"
    chunks = sorted(
        (_parse_chunk(i) for i in items if i["sk"]["S"].startswith(prefix_c)), key=lambda parsed: parsed[0].index
    )
    written: dict[str, int] = {}
    servers: dict[str, ServerState] = {}
    for _, states, version in chunks:
        for state in states:
            servers[state.source_server_id], written[state.source_server_id] = state, version
    for item in items:
        sk = item["sk"]["S"]
        if sk.startswith(prefix_s):
            version = int(item["v"]["N"])
            sid = sk.removeprefix(prefix_s)
            if version > written.get(sid, -1):
                servers[sid], written[sid] = ServerState.model_validate_json(item["doc"]["S"]), version
    wave.chunks = [c for c, _, _ in chunks]
    wave.servers = servers
    return wave


def _patch_wave(old: WaveState | None, items: list[dict[str, Any]]) -> WaveState:
    """A cached wave with the newer items of it that other writers saved (wave, chunk and server items)."""
    wave_item = next((i for i in items if i["sk"]["S"].startswith("WAVE#")), None)
    if old is None:
        assert wave_item is not None  # a wave the cache does not know is always written with its item
        return _assemble_wave(wave_item, items)
    wave = WaveState.model_validate_json(wave_item["doc"]["S"]) if wave_item else old.model_copy()
    chunks = list(old.chunks)
    servers = dict(old.servers)
    written: dict[str, int] = {}
    for item in sorted(items, key=lambda i: i["sk"]["S"]):
        sk = item["sk"]["S"]
        if sk.startswith("CHUNK#"):
            chunk, states, version = _parse_chunk(item)
            if chunk.index < len(chunks):
                chunks[chunk.index] = chunk
            else:
                chunks.extend([chunk] if chunk.index == len(chunks) else [])
            for state in states:
                if version > written.get(state.source_server_id, -1):
                    servers[state.source_server_id], written[state.source_server_id] = state, version
    for item in items:
        sk = item["sk"]["S"]
        if sk.startswith("SERVER#"):
            version, sid = int(item["v"]["N"]), sk.split("#", 2)[2]
            if version > written.get(sid, -1):
                servers[sid], written[sid] = ServerState.model_validate_json(item["doc"]["S"]), version
    if len(chunks) != len(old.chunks):  # servers just resolved: keep the chunks' order, as a fresh load does
        servers = {sid: servers[sid] for c in chunks for sid in c.source_server_ids if sid in servers}
    wave.chunks, wave.servers = chunks, servers
    return wave
