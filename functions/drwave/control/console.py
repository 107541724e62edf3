"""Read-model views for the web console: what the console's routes return.

Everything live here comes from the status projection (pk VIEW#<executionId>, written by project-status), never from
the execution's own items: the console polls these routes every second or two. The only other reads are the
execution's immutable plan snapshot (the wave graph it runs), the kind-index listing (newest first, filtered) and the
capacity ledgers. Each view says which operator actions the caller's role may take right now, so the page shows a
button only where pressing it can succeed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from drwave.control.errors import NotFound
from drwave.control.roles import Caller, Permission
from drwave.control.service import ControlPlane, translate_failures
from drwave.core.capacity import MAX_ACTIVE_JOBS, MAX_SERVERS_IN_ACTIVE_JOBS
from drwave.engine.ports import Dependencies
from drwave.models.base import iso_z
from drwave.models.execution import ExecutionStatus, ExecutionType, WaveStatus
from drwave.models.plan import RecoveryPlan

_CONTROLLABLE = frozenset(
    {ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING_APPROVAL, ExecutionStatus.PAUSED}
)


def permissions(caller: Caller) -> dict[str, Any]:
    """Who the caller is and what their role grants (the console hides what it does not)."""
    return {
        "identity": caller.identity,
        "role": caller.role.value,
        "may": sorted(p.name.lower() for p in Permission if caller.may(p)),
    }


class Console:
    """The console's views over the read model."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.plane = ControlPlane(deps)

    def executions(self, caller: Caller, query: Any) -> dict[str, Any]:
        """Executions newest first (filtered like GET /executions), each with its projected summary."""
        page = self.plane.list_executions(caller, query)
        with translate_failures():
            for item in page["items"]:
                item["summary"] = self.deps.store.load_view_row(item["executionId"], "SUMMARY")
        return page

    def execution(self, caller: Caller, execution_id: str) -> dict[str, Any]:
        """One execution as the projection has it, with its wave graph and the actions the caller may take."""
        caller.require(Permission.READ)
        with translate_failures():
            snapshot = self.deps.store.execution_item(execution_id, "SNAPSHOT")
            view = self.deps.store.load_view(execution_id)
        if snapshot is None:
            raise NotFound(f"executionId: no execution {execution_id!r}")
        plan = RecoveryPlan.model_validate(json.loads(snapshot["doc"]["S"])["plan"])
        view = view or {"summary": None, "waves": {}, "servers": {}}
        summary = view["summary"]
        waves = []
        for position, spec in enumerate(plan.waves, start=1):
            rows = view["servers"].get(spec.id, {})
            gate = spec.pause_before_wave
            waves.append(
                {
                    "waveId": spec.id,
                    "name": spec.name,
                    "waveNumber": position,
                    "dependsOn": list(spec.depends_on),
                    "gate": None if gate is None else {"timeoutMinutes": gate.timeout_minutes, "message": gate.message},
                    "failurePolicy": str(spec.failure_policy),
                    "state": view["waves"].get(spec.id),
                    "servers": [rows[s] for s in sorted(rows)],
                }
            )
        return {
            "executionId": execution_id,
            "planId": plan.id,
            "planName": plan.name,
            "summary": summary,
            "waves": waves,
            "actions": allowed_actions(caller, summary, waves),
            "asOf": iso_z(self.deps.now()),
            "etag": view_etag(view, caller),
        }

    def capacity(self, caller: Caller) -> dict[str, Any]:
        """DRS capacity in use per account and Region the protection groups name (and the stack's own)."""
        caller.require(Permission.READ)
        with translate_failures():
            places = {(self.deps.account_id, self.deps.region)}
            places |= {
                (g.get("accountId") or self.deps.account_id, g.get("region") or self.deps.region)
                for g in self.plane.list_groups(caller)
            }
            ledgers = [self.deps.store.load_ledger(a, r) for a, r in sorted(places)]
        return {
            "items": [
                {
                    "accountId": ledger.account_id,
                    "region": ledger.region,
                    "activeJobs": ledger.active_jobs,
                    "maxActiveJobs": MAX_ACTIVE_JOBS,
                    "serversInActiveJobs": ledger.active_servers,
                    "maxServersInActiveJobs": MAX_SERVERS_IN_ACTIVE_JOBS,
                    "wavesWaiting": len(ledger.waiters),
                }
                for ledger in ledgers
            ]
        }


def allowed_actions(caller: Caller, summary: dict[str, Any] | None, waves: list[dict[str, Any]]) -> dict[str, Any]:
    """The operator actions the caller may take now; none until the execution is projected."""
    if summary is None:
        return {"pause": False, "resume": False, "cancel": False, "approve": [], "retry": [], "terminate": False}
    status = ExecutionStatus(summary["status"])
    recovery = summary.get("executionType") == ExecutionType.RECOVERY.value
    control = caller.may(Permission.CONTROL) and status in _CONTROLLABLE
    start = caller.may(Permission.START_RECOVERY if recovery else Permission.START_DRILL)
    terminate = caller.may(Permission.TERMINATE_RECOVERY if recovery else Permission.TERMINATE_DRILL)

    def with_status(wanted: WaveStatus) -> list[str]:
        return [w["waveId"] for w in waves if (w["state"] or {}).get("status") == wanted.value]

    # Only an operator's hold (PAUSED, pausedBy set) is resumed; WAITING_APPROVAL waits for an approver instead.
    held = bool(summary.get("pausedBy"))
    return {
        "pause": control and not held,
        "resume": control and held,
        "cancel": control,
        "approve": with_status(WaveStatus.WAITING_APPROVAL) if control else [],
        "retry": with_status(WaveStatus.FAILED) if start and status.terminal else [],
        "terminate": terminate and status.terminal and summary.get("serversLaunched", 0) > 0,
    }


def view_etag(view: dict[str, Any], caller: Caller) -> str:
    """A strong ETag of a read model as the caller sees it: every row's source version, and the caller's role."""
    versions = [("SUMMARY", (view["summary"] or {}).get("sourceVersion"))]
    versions += sorted((f"WAVE#{w}", d.get("sourceVersion")) for w, d in view["waves"].items())
    versions += sorted(
        (f"SERVER#{w}#{s}", d.get("sourceVersion")) for w, rows in view["servers"].items() for s, d in rows.items()
    )
    digest = hashlib.sha256(json.dumps([caller.role.value, versions]).encode()).hexdigest()
    return f'"{digest[:20]}"'
