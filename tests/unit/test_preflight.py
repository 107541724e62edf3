"""Pre-flight: every problem that would stop a plan, listed in full; capacity shortfalls only warn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from drwave.core.capacity import DrsLimits
from drwave.core.preflight import PreflightReport, check_plan, claimed_servers, group_members
from drwave.models.capacity import CapacityLedger, Reservation
from drwave.models.execution import Execution, ServerState, WaveStatus
from drwave.models.plan import ProtectionGroup, RecoveryPlan, Wave

ACCOUNT, REGION = "111122223333", "us-east-1"


@dataclass(frozen=True)
class Server:
    """A DRS source server as pre-flight sees it."""

    source_server_id: str
    replication_state: str | None = "CONTINUOUS"
    tags: dict[str, str] = field(default_factory=dict)


def sid(n: int) -> str:
    return f"s-{n:017d}"


def explicit(group_id: str, *numbers: int) -> ProtectionGroup:
    return ProtectionGroup(id=group_id, name=group_id, source_server_ids=[sid(n) for n in numbers])


def tagged(group_id: str, **tags: str) -> ProtectionGroup:
    return ProtectionGroup.model_validate(
        {"id": group_id, "name": group_id, "serverSelectionTags": [{"key": k, "value": v} for k, v in tags.items()]}
    )


def plan_of(*waves: tuple[str, list[str]]) -> RecoveryPlan:
    return RecoveryPlan(
        id="plan-1", name="Plan", waves=[Wave(id=w, protection_group_ids=groups) for w, groups in waves]
    )


def check(
    plan: RecoveryPlan,
    groups: list[ProtectionGroup],
    inventory: list[Server],
    busy: dict[str, str] | None = None,
    ledger: CapacityLedger | None = None,
    limits: DrsLimits | None = None,
) -> PreflightReport:
    return check_plan(
        plan,
        {g.id: g for g in groups},
        inventory,
        busy or {},
        ledger or CapacityLedger(account_id=ACCOUNT, region=REGION),
        limits or DrsLimits(),
    )


def codes(report: PreflightReport) -> list[tuple[str, str | None]]:
    return [(p.code, p.source_server_id or p.group_id) for p in report.problems]


def test_a_plan_whose_servers_all_replicate_and_are_free_is_ok() -> None:
    # GIVEN two waves of replicating servers
    report = check(
        plan_of(("db", ["pg-db"]), ("app", ["pg-app"])),
        [explicit("pg-db", 1), explicit("pg-app", 2, 3)],
        [Server(sid(1)), Server(sid(2)), Server(sid(3))],
    )
    # THEN nothing blocks it and each wave lists the servers it would launch
    assert report.ok
    assert report.to_wire() == {
        "ok": True,
        "problems": [],
        "warnings": [],
        "waves": [
            {"waveId": "db", "sourceServerIds": [sid(1)]},
            {"waveId": "app", "sourceServerIds": [sid(2), sid(3)]},
        ],
    }


def test_every_problem_is_listed_not_just_the_first() -> None:
    # GIVEN a plan with one of each problem across four waves
    plan = plan_of(
        ("w1", ["pg-missing", "pg-empty"]),
        ("w2", ["pg-a"]),
        ("w3", ["pg-b"]),
    )
    groups = [tagged("pg-empty", tier="nothing-has-this"), explicit("pg-a", 1, 2, 3, 4), explicit("pg-b", 4)]
    inventory = [Server(sid(1)), Server(sid(2), replication_state="STALLED"), Server(sid(4))]
    # WHEN checking it (server 3 is unknown to DRS, server 4 is busy elsewhere and in two waves)
    report = check(plan, groups, inventory, busy={sid(4): "exec-other"})
    # THEN every problem is reported, each naming its wave and what it is about
    assert not report.ok
    assert codes(report) == [
        ("GROUP_NOT_FOUND", "pg-missing"),
        ("GROUP_EMPTY", "pg-empty"),
        ("NOT_REPLICATING", sid(2)),
        ("SERVER_NOT_FOUND", sid(3)),
        ("SERVER_BUSY", sid(4)),
        ("SERVER_IN_TWO_WAVES", sid(4)),
    ]
    assert [p.wave_id for p in report.problems] == ["w1", "w1", "w2", "w2", "w2", "w3"]
    assert "exec-other" in report.problems[4].message


def test_a_server_may_both_not_replicate_and_be_busy() -> None:
    report = check(
        plan_of(("w1", ["pg-a"])),
        [explicit("pg-a", 1)],
        [Server(sid(1), replication_state="PAUSED")],
        busy={sid(1): "exec-other"},
    )
    assert codes(report) == [("NOT_REPLICATING", sid(1)), ("SERVER_BUSY", sid(1))]


def test_a_server_with_no_replication_state_is_not_replicating() -> None:
    report = check(plan_of(("w1", ["pg-a"])), [explicit("pg-a", 1)], [Server(sid(1), replication_state=None)])
    assert codes(report) == [("NOT_REPLICATING", sid(1))]
    assert "unknown" in report.problems[0].message


def test_the_same_server_in_two_groups_of_one_wave_is_launched_once() -> None:
    report = check(plan_of(("w1", ["pg-a", "pg-b"])), [explicit("pg-a", 1), explicit("pg-b", 1)], [Server(sid(1))])
    assert report.ok
    assert report.wave_servers == {"w1": [sid(1)]}


def test_a_tag_selected_group_resolves_against_the_inventory() -> None:
    # GIVEN a group selecting tier=web, case-insensitively
    group = tagged("pg-web", Tier="Web")
    inventory = [Server(sid(1), tags={"tier": "web"}), Server(sid(2), tags={"tier": "db"}), Server(sid(3))]
    # THEN only the matching servers are members, and the wave launches them
    assert group_members(group, inventory) == [sid(1)]
    assert check(plan_of(("w1", ["pg-web"])), [group], inventory).wave_servers == {"w1": [sid(1)]}


def test_explicit_members_are_listed_even_when_drs_does_not_know_them() -> None:
    assert group_members(explicit("pg-a", 1, 9), [Server(sid(1))]) == [sid(1), sid(9)]


def test_a_wave_larger_than_free_capacity_is_a_warning_not_a_problem() -> None:
    # GIVEN DRS with room for one job, already taken by another execution
    ledger = CapacityLedger(
        account_id=ACCOUNT,
        region=REGION,
        reservations={
            "exec-other#w#0": Reservation(
                execution_id="exec-other",
                wave_id="w",
                source_server_ids=[sid(50)],
                reserved_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
        },
    )
    report = check(
        plan_of(("w1", ["pg-a"])),
        [explicit("pg-a", 1, 2)],
        [Server(sid(1)), Server(sid(2))],
        ledger=ledger,
        limits=DrsLimits(active_jobs=1),
    )
    # THEN the plan may run: the wave is predicted to wait
    assert report.ok
    assert [(w.code, w.wave_id) for w in report.warnings] == [("CAPACITY_WAIT", "w1")]
    assert "0 free jobs" in report.warnings[0].message


def test_a_wave_with_more_servers_than_free_slots_warns() -> None:
    report = check(
        plan_of(("w1", ["pg-a"])),
        [explicit("pg-a", 1, 2, 3)],
        [Server(sid(n)) for n in (1, 2, 3)],
        limits=DrsLimits(servers_in_active_jobs=2),
    )
    assert report.ok
    assert [w.code for w in report.warnings] == ["CAPACITY_WAIT"]


def test_a_wave_that_fits_capacity_does_not_warn() -> None:
    report = check(plan_of(("w1", ["pg-a"])), [explicit("pg-a", 1)], [Server(sid(1))], limits=DrsLimits(active_jobs=1))
    assert report.warnings == []


# --- claimed_servers ---------------------------------------------------------------------------------------


def execution_of(make_execution: Callable[..., Execution], group: ProtectionGroup, **statuses: Any) -> Execution:
    """An execution of waves w1.. over one group, with the given wave statuses."""
    execution = make_execution([Wave(id=w, protection_group_ids=[group.id]) for w in statuses])
    execution.protection_groups = {group.id: group}
    for wave_id, status in statuses.items():
        execution.waves[wave_id].status = status
    return execution


def test_an_execution_claims_the_explicit_servers_of_waves_not_yet_launched(
    make_execution: Callable[..., Execution],
) -> None:
    execution = execution_of(make_execution, explicit("pg-app", 1, 2), w1=WaveStatus.PENDING)
    assert claimed_servers(execution) == {sid(1), sid(2)}


def test_an_execution_claims_the_servers_its_launched_waves_resolved(make_execution: Callable[..., Execution]) -> None:
    # GIVEN a tag-selected group: a launching wave resolved two servers
    execution = execution_of(make_execution, tagged("pg-app", tier="web"), w1=WaveStatus.LAUNCHING)
    execution.waves["w1"].servers = {s: ServerState(source_server_id=s) for s in (sid(7), sid(8))}
    # THEN those are claimed (and nothing else: tags are resolved only when a wave launches)
    assert claimed_servers(execution) == {sid(7), sid(8)}


def test_a_pending_tag_selected_wave_claims_what_its_selector_matches_now(
    make_execution: Callable[..., Execution],
) -> None:
    # GIVEN an execution whose tag-selected wave has not launched yet, and an inventory with one matching server
    execution = execution_of(make_execution, tagged("pg-app", tier="web"), w1=WaveStatus.WAITING_APPROVAL)
    inventory = [Server(sid(1), tags={"Tier": " WEB "}), Server(sid(2), tags={"tier": "db"})]
    # THEN the matching server is claimed (so another plan over it is refused), and nothing without an inventory
    assert claimed_servers(execution, inventory) == {sid(1)}
    assert claimed_servers(execution) == set()
