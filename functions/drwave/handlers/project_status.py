"""Project-status: the state table's DynamoDB stream -> the status read model (pk VIEW#<executionId>).

Only NEW_IMAGEs of execution items (pk EXEC#...) matter; every other record is acknowledged untouched.
Each record is projected from its own image alone (the header gives the summary, a wave item its wave row, a
chunk or server item the rows of the servers it changed), labelled with the version that wrote it; rows are
written only over older versions, so replays and late or reordered records change nothing. Of the rows a batch
produces for one key only the newest is written (core.projection.newest_rows). A record that fails is reported in
batchItemFailures; the rest of the batch is still written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from drwave.core.projection import EXEC_PREFIX, ViewRow, newest_rows, project_item
from drwave.engine.log import logger
from drwave.engine.ports import Dependencies, default_dependencies


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> PartialItemFailureResponse:
    """Project every record of the batch; write each key's newest row; report the records that failed."""
    resolved = deps or default_dependencies()
    records = event.get("Records") or []
    projected: list[tuple[str, list[ViewRow]] | ValueError] = [_project(r) for r in records]
    writes = newest_rows([p if not isinstance(p, ValueError) else ("", []) for p in projected])
    plan = {_sequence(r): (p, w) for r, p, w in zip(records, projected, writes, strict=True)}
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return process_partial_response(
        event=event,
        record_handler=lambda record: write_rows(resolved, *plan[_sequence(record.raw_event)]),
        processor=processor,
        context=context,
    )


def _sequence(record: dict[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber"))


def _project(record: dict[str, Any]) -> tuple[str, list[ViewRow]] | ValueError:
    """The record's execution id and rows (none when ignored), or the reason it cannot be projected."""
    stream = record.get("dynamodb") or {}
    image = stream.get("NewImage")
    if not image:
        return "", []  # REMOVE, or a stream without new images
    pk = image.get("pk", {}).get("S", "")
    if not pk.startswith(EXEC_PREFIX):
        return "", []
    try:
        return pk.removeprefix(EXEC_PREFIX), project_item(image, stream.get("OldImage"))
    except ValueError as err:  # malformed item: this record fails, the rest of the batch goes on
        return err


def write_rows(deps: Dependencies, projected: tuple[str, list[ViewRow]] | ValueError, rows: list[ViewRow]) -> int:
    """Write the rows assigned to one record; the number written (0 when ignored or already current)."""
    if isinstance(projected, ValueError):
        raise projected
    return deps.store.put_view_rows(projected[0], rows) if rows else 0
