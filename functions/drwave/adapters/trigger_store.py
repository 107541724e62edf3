"""DynamoDB items of drill schedules, failover triggers, their state and their audit trail (same table as the rest).

Definitions share one partition (pk TRIGGERS): a handful of items listed with one Query, like target accounts.
A trigger's state is its own item with a version, written with a condition so two concurrent alarm deliveries
cannot both decide the same quorum episode.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.exceptions import ClientError

from drwave.adapters.store import ConcurrentUpdate, StoreError
from drwave.models.base import iso_z
from drwave.models.triggers import AuditEntry, DrillSchedule, FailoverTrigger, TriggerState

TRIGGERS_PK = "TRIGGERS"
AUDIT_PK = "AUDIT#TRIGGERS"


class TriggerStore:
    """Schedules, triggers, trigger state, per-plan drill-freshness markers and the admin audit trail."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    # --- drill schedules ---------------------------------------------------------------------------------

    def put_schedule(self, schedule: DrillSchedule) -> None:
        """Create or replace a drill schedule."""
        self._put(f"SCHEDULE#{schedule.id}", schedule.to_wire())

    def get_schedule(self, schedule_id: str) -> DrillSchedule | None:
        """A drill schedule, or None."""
        doc = self._get(f"SCHEDULE#{schedule_id}")
        return DrillSchedule.model_validate(doc) if doc else None

    def list_schedules(self) -> list[DrillSchedule]:
        """Every drill schedule, by id."""
        return [DrillSchedule.model_validate(d) for d in self._list("SCHEDULE#")]

    def delete_schedule(self, schedule_id: str) -> bool:
        """Delete a drill schedule; False if there was none."""
        return self._delete(f"SCHEDULE#{schedule_id}")

    # --- failover triggers -------------------------------------------------------------------------------

    def put_trigger(self, trigger: FailoverTrigger) -> None:
        """Create or replace a failover trigger."""
        self._put(f"TRIGGER#{trigger.id}", trigger.to_wire())

    def get_trigger(self, trigger_id: str) -> FailoverTrigger | None:
        """A failover trigger, or None."""
        doc = self._get(f"TRIGGER#{trigger_id}")
        return FailoverTrigger.model_validate(doc) if doc else None

    def list_triggers(self) -> list[FailoverTrigger]:
        """Every failover trigger, by id."""
        return [FailoverTrigger.model_validate(d) for d in self._list("TRIGGER#")]

    def delete_trigger(self, trigger_id: str) -> bool:
        """Delete a failover trigger (and forget its state); False if there was none."""
        self._delete(f"STATE#{trigger_id}")
        return self._delete(f"TRIGGER#{trigger_id}")

    def load_state(self, trigger_id: str) -> TriggerState:
        """A trigger's state (a fresh one before its first alarm)."""
        item = self._item(f"STATE#{trigger_id}")
        if item is None:
            return TriggerState(trigger_id=trigger_id)
        state = TriggerState.model_validate_json(item["doc"]["S"])
        state.version = int(item["version"]["N"])
        return state

    def save_state(self, state: TriggerState) -> None:
        """Save if nobody saved since we loaded; ConcurrentUpdate otherwise (reload and decide again)."""
        item = {
            "pk": {"S": TRIGGERS_PK},
            "sk": {"S": f"STATE#{state.trigger_id}"},
            "doc": {"S": state.model_dump_json(by_alias=True, exclude={"version"})},
            "version": {"N": str(state.version + 1)},
        }
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR version = :v",
                ExpressionAttributeValues={":v": {"N": str(state.version)}},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(state.trigger_id) from err
            raise StoreError(str(err)) from err
        state.version += 1

    # --- drill freshness --------------------------------------------------------------------------------

    def overdue_notified(self, plan_id: str) -> str | None:
        """The last-drill marker ("never" or an execution id) a Drill Overdue was already sent for, or None."""
        doc = self._get(f"OVERDUE#{plan_id}")
        return str(doc["since"]) if doc else None

    def mark_overdue_notified(self, plan_id: str, since: str) -> bool:
        """Remember this lapse was notified; False if it already was (the event is sent once per lapse)."""
        item = {
            "pk": {"S": TRIGGERS_PK},
            "sk": {"S": f"OVERDUE#{plan_id}"},
            "doc": {"S": json.dumps({"since": since})},
            "lapse": {"S": since},
        }
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR lapse <> :since",
                ExpressionAttributeValues={":since": {"S": since}},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise StoreError(str(err)) from err
        return True

    # --- audit -------------------------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        """Append an admin operation to the trigger audit trail."""
        sk = f"{iso_z(entry.at)}#{uuid.uuid4().hex[:8]}"
        self._put(sk, entry.to_wire(), pk=AUDIT_PK)

    def audit_trail(self) -> list[AuditEntry]:
        """Every audited operation, oldest first."""
        return [AuditEntry.model_validate(d) for d in self._list("", pk=AUDIT_PK)]

    # --- helpers -----------------------------------------------------------------------------------------

    def _put(self, sk: str, doc: dict[str, Any], pk: str = TRIGGERS_PK) -> None:
        try:
            self._db.put_item(
                TableName=self._table, Item={"pk": {"S": pk}, "sk": {"S": sk}, "doc": {"S": json.dumps(doc)}}
            )
        except ClientError as err:
            raise StoreError(str(err)) from err

    def _item(self, sk: str) -> dict[str, Any] | None:
        try:
            response = self._db.get_item(
                TableName=self._table, Key={"pk": {"S": TRIGGERS_PK}, "sk": {"S": sk}}, ConsistentRead=True
            )
        except ClientError as err:
            raise StoreError(str(err)) from err
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _get(self, sk: str) -> dict[str, Any] | None:
        item = self._item(sk)
        return json.loads(item["doc"]["S"]) if item else None

    def _list(self, prefix: str, pk: str = TRIGGERS_PK) -> list[dict[str, Any]]:
        condition, values = "pk = :pk", {":pk": {"S": pk}}
        if prefix:
            condition += " AND begins_with(sk, :sk)"
            values[":sk"] = {"S": prefix}
        docs: list[dict[str, Any]] = []
        try:
            for page in self._db.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ConsistentRead=True,
            ):
                docs.extend(json.loads(i["doc"]["S"]) for i in page["Items"])
        except ClientError as err:
            raise StoreError(str(err)) from err
        return docs

    def _delete(self, sk: str) -> bool:
        try:
            response = self._db.delete_item(
                TableName=self._table, Key={"pk": {"S": TRIGGERS_PK}, "sk": {"S": sk}}, ReturnValues="ALL_OLD"
            )
        except ClientError as err:
            raise StoreError(str(err)) from err
        return bool(response.get("Attributes"))
