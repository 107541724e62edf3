"""Status projection (pure): an execution's stored item images -> read-model rows for the API and status page.

Input is what DynamoDB holds (the stream's NEW_IMAGE, GetItem or Query items, in AttributeValue form): the
header item (sk STATE: `doc`, `version`) and wave items (sk WAVE#<id>: `doc`). Output rows are keyed by sk under
pk VIEW#<executionId> and carry the header version they were projected from (`sourceVersion`), so a writer can
refuse to let an older projection overwrite a newer one. Same images in, same rows out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from drwave.models.execution import ExecutionStatus, LaunchStatus, WaveState

VIEW_PREFIX = "VIEW#"
EXEC_PREFIX = "EXEC#"
SUMMARY_SK = "SUMMARY"
WAVE_SK = "WAVE#"
SERVER_SK = "SERVER#"

Image = Mapping[str, Any]  # one DynamoDB item in AttributeValue form: {"pk": {"S": ...}, ...}


@dataclass(frozen=True)
class ViewRow:
    """One read-model row: its sort key under VIEW#<executionId>, its document and the version it reflects."""

    sk: str
    doc: dict[str, Any]
    source_version: int


@dataclass(frozen=True)
class Header:
    """The parts of an execution's header item the projection reads."""

    execution_id: str
    version: int
    doc: dict[str, Any]
    plan_id: str | None = None


def view_pk(execution_id: str) -> str:
    """Partition key of an execution's read model."""
    return f"{VIEW_PREFIX}{execution_id}"


def parse_header(image: Image) -> Header:
    """The header (sk STATE) of an execution; ValueError if the image is not one."""
    pk, sk = _s(image, "pk"), _s(image, "sk")
    if not pk.startswith(EXEC_PREFIX) or sk != "STATE":
        raise ValueError(f"not an execution header: {pk}/{sk}")
    try:
        plan_id = image["planId"]["S"] if "planId" in image else None
        return Header(pk.removeprefix(EXEC_PREFIX), int(image["version"]["N"]), json.loads(_s(image, "doc")), plan_id)
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"malformed execution header {pk}: {err!r}") from err


def parse_wave(image: Image) -> WaveState:
    """The wave state held by a wave item (sk WAVE#<id>); ValueError if malformed."""
    sk = _s(image, "sk")
    if not sk.startswith(WAVE_SK):
        raise ValueError(f"not a wave item: {sk}")
    return WaveState.model_validate_json(_s(image, "doc"))  # pydantic's ValidationError is a ValueError


def percent(done: int, total: int) -> float:
    """Share of `done` in `total` as a percentage with one decimal (100 when there is nothing to do)."""
    return 100.0 if total == 0 else round(100.0 * done / total, 1)


def wave_row(header: Header, wave: WaveState) -> ViewRow:
    """The per-wave row, labelled with the header version read at projection time."""
    launched, failed, final, total = _server_counts([wave])
    jobs = [c.job_id for c in wave.chunks if c.job_id]
    doc = {
        "executionId": header.execution_id,
        "waveId": wave.wave_id,
        "status": str(wave.status),
        "reason": wave.reason,
        "startedAt": _iso(wave, "started_at"),
        "endedAt": _iso(wave, "ended_at"),
        "jobIds": jobs,
        "gateOpenedAt": _iso(wave, "gate_opened_at"),
        "approvedBy": wave.approved_by,
        "warnings": list(wave.warnings),
        "serversLaunched": launched,
        "serversFailed": failed,
        "serversTotal": total,
        "progressPercent": percent(final, total) if total or wave.status.terminal else 0.0,
    }
    return ViewRow(f"{WAVE_SK}{wave.wave_id}", doc, header.version)


def server_rows(header: Header, wave: WaveState) -> list[ViewRow]:
    """One row per server of the wave, in server id order."""
    rows = []
    for server_id in sorted(wave.servers):
        server = wave.servers[server_id]
        doc = {
            "executionId": header.execution_id,
            "waveId": wave.wave_id,
            "sourceServerId": server_id,
            "launchStatus": str(server.launch_status),
            "jobId": server.job_id,
            "recoveryInstanceId": server.recovery_instance_id,
            "error": server.error,
        }
        rows.append(ViewRow(f"{SERVER_SK}{wave.wave_id}#{server_id}", doc, header.version))
    return rows


def summary_row(header: Header, waves: Iterable[WaveState]) -> ViewRow:
    """The execution summary from the header and every wave."""
    waves = sorted(waves, key=lambda w: w.wave_id)
    launched, failed, final, total = _server_counts(waves)
    status = ExecutionStatus(header.doc["status"])
    done = sum(1 for w in waves if w.status.terminal)
    doc = {
        "executionId": header.execution_id,
        "planId": header.plan_id,
        "executionType": header.doc.get("executionType"),
        "status": str(status),
        "startedAt": header.doc.get("startedAt"),
        "endedAt": header.doc.get("endedAt"),
        "startedBy": header.doc.get("startedBy"),
        "pausedBy": header.doc.get("pausedBy"),
        "retryOf": header.doc.get("retryOf"),
        "wavesByStatus": dict(sorted(Counter(str(w.status) for w in waves).items())),
        "wavesDone": done,
        "wavesTotal": len(waves),
        "serversLaunched": launched,
        "serversFailed": failed,
        "serversTotal": total,
        "progressPercent": percent(final, total) if total or status.terminal else 0.0,
        "wavesPercent": percent(done, len(waves)),
    }
    return ViewRow(SUMMARY_SK, doc, header.version)


def project_wave(header_image: Image, wave_image: Image) -> list[ViewRow]:
    """Rows for one wave: its wave row and its server rows."""
    header, wave = parse_header(header_image), parse_wave(wave_image)
    return [wave_row(header, wave), *server_rows(header, wave)]


def project_summary(header_image: Image, wave_images: Iterable[Image]) -> ViewRow:
    """The summary row from the header image and every wave item."""
    return summary_row(parse_header(header_image), [parse_wave(w) for w in wave_images])


def project_all(header_image: Image, wave_images: Iterable[Image]) -> list[ViewRow]:
    """The whole read model of an execution (summary, waves, servers), as a fresh projection of its items."""
    header = parse_header(header_image)
    waves = [parse_wave(w) for w in wave_images]
    rows = [summary_row(header, waves)]
    for wave in sorted(waves, key=lambda w: w.wave_id):
        rows += [wave_row(header, wave), *server_rows(header, wave)]
    return rows


def changed_servers(old_image: Image | None, new_image: Image) -> set[str] | None:
    """Servers whose state differs between two images of one wave item; None (all of them) when unknown."""
    if not old_image:
        return None
    try:
        old, new = parse_wave(old_image), parse_wave(new_image)
    except ValueError:
        return None
    return {sid for sid, server in new.servers.items() if old.servers.get(sid) != server}


def _server_counts(waves: Iterable[WaveState]) -> tuple[int, int, int, int]:
    launched = failed = final = total = 0
    for wave in waves:
        for server in wave.servers.values():
            total += 1
            launched += server.launch_status is LaunchStatus.LAUNCHED
            failed += server.launch_status is LaunchStatus.FAILED
            final += server.launch_status.final
    return launched, failed, final, total


def _iso(wave: WaveState, field: str) -> str | None:
    value = wave.model_dump(mode="json", include={field})[field]
    return str(value) if value is not None else None


def _s(image: Image, name: str) -> str:
    try:
        return str(image[name]["S"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"item has no string attribute {name!r}") from err
