"""Status projection (pure): an execution's stored item images -> read-model rows for the API and status page.

Input is what DynamoDB holds (the stream's NEW_IMAGE, GetItem or Query items, in AttributeValue form), one item
at a time: the header (sk STATE: `doc`, `version`, `progress`) gives the summary row, a wave item (WAVE#<id>: `doc`,
`counts`, `jobIds`, `v`) its wave row, a chunk item (CHUNK#<wave>#<n>: `servers`) or a server item (SERVER#...) server
rows. Projecting reads nothing else, so its cost per change does not grow with the plan. Output rows are keyed by
sk under pk VIEW#<executionId> and carry the version that wrote their item (`sourceVersion`), so a writer can refuse
to let an older projection overwrite a newer one. Same images in, same rows out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drwave.models.execution import ExecutionStatus, ServerState, WaveState, WaveStatus

VIEW_PREFIX = "VIEW#"
EXEC_PREFIX = "EXEC#"
SUMMARY_SK = "SUMMARY"
WAVE_SK = "WAVE#"
SERVER_SK = "SERVER#"
CHUNK_SK = "CHUNK#"

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


def percent(done: int, total: int) -> float:
    """Share of `done` in `total` as a percentage with one decimal (100 when there is nothing to do)."""
    return 100.0 if total == 0 else round(100.0 * done / total, 1)


def _execution_id(image: Image) -> str:
    pk = _s(image, "pk")
    if not pk.startswith(EXEC_PREFIX):
        raise ValueError(f"not an execution item: {pk}")
    return pk.removeprefix(EXEC_PREFIX)


def _version(image: Image) -> int:
    try:
        return int(image["v"]["N"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"item {_s(image, 'sk')} has no version v") from err


def _json(image: Image, name: str) -> Any:
    try:
        return json.loads(_s(image, name))
    except json.JSONDecodeError as err:
        raise ValueError(f"item {_s(image, 'sk')}: {name} is not JSON") from err


def project_wave(image: Image) -> ViewRow:
    """The per-wave row from a wave item (sk WAVE#<id>), labelled with the version that wrote the item."""
    if not _s(image, "sk").startswith(WAVE_SK):
        raise ValueError(f"not a wave item: {_s(image, 'sk')}")
    wave = WaveState.model_validate_json(_s(image, "doc"))  # pydantic's ValidationError is a ValueError
    launched, failed, final, total = (int(n) for n in _json(image, "counts"))
    doc = {
        "executionId": _execution_id(image),
        "waveId": wave.wave_id,
        "status": str(wave.status),
        "reason": wave.reason,
        "startedAt": _iso(wave, "started_at"),
        "endedAt": _iso(wave, "ended_at"),
        "jobIds": [str(j) for j in _json(image, "jobIds")],
        "gateOpenedAt": _iso(wave, "gate_opened_at"),
        "approvedBy": wave.approved_by,
        "warnings": list(wave.warnings),
        "serversLaunched": launched,
        "serversFailed": failed,
        "serversTotal": total,
        "progressPercent": percent(final, total) if total or wave.status.terminal else 0.0,
    }
    return ViewRow(f"{WAVE_SK}{wave.wave_id}", doc, _version(image))


def _server_row(execution_id: str, wave_id: str, server: ServerState, version: int) -> ViewRow:
    doc = {
        "executionId": execution_id,
        "waveId": wave_id,
        "sourceServerId": server.source_server_id,
        "launchStatus": str(server.launch_status),
        "jobId": server.job_id,
        "recoveryInstanceId": server.recovery_instance_id,
        "error": server.error,
    }
    return ViewRow(f"{SERVER_SK}{wave_id}#{server.source_server_id}", doc, version)


def _chunk_servers(image: Image) -> dict[str, ServerState]:
    return {s.source_server_id: s for s in (ServerState.model_validate(d) for d in _json(image, "servers"))}


def project_servers(image: Image, old_image: Image | None = None) -> list[ViewRow]:
    """Server rows from a chunk item (those that differ from `old_image`, all without it) or a server item."""
    sk = _s(image, "sk")
    execution_id, version = _execution_id(image), _version(image)
    if sk.startswith(SERVER_SK):
        wave_id = sk.split("#", 2)[1]
        return [_server_row(execution_id, wave_id, ServerState.model_validate_json(_s(image, "doc")), version)]
    if not sk.startswith(CHUNK_SK):
        raise ValueError(f"not a chunk or server item: {sk}")
    wave_id = sk.split("#", 2)[1]
    servers = _chunk_servers(image)
    before: dict[str, ServerState] = {}
    if old_image:
        try:
            before = _chunk_servers(old_image)
        except ValueError:
            before = {}
    return [
        _server_row(execution_id, wave_id, server, version)
        for sid, server in sorted(servers.items())
        if before.get(sid) != server
    ]


def project_summary(header_image: Image) -> ViewRow:
    """The execution summary from the header item alone (it carries the wave statuses and server counts)."""
    header = parse_header(header_image)
    progress = _json(header_image, "progress")
    launched, failed, final, total = (int(n) for n in progress["servers"])
    if "wavesByStatus" in progress:
        by_status = {str(s): int(n) for s, n in progress["wavesByStatus"].items()}
    else:  # a header written before waves were counted by status: one status per wave
        by_status = dict(Counter(str(s) for s in progress["waves"].values()))
    waves = sum(by_status.values())
    status = ExecutionStatus(header.doc["status"])
    done = sum(n for s, n in by_status.items() if WaveStatus(s).terminal)
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
        "wavesByStatus": dict(sorted((s, n) for s, n in by_status.items() if n)),
        "wavesDone": done,
        "wavesTotal": waves,
        "serversLaunched": launched,
        "serversFailed": failed,
        "serversTotal": total,
        "progressPercent": percent(final, total) if total or status.terminal else 0.0,
        "wavesPercent": percent(done, waves),
    }
    return ViewRow(SUMMARY_SK, doc, header.version)


