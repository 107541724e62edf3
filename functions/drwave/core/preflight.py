"""Pre-flight: everything that would stop a plan from running now, listed in full (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from drwave.core.capacity import DrsLimits, split_into_chunks
from drwave.core.launch import validate_launch_settings
from drwave.models.capacity import CapacityLedger
from drwave.models.execution import Execution, WaveStatus
from drwave.models.plan import ProtectionGroup, RecoveryPlan

REPLICATING = "CONTINUOUS"
_NOT_STARTED = (WaveStatus.PENDING, WaveStatus.WAITING_APPROVAL, WaveStatus.PRE_ACTIONS)


class InventoryServer(Protocol):
    """A DRS source server as pre-flight needs it."""

    @property
    def source_server_id(self) -> str: ...

    @property
    def tags(self) -> dict[str, str]: ...

    @property
    def replication_state(self) -> str | None: ...


@dataclass(frozen=True)
class Problem:
    """One reason the plan cannot run as it stands."""

    code: str
    message: str
    wave_id: str | None = None
    group_id: str | None = None
    source_server_id: str | None = None

    def to_wire(self) -> dict[str, str]:
        """JSON form, without empty fields."""
        wire = {"code": self.code, "message": self.message, "waveId": self.wave_id, "groupId": self.group_id}
        wire["sourceServerId"] = self.source_server_id
        return {k: v for k, v in wire.items() if v is not None}


@dataclass
class PreflightReport:
    """Every problem and warning, and the servers each wave would launch."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    wave_servers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing blocks the plan (warnings do not)."""
        return not self.problems

    def to_wire(self) -> dict[str, object]:
        """JSON form."""
        return {
            "ok": self.ok,
            "problems": [p.to_wire() for p in self.problems],
            "warnings": [w.to_wire() for w in self.warnings],
            "waves": [{"waveId": w, "sourceServerIds": ids} for w, ids in self.wave_servers.items()],
        }


def group_members(group: ProtectionGroup, inventory: Sequence[InventoryServer]) -> list[str]:
    """The servers a group selects right now: its explicit ids, or the inventory servers matching every tag."""
    if group.source_server_ids is not None:
        return list(group.source_server_ids)
    return [s.source_server_id for s in inventory if group.selects(s.tags)]


def claimed_servers(execution: Execution, inventory: Sequence[InventoryServer] = ()) -> set[str]:
    """Servers an active execution is launching or will launch: those of its launched waves, and what the groups
    of its waves not launched yet select now (explicit ids, or tag selectors matched against `inventory`)."""
    claimed: set[str] = set()
    for wave in execution.plan.waves:
        state = execution.waves[wave.id]
        claimed.update(state.servers)
        if state.status in _NOT_STARTED and not state.servers_resolved:
            for group_id in wave.protection_group_ids:
                claimed.update(group_members(execution.protection_groups[group_id], inventory))
    return claimed


def check_plan(
    plan: RecoveryPlan,
    groups: Mapping[str, ProtectionGroup],
    inventory: Sequence[InventoryServer],
    busy: Mapping[str, str],
    ledger: CapacityLedger,
    limits: DrsLimits,
) -> PreflightReport:
    """Check every wave's servers: they resolve, replicate continuously, are free, launch with valid settings,
    and fit DRS capacity."""
    report = PreflightReport()
    known = {s.source_server_id: s for s in inventory}
    seen: set[str] = set()
    checked_groups: set[str] = set()
    for wave in plan.waves:
        ids: dict[str, None] = {}
        for group_id in wave.protection_group_ids:
            group = groups.get(group_id)
            if group is None:
                report.problems.append(
                    Problem("GROUP_NOT_FOUND", f"protection group {group_id} does not exist", wave.id, group_id)
                )
                continue
            members = group_members(group, inventory)
            if group_id not in checked_groups:
                checked_groups.add(group_id)
                report.problems.extend(
                    Problem("LAUNCH_SETTINGS_INVALID", text, wave.id, group_id)
                    for text in validate_launch_settings(group, members)
                )
            if not members:
                report.problems.append(
                    Problem("GROUP_EMPTY", f"protection group {group_id} selects no source server", wave.id, group_id)
                )
            ids.update(dict.fromkeys(members))
        report.wave_servers[wave.id] = list(ids)
        for sid in ids:
            report.problems.extend(_server_problems(sid, known, busy, wave.id, seen))
            seen.add(sid)
    report.warnings.extend(_capacity_warnings(report.wave_servers, ledger, limits))
    return report


def _server_problems(
    sid: str, known: Mapping[str, InventoryServer], busy: Mapping[str, str], wave_id: str, seen: set[str]
) -> list[Problem]:
    if sid in seen:
        return [Problem("SERVER_IN_TWO_WAVES", f"{sid} is launched by an earlier wave too", wave_id, None, sid)]
    server = known.get(sid)
    if server is None:
        return [Problem("SERVER_NOT_FOUND", f"{sid} is not a DRS source server here", wave_id, None, sid)]
    problems = []
    if server.replication_state != REPLICATING:
        state = server.replication_state or "unknown"
        problems.append(
            Problem("NOT_REPLICATING", f"{sid} replication is {state}, not {REPLICATING}", wave_id, None, sid)
        )
    if sid in busy:
        problems.append(Problem("SERVER_BUSY", f"{sid} is in active execution {busy[sid]}", wave_id, None, sid))
    return problems


def _capacity_warnings(
    wave_servers: Mapping[str, list[str]], ledger: CapacityLedger, limits: DrsLimits
) -> list[Problem]:
    warnings = []
    free_jobs = limits.active_jobs - ledger.active_jobs
    free_servers = limits.servers_in_active_jobs - sum(len(r.source_server_ids) for r in ledger.reservations.values())
    for wave_id, ids in wave_servers.items():
        jobs = len(split_into_chunks(ids)) if ids else 0
        if jobs > free_jobs or len(ids) > free_servers:
            warnings.append(
                Problem(
                    "CAPACITY_WAIT",
                    f"{len(ids)} servers in {jobs} jobs; DRS has {max(free_jobs, 0)} free jobs and "
                    f"{max(free_servers, 0)} free server slots now: the wave will wait for capacity",
                    wave_id,
                )
            )
    return warnings
