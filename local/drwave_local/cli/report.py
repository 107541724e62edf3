"""The execution report: machine-readable JSON and the operator's summary table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from drwave.core import objectives
from drwave.core.recovery_points import data_loss_window, describe
from drwave.models.base import iso_z
from drwave.models.execution import Execution, LaunchStatus


def _iso(value: datetime | None) -> str | None:
    return iso_z(value) if value else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def duration_text(seconds: float | None) -> str:
    """Compact h/m/s rendering of a duration."""
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def build_report(
    execution: Execution,
    *,
    ground_truth: Mapping[str, Mapping[str, str]],
    drs_calls: Mapping[str, int],
    invocations: Mapping[str, int],
    events_published: Mapping[str, int],
    hostnames: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-ready report of one execution, checked against the simulator's ground truth."""
    waves = []
    mismatches = []
    for spec in execution.plan.waves:
        state = execution.waves[spec.id]
        servers = []
        for server in state.servers.values():
            truth = ground_truth.get(server.job_id or "", {}).get(server.source_server_id)
            if truth is not None and truth != server.launch_status:
                mismatches.append(f"{server.source_server_id}: drwave {server.launch_status}, DRS {truth}")
            servers.append(
                {
                    "sourceServerId": server.source_server_id,
                    "hostname": hostnames.get(server.source_server_id, ""),
                    "impact": str(server.impact),
                    "launchStatus": str(server.launch_status),
                    "recoveryInstanceId": server.recovery_instance_id,
                    "drsJobId": server.job_id,
                    "error": server.error,
                    "recoverySnapshotId": server.recovery_snapshot_id,
                    "snapshotTakenAt": _iso(server.snapshot_taken_at),
                    "dataLossSeconds": _total(data_loss_window(execution, state, server)),
                    "rtoSeconds": _total(objectives.server_rto(state, server)),
                }
            )
        waves.append(
            {
                "id": spec.id,
                "name": spec.name,
                "dependsOn": spec.depends_on,
                "status": str(state.status),
                "reason": state.reason,
                "startedAt": _iso(state.started_at),
                "endedAt": _iso(state.ended_at),
                "durationSeconds": _seconds(state.started_at, state.ended_at),
                "targetRtoMinutes": spec.target_rto_minutes,
                "rtoMet": objectives.wave_rto(execution, state).met,
                "drsJobIds": [c.job_id for c in state.chunks if c.job_id],
                "launched": sum(s.launch_status is LaunchStatus.LAUNCHED for s in state.servers.values()),
                "failed": sum(s.launch_status is LaunchStatus.FAILED for s in state.servers.values()),
                "warnings": state.warnings,
                "servers": servers,
            }
        )
    return {
        "executionId": execution.execution_id,
        "planId": execution.plan.id,
        "type": str(execution.execution_type),
        "status": str(execution.status),
        "accountId": execution.account_id,
        "region": execution.region,
        "createdAt": _iso(execution.created_at),
        "startedAt": _iso(execution.started_at),
        "endedAt": _iso(execution.ended_at),
        "simulatedRtoSeconds": _seconds(execution.started_at, execution.ended_at),
        "recoveryPoint": {**execution.recovery_point.to_wire(), "description": describe(execution.recovery_point)},
        "objectives": [o.to_wire() for o in objectives.evaluate(execution) if o.scope != "SERVER"],
        "waves": waves,
        "drsApiCalls": dict(sorted(drs_calls.items())),
        "handlerInvocations": dict(sorted(invocations.items())),
        "eventsPublished": dict(sorted(events_published.items())),
        "groundTruthMismatches": mismatches,
        "timeline": [e.to_wire() for e in execution.timeline],
        **(extra or {}),
    }


def _total(delta: timedelta | None) -> float | None:
    return round(delta.total_seconds(), 3) if delta is not None else None


def objective_lines(report: dict[str, Any]) -> list[str]:
    """One line per RTO/RPO measure of the execution and its waves: measured, target, PASS/FAIL."""
    lines = [f"recovery point: {report['recoveryPoint']['description']}"]
    for o in report.get("objectives", []):
        if "measuredSeconds" not in o and "targetMinutes" not in o:
            continue
        subject = "execution" if o["scope"] == "EXECUTION" else f"wave {o['subject']}"
        measured = duration_text(o.get("measuredSeconds"))
        target = f"target {o['targetMinutes']:g} min" if "targetMinutes" in o else "no target"
        verdict = {True: "PASS", False: "FAIL"}.get(o.get("met"), "-")
        worst = " (worst server)" if o["kind"] == "RPO" and o["scope"] == "EXECUTION" else ""
        lines.append(f"{o['kind']} {subject}{worst}: {measured}, {target}: {verdict}")
    return lines


def summary_table(report: dict[str, Any]) -> str:
    """The per-wave table the operator reads at the end of a run."""
    start = datetime.fromisoformat(report["startedAt"]) if report["startedAt"] else None

    def offset(value: str | None) -> str:
        if not value or start is None:
            return "-"
        delta: timedelta = datetime.fromisoformat(value) - start
        return "T+" + duration_text(delta.total_seconds())

    columns = ("start", "end", "duration", "launched", "failed", "jobs")
    widths = (11, 11, 9, 8, 6, 4)
    header = f"{'wave':<14} {'status':<24} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    lines = [header, "-" * len(header)]
    for wave in report["waves"]:
        lines.append(
            f"{wave['id']:<14} {wave['status']:<24} {offset(wave['startedAt']):>11} {offset(wave['endedAt']):>11} "
            f"{duration_text(wave['durationSeconds']):>9} {wave['launched']:>8} {wave['failed']:>6} "
            f"{len(wave['drsJobIds']):>4}"
        )
    lines.append("-" * len(header))
    lines.append(
        f"execution {report['executionId']} {report['type']} -> {report['status']}; "
        f"total simulated RTO {duration_text(report['simulatedRtoSeconds'])}"
    )
    lines.extend(objective_lines(report))
    calls = ", ".join(f"{op} {n}" for op, n in report["drsApiCalls"].items())
    lines.append(f"DRS API calls: {calls or 'none'} (total {sum(report['drsApiCalls'].values())})")
    if report["groundTruthMismatches"]:
        lines.append("MISMATCH with the simulator's ground truth: " + "; ".join(report["groundTruthMismatches"]))
    else:
        lines.append("Every server's recorded launch status matches the simulated DRS ground truth.")
    return "\n".join(lines)
