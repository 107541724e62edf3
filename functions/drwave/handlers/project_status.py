"""Project-status: the state table's DynamoDB stream -> the status read model (pk VIEW#<executionId>).

Only NEW_IMAGEs of execution items (pk EXEC#...) matter; every other record is acknowledged untouched.
Each record is projected from its own image alone (the header gives the summary, a wave item its wave row, a
chunk or server item the rows of the servers it changed), labelled with the version that wrote it; rows are
written only over older versions, so replays and late or reordered records change nothing. A record that fails
is reported in batchItemFailures; the rest of the batch is still written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from drwave.core.projection import EXEC_PREFIX, project_item
from drwave.engine.log import logger
from drwave.engine.ports import Dependencies, default_dependencies


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> PartialItemFailureResponse:
    """Project every record of the batch; report the ones that failed."""
    resolved = deps or default_dependencies()
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return process_partial_response(
        event=event,
        record_handler=lambda record: project_record(resolved, record),
        processor=processor,
        context=context,
    )


def project_record(deps: Dependencies, record: DynamoDBRecord) -> int:
    """Project one stream record; the number of read-model rows written (0 when ignored or already current)."""
    stream = record.raw_event.get("dynamodb") or {}
    image = stream.get("NewImage")
    if not image:
        return 0  # REMOVE, or a stream without new images
    pk = image.get("pk", {}).get("S", "")
    if not pk.startswith(EXEC_PREFIX):
        return 0
    rows = project_item(image, stream.get("OldImage"))
    return deps.store.put_view_rows(pk.removeprefix(EXEC_PREFIX), rows) if rows else 0
