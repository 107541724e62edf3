"""Project-status: the state table's DynamoDB stream -> the status read model (pk VIEW#<executionId>).

Only NEW_IMAGEs of execution items (pk EXEC#...) matter; every other record is acknowledged untouched.
A header record (sk STATE) re-projects the summary from that image and the execution's wave items; a wave
record (sk WAVE#<id>) re-projects that wave and its servers from the current header and wave item (read in
that order, so a row's content is never older than the version it is labelled with). Rows are written only
over older versions, so replays and late records change nothing. A record that fails is reported in
batchItemFailures; the rest of the batch is still written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from drwave.core.projection import (
    EXEC_PREFIX,
    SERVER_SK,
    WAVE_SK,
    changed_servers,
    project_summary,
    project_wave,
)
from drwave.engine.loop import logger
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
    pk, sk = image.get("pk", {}).get("S", ""), image.get("sk", {}).get("S", "")
    if not pk.startswith(EXEC_PREFIX):
        return 0
    execution_id = pk.removeprefix(EXEC_PREFIX)
    if sk == "STATE":
        summary = project_summary(image, deps.store.execution_items(execution_id, WAVE_SK))
        return deps.store.put_view_rows(execution_id, [summary])
    if not sk.startswith(WAVE_SK):
        return 0
    header = deps.store.execution_item(execution_id, "STATE")
    wave = deps.store.execution_item(execution_id, sk)
    if header is None or wave is None:
        logger.warning("wave record of a missing execution item", execution_id=execution_id, sk=sk)
        return 0
    rows = project_wave(header, wave)
    # A launch result changes one server of a wave: rewrite the wave row and only the server rows this record
    # changed (all of them on INSERT). Content comes from the current items, so a skipped row is never staler than
    # before; a record that fails is retried before later ones of its shard, so no change is skipped for good.
    changed = changed_servers(stream.get("OldImage"), image)
    if changed is not None:
        rows = [r for r in rows if not r.sk.startswith(SERVER_SK) or r.doc["sourceServerId"] in changed]
    return deps.store.put_view_rows(execution_id, rows)
