"""Drill cleanup records in the state table: one item per drill (pk CLEANUP#<executionId>), version-checked.

A pending record carries `activeShard = CLEANUP`, which lists it in the sparse active-index for the tick; a
finished or kept one drops the attribute. Records are not expired by DynamoDB TTL: they are the evidence.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from drwave.adapters.store import ACTIVE_INDEX, ConcurrentUpdate, StoreError
from drwave.models.cleanup import DrillCleanup

CLEANUP_SHARD = "CLEANUP"


def _key(execution_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CLEANUP#{execution_id}"}, "sk": {"S": "STATE"}}


class CleanupStore:
    """Reads and writes cleanup records in the state table (its own client; built beside the execution store)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def create(self, cleanup: DrillCleanup) -> bool:
        """Write a new record; False when the drill already has one (a redelivered Execution Finished)."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=self._item(cleanup, 1),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise StoreError(str(err)) from err
        return True

    def load(self, execution_id: str) -> DrillCleanup | None:
        """The drill's cleanup record, or None."""
        try:
            item = self._db.get_item(TableName=self._table, Key=_key(execution_id), ConsistentRead=True).get("Item")
        except ClientError as err:
            raise StoreError(str(err)) from err
        if item is None:
            return None
        return DrillCleanup.model_validate_json(item["doc"]["S"]).model_copy(
            update={"version": int(item["version"]["N"])}
        )

    def save(self, cleanup: DrillCleanup) -> DrillCleanup:
        """Write a changed record if nobody wrote it since it was loaded (else ConcurrentUpdate)."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=self._item(cleanup, cleanup.version + 1),
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": {"N": str(cleanup.version)}},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(cleanup.execution_id) from err
            raise StoreError(str(err)) from err
        return cleanup.model_copy(update={"version": cleanup.version + 1})

    def pending(self) -> list[str]:
        """Execution ids of every cleanup still scheduled or terminating."""
        ids: list[str] = []
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            IndexName=ACTIVE_INDEX,
            KeyConditionExpression="activeShard = :c",
            ExpressionAttributeValues={":c": {"S": CLEANUP_SHARD}},
            ProjectionExpression="pk",
        ):
            ids.extend(item["pk"]["S"].removeprefix("CLEANUP#") for item in page["Items"])
        return ids

    @staticmethod
    def _item(cleanup: DrillCleanup, version: int) -> dict[str, Any]:
        item = {
            **_key(cleanup.execution_id),
            "doc": {"S": cleanup.model_dump_json(by_alias=True, exclude={"version"})},
            "version": {"N": str(version)},
        }
        if cleanup.status.pending:
            item["activeShard"] = {"S": CLEANUP_SHARD}
        return item
