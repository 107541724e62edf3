"""Building a new execution from a plan and its protection groups."""

from __future__ import annotations

from datetime import datetime

from drwave.models.execution import Execution, ExecutionType, WaveState
from drwave.models.plan import ProtectionGroup, RecoveryPlan


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
        created_at=now,
        waves={w.id: WaveState(wave_id=w.id) for w in plan.waves},
    )
