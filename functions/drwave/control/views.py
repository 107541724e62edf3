"""What the control plane returns for executions, waves and servers (plain JSON-ready dicts)."""

from __future__ import annotations

from typing import Any

from drwave.adapters.drs import SourceServer
from drwave.core import objectives
from drwave.models.base import iso_z
from drwave.models.execution import Execution, LaunchStatus, WaveState, WaveStatus

_DONE = (LaunchStatus.LAUNCHED, LaunchStatus.FAILED)


def _iso(value: Any) -> str | None:
    return iso_z(value) if value is not None else None


def _counts(wave: WaveState) -> dict[str, int]:
    servers = wave.servers.values()
    return {
        "total": len(wave.servers),
        "launched": sum(s.launch_status is LaunchStatus.LAUNCHED for s in servers),
        "failed": sum(s.launch_status is LaunchStatus.FAILED for s in servers),
    }


def _phase(wave: WaveState) -> str:
    """The seed's three-way wave status (what its Choice state branches on): COMPLETED, FAILED or IN_PROGRESS."""
    if wave.status in (WaveStatus.COMPLETED, WaveStatus.COMPLETED_WITH_WARNINGS):
        return "COMPLETED"
    if wave.status in (WaveStatus.FAILED, WaveStatus.SKIPPED, WaveStatus.CANCELLED):
        return "FAILED"
    return "IN_PROGRESS"


def wave_view(execution: Execution, wave_id: str) -> dict[str, Any]:
    """One wave: status, gate, jobs, actions and per-server results."""
    wave = execution.waves[wave_id]
    number = next(i for i, w in enumerate(execution.plan.waves, start=1) if w.id == wave_id)
    return {
        "executionId": execution.execution_id,
        "waveId": wave_id,
        "waveNumber": number,
        "status": wave.status.value,
        "phase": _phase(wave),
        "reason": wave.reason,
        "approvedBy": wave.approved_by,
        "startedAt": _iso(wave.started_at),
        "endedAt": _iso(wave.ended_at),
        "jobIds": [c.job_id for c in wave.chunks if c.job_id],
        "servers": _counts(wave),
        "sourceServers": [s.to_wire() for s in wave.servers.values()],
        "preActions": [a.to_wire() for a in wave.pre_actions.values()],
        "postActions": [a.to_wire() for a in wave.post_actions.values()],
        "warnings": wave.warnings,
    }


def execution_view(execution: Execution) -> dict[str, Any]:
    """An execution's summary: status, progress and each wave's state."""
    waves = [execution.waves[w.id] for w in execution.plan.waves]
    total = sum(len(w.servers) for w in waves)
    done = sum(s.launch_status in _DONE for w in waves for s in w.servers.values())
    finished = sum(
        w.status.value in ("COMPLETED", "COMPLETED_WITH_WARNINGS", "FAILED", "SKIPPED", "CANCELLED") for w in waves
    )
    return {
        "executionId": execution.execution_id,
        "planId": execution.plan.id,
        "planName": execution.plan.name,
        "executionType": execution.execution_type.value,
        "status": execution.status.value,
        "startedBy": execution.started_by,
        "retryOf": execution.retry_of,
        "pausedBy": execution.paused_by,
        "accountId": execution.account_id,
        "region": execution.region,
        "createdAt": _iso(execution.created_at),
        "startedAt": _iso(execution.started_at),
        "endedAt": _iso(execution.ended_at),
        "progress": {
            "waves": f"{finished}/{len(waves)}",
            "servers": f"{done}/{total}",
            "percent": round(100 * finished / len(waves), 1) if waves else 100.0,
        },
        "waves": [
            {"waveId": w.wave_id, "status": w.status.value, "reason": w.reason, "servers": _counts(w)}
            | {"jobIds": [c.job_id for c in w.chunks if c.job_id]}
            for w in waves
        ],
        "recoveryPoint": execution.recovery_point.to_wire(),
        # The execution's RTO and worst RPO, and each wave's RTO, against their targets (servers: the report).
        "objectives": [
            o.to_wire()
            for o in [objectives.execution_rto(execution), objectives.worst_rpo(execution)]
            + [objectives.wave_rto(execution, w) for w in waves]
        ],
    }


def server_view(server: SourceServer) -> dict[str, Any]:
    """A DRS source server as listed by the API."""
    return {
        "sourceServerId": server.source_server_id,
        "hostname": server.hostname,
        "replicationState": server.replication_state,
        "tags": server.tags,
    }


def recovery_instances_view(execution: Execution, described: list[dict[str, Any]]) -> dict[str, Any]:
    """The execution's recovery instances, joined with DRS's current description of each."""
    by_id = {d["recoveryInstanceID"]: d for d in described}
    instances = []
    for wave in execution.waves.values():
        for server in wave.servers.values():
            if server.recovery_instance_id is None:
                continue
            found = by_id.get(server.recovery_instance_id, {})
            instances.append(
                {
                    "recoveryInstanceId": server.recovery_instance_id,
                    "sourceServerId": server.source_server_id,
                    "waveId": wave.wave_id,
                    "ec2InstanceId": found.get("ec2InstanceID"),
                    "state": found.get("ec2InstanceState", "TERMINATED_OR_UNKNOWN"),
                    "isDrill": found.get("isDrill"),
                }
            )
    return {"executionId": execution.execution_id, "instances": instances, "count": len(instances)}
