"""Public event contracts: JSON Schemas in schemas/ and sample envelopes in events/, generated from the models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drwave.models.events import (
    PUBLISHED_EVENTS,
    DrsJobStarted,
    DrsJobStateChange,
    EventDetail,
    ExecutionCancelRequested,
    ExecutionFinished,
    ExecutionPauseRequested,
    ExecutionRequested,
    ExecutionResumeRequested,
    ExecutionStarted,
    ServerLaunch,
    WaveActionsRequested,
    WaveCompleted,
    WaveFailed,
    WaveGateApproved,
    WaveGateWaiting,
    WaveStartRequested,
)
from drwave.models.execution import ExecutionStatus, ExecutionType, LaunchStatus, WaveStatus

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = ROOT / "schemas"
EVENTS_DIR = ROOT / "events" / "drwave"

_EXE = "exec-3f9c2a7d41b0"
_AT = datetime(2026, 1, 5, 9, 30, 22, tzinfo=UTC)
_JOB = "drsjob-4c1Vb2mX8pQ0rT5yZ"
_SERVERS = ["s-0a1b2c3d4e5f60015", "s-0a1b2c3d4e5f60020"]

EXAMPLES: list[EventDetail] = [
    ExecutionRequested(execution_id=_EXE, plan_id="retail-dr", execution_type=ExecutionType.DRILL, started_by="alice"),
    ExecutionStarted(execution_id=_EXE, plan_id="retail-dr", execution_type=ExecutionType.DRILL, wave_count=5),
    WaveGateWaiting(execution_id=_EXE, wave_id="web", timeout_at=_AT, message="Confirm the app tiers are healthy."),
    WaveGateApproved(execution_id=_EXE, wave_id="web", approved_by="alice"),
    ExecutionCancelRequested(execution_id=_EXE, requested_by="alice"),
    ExecutionPauseRequested(execution_id=_EXE, requested_by="alice"),
    ExecutionResumeRequested(execution_id=_EXE, requested_by="alice"),
    WaveActionsRequested(execution_id=_EXE, wave_id="databases", phase="pre"),
    WaveStartRequested(execution_id=_EXE, wave_id="web"),
    DrsJobStarted(execution_id=_EXE, wave_id="web", job_id=_JOB, chunk_index=0, server_count=2),
    DrsJobStateChange(
        execution_id=_EXE,
        wave_id="web",
        job_id=_JOB,
        status="COMPLETED",
        servers=[
            ServerLaunch(
                source_server_id=_SERVERS[0],
                launch_status=LaunchStatus.LAUNCHED,
                recovery_instance_id="i-0d1e2f3a4b5c6d7e8",
            ),
            ServerLaunch(source_server_id=_SERVERS[1], launch_status=LaunchStatus.FAILED, error="LAUNCH_FAILED"),
        ],
    ),
    WaveCompleted(execution_id=_EXE, wave_id="web", status=WaveStatus.COMPLETED_WITH_WARNINGS, launched=1, failed=1),
    WaveFailed(execution_id=_EXE, wave_id="databases", status=WaveStatus.FAILED, reason="wave timed out after 90 min"),
    ExecutionFinished(
        execution_id=_EXE,
        execution_type=ExecutionType.DRILL,
        status=ExecutionStatus.COMPLETED_WITH_WARNINGS,
        started_at=datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC),
        ended_at=_AT,
    ),
]


def slug(detail_type: str) -> str:
    """File-name form of a detail-type: "Wave Start Requested" -> "wave-start-requested"."""
    return detail_type.lower().replace(" ", "-")


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema of the detail, one per published detail-type and version."""
    documents = {}
    for model in PUBLISHED_EVENTS:
        schema = model.model_json_schema(by_alias=True, mode="serialization")
        schema["$id"] = f"https://drwave.dev/schemas/{slug(model.DETAIL_TYPE)}.v1.json"
        schema["title"] = model.DETAIL_TYPE
        schema["x-eventbridge"] = {"source": "drwave", "detail-type": model.DETAIL_TYPE}
        documents[f"{slug(model.DETAIL_TYPE)}.v1.json"] = schema
    return documents


def sample_envelopes() -> dict[str, dict[str, Any]]:
    """File name -> a sample EventBridge envelope of each published event."""
    samples = {}
    for index, detail in enumerate(EXAMPLES):
        samples[f"{slug(detail.DETAIL_TYPE)}.v1.json"] = {
            "version": "0",
            "id": f"6a7e8feb-b491-4cf7-a9f1-bf3703{index:06d}",
            "detail-type": detail.DETAIL_TYPE,
            "source": "drwave",
            "account": "111122223333",
            "time": "2026-01-05T09:30:22Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail.to_wire(),
        }
    return samples


def render(document: dict[str, Any]) -> str:
    """Stable JSON text, so regenerated files diff cleanly."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def drift() -> list[str]:
    """Files in schemas/ and events/drwave/ that differ from what the models generate."""
    stale = []
    for directory, documents in ((SCHEMAS_DIR, schema_documents()), (EVENTS_DIR, sample_envelopes())):
        for name, document in documents.items():
            path = directory / name
            if not path.exists() or path.read_text(encoding="utf-8") != render(document):
                stale.append(str(path.relative_to(ROOT)))
    return stale


def write_all() -> list[Path]:
    """Regenerate schemas/ and events/drwave/."""
    written = []
    for directory, documents in ((SCHEMAS_DIR, schema_documents()), (EVENTS_DIR, sample_envelopes())):
        directory.mkdir(parents=True, exist_ok=True)
        for name, document in documents.items():
            path = directory / name
            path.write_text(render(document), encoding="utf-8")
            written.append(path)
    return written