def project_item(image: Image, old_image: Image | None = None) -> list[ViewRow]:
    """The read-model rows one stored execution item changes ([] for the snapshot and unknown items)."""
    sk = _s(image, "sk")
    if sk == "STATE":
        return [project_summary(image)]
    if sk.startswith(WAVE_SK):
        return [project_wave(image)]
    if sk.startswith((CHUNK_SK, SERVER_SK)):
        return project_servers(image, old_image)
    return []


def project_all(items: Iterable[Image]) -> list[ViewRow]:
    """The whole read model of an execution (summary, waves, servers), as a fresh projection of all its items."""
    rows: dict[str, ViewRow] = {}
    for image in sorted(items, key=lambda i: _s(i, "sk")):
        for row in project_item(image):
            kept = rows.get(row.sk)
            if kept is None or row.source_version > kept.source_version:
                rows[row.sk] = row
    return [rows[sk] for sk in sorted(rows)]


def _iso(wave: WaveState, field: str) -> str | None:
    value = wave.model_dump(mode="json", include={field})[field]
    return str(value) if value is not None else None


def _s(image: Image, name: str) -> str:
    try:
        return str(image[name]["S"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"item has no string attribute {name!r}") from err


def newest_rows(projected: Sequence[tuple[str, Sequence[ViewRow]]]) -> list[list[ViewRow]]:
    """The rows a batch of records must write, by record (each given as its execution id and rows): per execution
    and sort key only the newest row (highest source version; the later record on a tie), assigned to the first
    record that has a row for that key.

    A batch gathers several saves of one execution (the summary and a busy wave change at each), so a key's older
    rows would only be overwritten a moment later. The row goes with the key's first record so that if writing it
    fails, that record is reported and the stream is retried from there, which projects every later record again.
    """
    newest: dict[tuple[str, str], ViewRow] = {}
    owner: dict[tuple[str, str], int] = {}
    for index, (execution_id, rows) in enumerate(projected):
        for row in rows:
            key = (execution_id, row.sk)
            owner.setdefault(key, index)
            if key not in newest or row.source_version >= newest[key].source_version:
                newest[key] = row
    out: list[list[ViewRow]] = [[] for _ in projected]
    for key, row in newest.items():
        out[owner[key]].append(row)
    return out
