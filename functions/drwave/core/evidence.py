"""The evidence report of an execution: one JSON document (with a content hash) that the HTML and Markdown
renderings (core.evidence_render) are made from. Pure: the execution is loaded with its whole timeline.

It answers an auditor's questions: what plan ran (its snapshot), who started, approved, paused or cancelled what
and when, what pre-flight found, what each wave and server did (DRS job ids, recovery instances), which recovery
point each server launched from and how much data that lost, RTO/RPO against the objectives, and the cleanup.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from drwave.core import cleanup as rules
from drwave.core import objectives
from drwave.core.recovery_points import data_loss_window, describe
from drwave.models.base import iso_z
from drwave.models.cleanup import DrillCleanup
from drwave.models.execution import Execution, LaunchStatus, WaveState

REPORT_VERSION = "1"
FORMATS = ("html", "md", "json")
# Timeline events that record a person's decision (the actor is in the detail: "by <name>").
PEOPLE_EVENTS = {
    "GATE_APPROVED": "approved the gate",
    "EXECUTION_PAUSED": "paused the execution",
    "EXECUTION_RESUMED": "resumed the execution",
    "CANCEL_REQUESTED": "cancelled the execution",
    "ERROR_REPORTED": "reported an error",
}


def _iso(value: datetime | None) -> str | None:
    return iso_z(value) if value else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def _actor(detail: str) -> str:
    """The person named in a timeline detail ("by alice", "by bob: ..."), or the whole detail."""
    if "by " not in detail:
        return detail
    return detail.split("by ", 1)[1].split(":", 1)[0].split(" (", 1)[0].strip()


def content_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the document's canonical JSON, leaving out its own hash and when it was rendered."""
    body = {k: v for k, v in document.items() if k not in ("contentSha256", "generatedAt")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_evidence(
    execution: Execution,
    *,
    hostnames: Mapping[str, str] | None = None,
    generated_at: datetime | None = None,
    cleanup: DrillCleanup | None = None,
) -> dict[str, Any]:
    """The evidence document of one execution (JSON-ready), with its content hash."""
    names = hostnames or {}
    exe = execution
    people = [
        {"at": _iso(exe.created_at), "who": exe.started_by, "action": f"started the {exe.execution_type}"},
    ]
    people += [
        {"at": _iso(e.at), "who": _actor(e.detail), "action": PEOPLE_EVENTS[e.event], "waveId": e.wave_id}
        for e in exe.timeline
        if e.event in PEOPLE_EVENTS
    ]
    waves = []
    for spec in exe.plan.waves:
        state = exe.waves[spec.id]
        rto = objectives.wave_rto(exe, state)
        servers = []
        for server in state.servers.values():
            window = data_loss_window(exe, state, server)
            server_rto = objectives.server_rto(state, server)
            rpo_target = exe.plan.target_rpo_minutes
            servers.append(
                {
                    "sourceServerId": server.source_server_id,
                    "hostname": names.get(server.source_server_id, ""),
                    "impact": str(server.impact),
                    "launchStatus": str(server.launch_status),
                    "drsJobId": server.job_id,
                    "recoveryInstanceId": server.recovery_instance_id,
                    "error": server.error,
                    "jobStartedAt": _iso(_job_started(state, server.job_id)),
                    "endedAt": _iso(server.updated_at) if server.launch_status.final else None,
                    "rtoSeconds": server_rto.total_seconds() if server_rto is not None else None,
                    "rtoMet": objectives.Objective(
                        "RTO", "SERVER", server.source_server_id, server_rto, rto.target
                    ).met,
                    "recoverySnapshotId": server.recovery_snapshot_id,
                    "snapshotTakenAt": _iso(server.snapshot_taken_at),
                    "dataLossSeconds": window.total_seconds() if window is not None else None,
                    "rpoMet": None
                    if rpo_target is None or window is None
                    else window.total_seconds() <= rpo_target * 60,
                }
            )
        waves.append(
            {
                "id": spec.id,
                "name": spec.name,
                "dependsOn": spec.depends_on,
                "status": str(state.status),
                "reason": state.reason,
                "gateOpenedAt": _iso(state.gate_opened_at),
                "approvedBy": state.approved_by,
                "startedAt": _iso(state.started_at),
                "endedAt": _iso(state.ended_at),
                "rto": rto.to_wire(),
                "drsJobIds": [c.job_id for c in state.chunks if c.job_id],
                "actions": [
                    {"phase": phase, "name": run.name, "status": str(run.status), "commandId": run.command_id}
                    | ({"error": run.error} if run.error else {})
                    for phase in ("pre", "post")
                    for run in state.action_runs(phase).values()
                ],
                "launched": sum(s.launch_status is LaunchStatus.LAUNCHED for s in state.servers.values()),
                "failed": sum(s.launch_status is LaunchStatus.FAILED for s in state.servers.values()),
                "warnings": state.warnings,
                "servers": servers,
            }
        )
    document: dict[str, Any] = {
        "reportVersion": REPORT_VERSION,
        "executionId": exe.execution_id,
        "executionType": str(exe.execution_type),
        "status": str(exe.status),
        "planId": exe.plan.id,
        "planName": exe.plan.name,
        "accountId": exe.account_id,
        "region": exe.region,
        "startedBy": exe.started_by,
        "retryOf": exe.retry_of,
        "createdAt": _iso(exe.created_at),
        "startedAt": _iso(exe.started_at),
        "endedAt": _iso(exe.ended_at),
        "generatedAt": _iso(generated_at),
        "rtoSeconds": _seconds(exe.started_at, exe.ended_at),
        "recoveryPoint": {**exe.recovery_point.to_wire(), "description": describe(exe.recovery_point)},
        "objectives": [o.to_wire() for o in [objectives.execution_rto(exe), objectives.worst_rpo(exe)]],
        "people": people,
        "preflight": [f.to_wire() for f in exe.preflight_findings],
        "waves": waves,
        "cleanup": _cleanup(exe, cleanup),
        "timeline": [e.to_wire() for e in exe.timeline],
        "planSnapshot": {
            "recoveryPlan": exe.plan.to_wire(),
            "protectionGroups": [g.to_wire() for g in exe.protection_groups.values()],
        },
    }
    document["contentSha256"] = content_hash(document)
    return document


def _cleanup(exe: Execution, cleanup: DrillCleanup | None) -> dict[str, Any]:
    """The automatic cleanup's outcome (DRILL with a TTL), or why there is none."""
    if cleanup is not None:
        return rules.summary(cleanup)
    if not exe.is_drill:
        return {"status": "NOT_APPLICABLE", "reason": "RECOVERY instances are never terminated automatically"}
    return {"status": "NONE", "reason": "no drill TTL (drillTtlMinutes) was set, or nothing was launched"}


def _job_started(state: WaveState, job_id: str | None) -> datetime | None:
    chunk = next((c for c in state.chunks if job_id and c.job_id == job_id), None)
    return chunk.started_at if chunk else None
