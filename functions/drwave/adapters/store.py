"""DynamoDB store: plans, groups, executions and the capacity ledger, with optimistic locking."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from drwave.core.projection import ViewRow, view_pk
from drwave.models.capacity import CapacityLedger
from drwave.models.execution import Execution
from drwave.models.plan import ProtectionGroup, RecoveryPlan

ACTIVE_INDEX = "active-index"
SNAPSHOT_FIELDS = {"plan", "protection_groups"}
ACTIVE_SHARD = "ACTIVE"


class ConcurrentUpdate(Exception):
    """Another writer saved first: reload, decide again, retry."""


class StoreError(Exception):
    """DynamoDB refused a request for a reason other than a lost race."""


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _exec_key(execution_id: str) -> dict[str, Any]:
    return _key(f"EXEC#{execution_id}", "STATE")


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
        self._seen: dict[str, tuple[int, dict[str, str]]] = {}

    # --- definitions -------------------------------------------------------------------------------

    def put_plan(self, plan: RecoveryPlan) -> None:
        """Create or replace a recovery plan."""
        self._put_doc(f"PLAN#{plan.id}", "PLAN", plan.to_wire())

    def get_plan(self, plan_id: str) -> RecoveryPlan | None:
        """A recovery plan, or None."""
        doc = self._get_doc(f"PLAN#{plan_id}", "PLAN")
        return RecoveryPlan.model_validate(doc) if doc else None

    def put_group(self, group: ProtectionGroup) -> None:
        """Create or replace a protection group."""
        self._put_doc(f"GROUP#{group.id}", "GROUP", group.to_wire())

    def get_group(self, group_id: str) -> ProtectionGroup | None:
        """A protection group, or None."""
        doc = self._get_doc(f"GROUP#{group_id}", "GROUP")
        return ProtectionGroup.model_validate(doc) if doc else None

    # --- executions ----------------------------------------------------------------------------------

    # Layout: a small header item (status, version, plan snapshot, timeline) plus one item per wave,
    # so a launch result rewrites one wave (kilobytes) instead of the whole execution, and no item
    # nears DynamoDB's 400 KB limit however many servers a plan has. The header's version guards all.
    # The plan and group snapshot never changes after creation, so it lives in its own item, written once.

    def create_execution(self, execution: Execution) -> bool:
        """Insert a new execution; False if one with this id already exists (a duplicate request)."""
        header = {
            "TableName": self._table,
            "Item": self._header_item(execution, execution.version),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        waves = {w.wave_id: w.model_dump_json(by_alias=True) for w in execution.waves.values()}
        snapshot = execution.model_dump_json(by_alias=True, include=SNAPSHOT_FIELDS)
        items = [
            {"Put": header},
            {"Put": self._doc_put(execution.execution_id, "SNAPSHOT", snapshot)},
            *({"Put": self._doc_put(execution.execution_id, f"WAVE#{w}", doc)} for w, doc in waves.items()),
        ]
        try:
            self._db.transact_write_items(TransactItems=items)
        except ClientError as err:
            if _is_condition_failure(err):
                return False
            raise StoreError(str(err)) from err
        self._seen[execution.execution_id] = (execution.version, waves)
        return True

    def load_execution(self, execution_id: str) -> Execution | None:
        """The latest saved execution (strongly consistent), or None."""
        header: dict[str, Any] | None = None
        snapshot: dict[str, Any] = {}
        waves: dict[str, str] = {}
        try:
            for page in self._db.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"EXEC#{execution_id}"}},
                ConsistentRead=True,
            ):
                for item in page["Items"]:
                    sk = item["sk"]["S"]
                    if sk == "STATE":
                        header = item
                    elif sk == "SNAPSHOT":
                        snapshot = json.loads(item["doc"]["S"])
                    elif sk.startswith("WAVE#"):
                        waves[sk.removeprefix("WAVE#")] = item["doc"]["S"]
        except ClientError as err:
            raise StoreError(str(err)) from err
        if header is None:
            return None
        version = int(header["version"]["N"])
        doc = {**json.loads(header["doc"]["S"]), **snapshot}
        doc["waves"] = {wave_id: json.loads(text) for wave_id, text in waves.items()}
        execution = Execution.model_validate(doc)
        execution.version = version
        self._seen[execution_id] = (version, waves)
        return execution

    def save_execution(self, execution: Execution, ledger: CapacityLedger | None = None) -> None:
        """Save if nobody saved since we loaded (and the ledger too, atomically); bump the versions."""
        new_version = execution.version + 1
        header = {
            "TableName": self._table,
            "Item": self._header_item(execution, new_version),
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": {":v": {"N": str(execution.version)}},
        }
        seen_version, seen_waves = self._seen.get(execution.execution_id, (None, {}))
        waves = {w.wave_id: w.model_dump_json(by_alias=True) for w in execution.waves.values()}
        known = seen_waves if seen_version == execution.version else {}
        changed = {w: doc for w, doc in waves.items() if known.get(w) != doc}
        items = [
            {"Put": header},
            *({"Put": self._doc_put(execution.execution_id, f"WAVE#{w}", d)} for w, d in changed.items()),
        ]
        if ledger is not None:
            items.append({"Put": self._ledger_put(ledger)})
        try:
            if len(items) == 1:
                self._db.put_item(**header)
            else:
                self._db.transact_write_items(TransactItems=items)
        except ClientError as err:
            if _is_condition_failure(err):
                raise ConcurrentUpdate(execution.execution_id) from err
            raise StoreError(str(err)) from err
        execution.version = new_version
        self._seen[execution.execution_id] = (new_version, waves)
        if ledger is not None:
            ledger.version += 1

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

    def _doc_put(self, execution_id: str, sk: str, doc: str) -> dict[str, Any]:
        return {"TableName": self._table, "Item": {**_key(f"EXEC#{execution_id}", sk), "doc": {"S": doc}}}

    def _header_item(self, execution: Execution, version: int) -> dict[str, Any]:
        item = {
            **_exec_key(execution.execution_id),
            "doc": {"S": execution.model_dump_json(by_alias=True, exclude={"version", "waves", *SNAPSHOT_FIELDS})},
            "version": {"N": str(version)},
            "status": {"S": str(execution.status)},
            "planId": {"S": execution.plan.id},
            "executionType": {"S": str(execution.execution_type)},
        }
        if not execution.status.terminal:
            item["activeShard"] = {"S": ACTIVE_SHARD}
        return item

    def _put_doc(self, pk: str, sk: str, doc: dict[str, Any]) -> None:
        try:
            self._db.put_item(TableName=self._table, Item={**_key(pk, sk), "doc": {"S": json.dumps(doc)}})
        except ClientError as err:
            raise StoreError(str(err)) from err

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
