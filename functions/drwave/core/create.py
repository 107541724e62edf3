"""Building a new execution from a plan and its protection groups."""

from __future__ import annotations

from datetime import datetime

from drwave.models.execution import Execution, ExecutionType, WaveState
from drwave.models.plan import ProtectionGroup, RecoveryPlan
from drwave.models.recovery import RecoveryPoint


class PlanNotRunnable(ValueError):
    """The plan cannot be executed as stored (missing groups, mixed target regions)."""


def new_execution(
    execution_id: str,
    plan: RecoveryPlan,
    groups: dict[str, ProtectionGroup],
    execution_type: ExecutionType,
    *,
    default_account_id: str,
    started_by: str,
    now: datetime,
    retry_of: str | None = None,
    recovery_point: RecoveryPoint | None = None,
    drill_ttl_minutes: int | None = None,
) -> Execution:
    """A PENDING execution holding a snapshot of the plan and groups, so later edits cannot change it."""
    try:
        plan.check_groups(set(groups))
    except ValueError as err:
        raise PlanNotRunnable(str(err)) from None
    used = [groups[g] for w in plan.waves for g in w.protection_group_ids]
    targets = {(g.account_id or default_account_id, g.region) for g in used}
    if len(targets) != 1:
        listed = ", ".join(f"{a}/{r}" for a, r in sorted(targets))
        raise PlanNotRunnable(f"protectionGroups: one execution targets one account and region, found {listed}")
    ((account_id, region),) = targets
    return Execution(
        execution_id=execution_id,
        plan=plan,
        protection_groups={g.id: g for g in used},
        execution_type=execution_type,
        account_id=account_id,
        region=region,
        started_by=started_by,
        retry_of=retry_of,
        recovery_point=recovery_point or RecoveryPoint(),
        drill_ttl_minutes=drill_ttl_minutes,
        created_at=now,
        waves={w.id: WaveState(wave_id=w.id) for w in plan.waves},
    )


_NOT_RUN = ("PENDING", "WAITING_APPROVAL", "SKIPPED", "CANCELLED")


def waves_to_retry(execution: Execution, wave_id: str) -> list[str]:
    """A failed wave plus every wave that never ran because of it (its dependants, transitively), in plan order."""
    chosen = {wave_id}
    for wave in execution.plan.waves:  # plan order lists a wave after its dependencies
        if execution.waves[wave.id].status.value in _NOT_RUN and chosen & set(wave.depends_on):
            chosen.add(wave.id)
    return [w.id for w in execution.plan.waves if w.id in chosen]


def subplan(plan: RecoveryPlan, wave_ids: list[str]) -> RecoveryPlan:
    """The plan restricted to these waves; a dependency outside them counts as met (it completed before)."""
    unknown = sorted(set(wave_ids) - {w.id for w in plan.waves})
    if unknown:
        raise PlanNotRunnable(f"waveIds: the plan has no waves {', '.join(unknown)}")
    keep = set(wave_ids)
    waves = [
        w.model_copy(update={"depends_on": [d for d in w.depends_on if d in keep]}) for w in plan.waves if w.id in keep
    ]
    return plan.model_copy(update={"waves": waves})
