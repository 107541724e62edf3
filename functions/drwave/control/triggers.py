"""Schedules and failover triggers in the control plane, and the decisions the trigger function acts on.

Both start paths end like an operator's start: pre-flight first (every problem listed), then the PENDING execution
is stored under a deterministic id and `Execution Requested` is published, so a duplicated Scheduler delivery or
alarm event starts one execution. A schedule may only start a DRILL. A CONFIRM trigger's RECOVERY is created with an
approval gate on each of its first waves: nothing launches until an admin approves (or the deadline fails it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from drwave.adapters.store import ConcurrentUpdate
from drwave.adapters.trigger_environment import TriggerAdapters, trigger_adapters_from_environment
from drwave.control.errors import Conflict, InvalidInput, NotFound, invalid_from
from drwave.control.roles import Caller, Permission, Role
from drwave.control.service import ControlPlane, translate_failures
from drwave.core import schedules as sched
from drwave.core import triggers as trig
from drwave.core.create import PlanNotRunnable, new_execution, subplan
from drwave.engine.ports import Dependencies
from drwave.models.base import iso_z
from drwave.models.events import (
    DrillOverdue,
    DrillSkipped,
    EventDetail,
    ExecutionRequested,
    FailoverSuppressed,
    FailoverTriggered,
)
from drwave.models.execution import ExecutionStatus, ExecutionType
from drwave.models.plan import ApprovalGate, RecoveryPlan
from drwave.models.triggers import AuditEntry, DrillSchedule, FailoverTrigger, TriggerMode, TriggerState

CONFIRM_MESSAGE = "Failover triggered by {trigger}: an admin must approve before any server is launched."
_SUCCESS = (ExecutionStatus.COMPLETED, ExecutionStatus.COMPLETED_WITH_WARNINGS)


def triggers_of(deps: Dependencies) -> TriggerAdapters:
    """The trigger adapters: injected locally, built from the environment once on AWS."""
    if deps.triggers is None:
        deps.triggers = trigger_adapters_from_environment()
    return deps.triggers


class TriggerControl:
    """Drill schedules, failover triggers, drill freshness, and what happens when they fire."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.plane = ControlPlane(deps)
        self.adapters = triggers_of(deps)
        self.store = self.adapters.store

    # --- drill schedules ---------------------------------------------------------------------------------

    def list_schedules(self, caller: Caller) -> list[dict[str, Any]]:
        """Every drill schedule, with its next firing."""
        caller.require(Permission.READ)
        with translate_failures():
            return [self._schedule_view(s) for s in self.store.list_schedules()]

    def get_schedule(self, caller: Caller, schedule_id: str) -> dict[str, Any]:
        """One drill schedule, with its next firing."""
        caller.require(Permission.READ)
        return self._schedule_view(self._schedule(schedule_id))

    def put_schedule(self, caller: Caller, body: Any, schedule_id: str | None = None) -> dict[str, Any]:
        """Create (schedule_id None) or replace a drill schedule and its Scheduler schedule."""
        caller.require(Permission.MANAGE)
        if schedule_id is not None and isinstance(body, dict):
            body = {**body, "id": body.get("id", schedule_id)}
            if body["id"] != schedule_id:
                raise InvalidInput(
                    "id: does not match the path", [{"field": "id", "reason": "does not match the path"}]
                )
        schedule = _parse(DrillSchedule, body)
        try:
            sched.parse_expression(schedule.schedule_expression)
        except sched.ScheduleExpressionError as err:
            raise InvalidInput(
                f"scheduleExpression: {err}", [{"field": "scheduleExpression", "reason": str(err)}]
            ) from None
        plan = self.plane._plan(schedule.plan_id)
        if schedule.options.wave_ids:
            unknown = sorted(set(schedule.options.wave_ids) - {w.id for w in plan.waves})
            if unknown:
                reason = f"the plan has no waves {', '.join(unknown)}"
                raise InvalidInput(f"options.waveIds: {reason}", [{"field": "options.waveIds", "reason": reason}])
        with translate_failures():
            existing = self.store.get_schedule(schedule.id)
        if schedule_id is None and existing is not None:
            raise Conflict(f"id: drill schedule {schedule.id} exists")
        if schedule_id is not None and existing is None:
            raise NotFound(f"no drill schedule {schedule_id!r}")
        created = existing.created_at if existing else self.deps.now()
        schedule = schedule.model_copy(update={"created_at": created})
        with translate_failures():
            if self.adapters.scheduler is not None:
                self.adapters.scheduler.put(schedule)
            self.store.put_schedule(schedule)
            self._audit(caller, "create schedule" if existing is None else "update schedule", schedule.id)
        return self._schedule_view(schedule)

    def delete_schedule(self, caller: Caller, schedule_id: str) -> dict[str, Any]:
        """Delete a drill schedule and its Scheduler schedule."""
        caller.require(Permission.MANAGE)
        self._schedule(schedule_id)
        with translate_failures():
            if self.adapters.scheduler is not None:
                self.adapters.scheduler.delete(schedule_id)
            self.store.delete_schedule(schedule_id)
            self._audit(caller, "delete schedule", schedule_id)
        return {"scheduleId": schedule_id, "deleted": True}

    def fire_schedule(self, schedule_id: str, scheduled_time: datetime) -> dict[str, Any]:
        """One occurrence (a Scheduler delivery): start the drill, or publish Drill Skipped with every reason."""
        with translate_failures():
            schedule = self.store.get_schedule(schedule_id)
            execution_id = sched.occurrence_id(schedule_id, scheduled_time)
            created = self.deps.store.execution_summary(execution_id) is not None
            plan = self.deps.store.get_plan(schedule.plan_id) if schedule else None
        active = self._active_of(schedule.plan_id) if schedule and plan and not created else []
        args: dict[str, Any] = {
            "plan_exists": plan is not None,
            "already_created": created,
            "active_executions": active,
        }
        occurrence = sched.decide_occurrence(schedule, schedule_id, scheduled_time, **args, preflight_problems=[])
        if occurrence.start and schedule is not None:  # the cheap guard rails passed: now the pre-flight
            problems = self._preflight_problems(Caller(f"schedule:{schedule_id}", Role.OPERATOR), schedule.plan_id)
            occurrence = sched.decide_occurrence(
                schedule, schedule_id, scheduled_time, **args, preflight_problems=problems
            )
        if occurrence.start and schedule is not None:
            try:
                self._create_and_request(
                    execution_id,
                    self._runnable(schedule.plan_id, schedule.options.wave_ids),
                    ExecutionType.DRILL,
                    f"schedule:{schedule_id}",
                )
            except PlanNotRunnable as err:
                occurrence = sched.Occurrence(execution_id, False, "NOT_RUNNABLE", str(err))
            else:
                return {"executionId": execution_id, "started": True}
        if occurrence.reason != "DUPLICATE":
            self._publish(
                DrillSkipped(
                    execution_id=execution_id,
                    schedule_id=schedule_id,
                    plan_id=schedule.plan_id if schedule else "",
                    scheduled_time=scheduled_time,
                    reason=occurrence.reason,
                    message=occurrence.message,
                    problems=occurrence.problems,
                )
            )
        return {"executionId": execution_id, "started": False, "reason": occurrence.reason}

    # --- failover triggers -------------------------------------------------------------------------------

    def list_triggers(self, caller: Caller) -> list[dict[str, Any]]:
        """Every failover trigger with its alarms' last seen states."""
        caller.require(Permission.READ)
        with translate_failures():
            return [self._trigger_view(t) for t in self.store.list_triggers()]

    def get_trigger(self, caller: Caller, trigger_id: str) -> dict[str, Any]:
        """One failover trigger with its alarms' last seen states."""
        caller.require(Permission.READ)
        return self._trigger_view(self._trigger(trigger_id))

    def put_trigger(self, caller: Caller, body: Any, trigger_id: str | None = None) -> dict[str, Any]:
        """Create (always disarmed) or replace a failover trigger (keeps its arming: use arm / disarm)."""
        caller.require(Permission.MANAGE)
        if trigger_id is not None and isinstance(body, dict):
            body = {**body, "id": body.get("id", trigger_id)}
        trigger = _parse(FailoverTrigger, body)
        self.plane._plan(trigger.plan_id)
        with translate_failures():
            existing = self.store.get_trigger(trigger.id)
        if trigger_id is None and existing is not None:
            raise Conflict(f"id: failover trigger {trigger.id} exists")
        if trigger_id is not None and existing is None:
            raise NotFound(f"no failover trigger {trigger_id!r}")
        trigger = trigger.model_copy(update={"armed": existing.armed if existing else False})
        with translate_failures():
            self.store.put_trigger(trigger)
            self._audit(caller, "create trigger" if existing is None else "update trigger", trigger.id)
        return self._trigger_view(trigger)

    def delete_trigger(self, caller: Caller, trigger_id: str) -> dict[str, Any]:
        """Delete a failover trigger and its state."""
        caller.require(Permission.MANAGE)
        self._trigger(trigger_id)
        with translate_failures():
            self.store.delete_trigger(trigger_id)
            self._audit(caller, "delete trigger", trigger_id)
        return {"triggerId": trigger_id, "deleted": True}

    def arm(self, caller: Caller, trigger_id: str, armed: bool = True) -> dict[str, Any]:
        """Arm or disarm a trigger: admins only, recorded in the audit trail."""
        caller.require(Permission.START_RECOVERY)
        trigger = self._trigger(trigger_id).model_copy(update={"armed": armed})
        with translate_failures():
            self.store.put_trigger(trigger)
            self._audit(caller, "arm trigger" if armed else "disarm trigger", trigger_id, f"mode {trigger.mode}")
        return self._trigger_view(trigger)

    def audit_trail(self, caller: Caller) -> list[dict[str, Any]]:
        """Every audited change to schedules and triggers, oldest first."""
        caller.require(Permission.READ)
        with translate_failures():
            return [e.to_wire() for e in self.store.audit_trail()]

    def on_alarm(self, change: trig.AlarmChange) -> list[dict[str, Any]]:
        """An alarm state change: every trigger watching it observes and decides, in turn."""
        with translate_failures():
            watching = [t for t in self.store.list_triggers() if change.alarm_arn in t.alarm_arns]
        return [self._decide(t, change) for t in watching]

    def on_tick(self) -> dict[str, Any]:
        """Re-check sustain periods and drill freshness; returns how many triggers still wait on a sustain."""
        with translate_failures():
            triggers = self.store.list_triggers()
        outcomes = [self._decide(t, None) for t in triggers]
        overdue = self.check_freshness()
        return {"waiting": sum(1 for o in outcomes if o["verdict"] == trig.Verdict.WAIT), "overdue": overdue}

    def _decide(self, trigger: FailoverTrigger, change: trig.AlarmChange | None) -> dict[str, Any]:
        for _attempt in range(5):  # a concurrent delivery saved first: reload and decide again
            with translate_failures():
                state = self.store.load_state(trigger.id)
            if change is not None:
                state, changed = trig.observe(trigger, state, change)
                if not changed:
                    return {"triggerId": trigger.id, "verdict": trig.Verdict.NONE}
            active = self._active_of(trigger.plan_id)
            entered = change is not None and change.state == "ALARM"
            new_state, decision = trig.evaluate(
                trigger, state, self.deps.now(), active_executions=active, alarm_entered=entered
            )
            if decision.verdict is trig.Verdict.TRIGGER:
                problems = self._preflight_problems(Caller(f"trigger:{trigger.id}", Role.ADMIN), trigger.plan_id)
                if problems:
                    new_state, decision = trig.preflight_failed(new_state, decision, problems)
            # Act, then save: a failure in between leaves the episode undecided, so a retry decides it again
            # (the execution id is deterministic and the core replays a trigger whose execution already runs).
            self._act(trigger, decision)
            try:
                with translate_failures():
                    self.store.save_state(new_state)
            except ConcurrentUpdate:
                continue
            return {"triggerId": trigger.id, "verdict": decision.verdict, "executionId": decision.execution_id}
        raise Conflict(f"trigger {trigger.id}: state kept changing under concurrent deliveries")

    def _act(self, trigger: FailoverTrigger, decision: trig.Decision) -> None:
        if decision.verdict is trig.Verdict.SUPPRESS:
            self._publish(
                FailoverSuppressed(
                    execution_id=decision.execution_id,
                    trigger_id=trigger.id,
                    plan_id=trigger.plan_id,
                    reason=decision.reason,
                    message=decision.message,
                    alarms=decision.alarms,
                    problems=decision.problems,
                )
            )
        if decision.verdict is not trig.Verdict.TRIGGER or decision.execution_id is None:
            return
        plan = self._runnable(trigger.plan_id, None)
        confirm_by, gated = None, list[str]()
        if trigger.mode is TriggerMode.CONFIRM:
            plan, gated = _confirm_gates(plan, trigger)
            confirm_by = self.deps.now() + timedelta(minutes=trigger.confirm_timeout_minutes)
        execution_type = decision.execution_type or trig.execution_type_for(trigger)
        self._create_and_request(decision.execution_id, plan, execution_type, f"trigger:{trigger.id}")
        self._publish(
            FailoverTriggered(
                execution_id=decision.execution_id,
                trigger_id=trigger.id,
                plan_id=trigger.plan_id,
                mode=trigger.mode.value,
                execution_type=execution_type,
                alarms=decision.alarms,
                quorum_since=decision.quorum_since or self.deps.now(),
                confirm_by=confirm_by,
                confirm_waves=gated,
            )
        )

    # --- drill freshness ---------------------------------------------------------------------------------

    def freshness(self, caller: Caller, plan_id: str) -> dict[str, Any]:
        """The age of a plan's last successful drill against its drillEveryDays."""
        caller.require(Permission.READ)
        plan = self.plane._plan(plan_id)
        last_id, last_at = self._last_drill(plan_id)
        every = plan.drill_every_days
        age = sched.drill_age_days(last_at, self.deps.now())
        view: dict[str, Any] = {"planId": plan_id, "drillEveryDays": every, "lastDrillExecutionId": last_id}
        view["lastDrillAt"] = iso_z(last_at) if last_at else None
        view["ageDays"] = None if age is None else round(age, 2)
        view["overdue"] = every is not None and (age is None or age > every)
        return view

    def check_freshness(self) -> list[str]:
        """Publish Drill Overdue once per lapse for every plan past its drillEveryDays; returns those plans."""
        overdue = []
        with translate_failures():
            plans = [p for p in self.deps.store.list_plans() if p.drill_every_days]
        for plan in plans:
            last_id, last_at = self._last_drill(plan.id)
            every = int(plan.drill_every_days or 0)
            if last_at is not None and not sched.drill_overdue(every, last_at, last_at, self.deps.now()):
                continue  # a plan that was never drilled is overdue at once
            with translate_failures():
                first_time = self.store.mark_overdue_notified(plan.id, last_id or "never")
            if first_time:
                self._publish(
                    DrillOverdue(execution_id=last_id, plan_id=plan.id, drill_every_days=every, last_drill_at=last_at)
                )
                overdue.append(plan.id)
        return overdue

    # --- helpers -----------------------------------------------------------------------------------------

    def _last_drill(self, plan_id: str) -> tuple[str | None, datetime | None]:
        with translate_failures():
            for status in _SUCCESS:
                rows, _ = self.deps.store.list_executions(
                    plan_id=plan_id, execution_type=ExecutionType.DRILL.value, status=status.value, limit=1
                )
                if rows:
                    execution = self.deps.store.load_execution(rows[0].execution_id)
                    ended = execution.ended_at if execution else None
                    return rows[0].execution_id, ended or datetime.fromisoformat(rows[0].created_at)
        return None, None

    def _preflight_problems(self, caller: Caller, plan_id: str) -> list[str]:
        report = self.plane.preflight(caller, plan_id)
        return [p.message for p in report.problems]

    def _active_of(self, plan_id: str) -> list[str]:
        with translate_failures():
            summaries = [self.deps.store.execution_summary(e) for e in self.deps.store.active_execution_ids()]
        return [s.execution_id for s in summaries if s is not None and s.plan_id == plan_id]

    def _runnable(self, plan_id: str, wave_ids: list[str] | None) -> RecoveryPlan:
        plan = self.plane._plan(plan_id)
        return subplan(plan, wave_ids) if wave_ids else plan

    def _create_and_request(self, execution_id: str, plan: RecoveryPlan, kind: ExecutionType, by: str) -> None:
        """Store the PENDING execution (its snapshot is what runs), then publish its request."""
        with translate_failures():
            groups = {
                g: grp for w in plan.waves for g in w.protection_group_ids if (grp := self.deps.store.get_group(g))
            }
        execution = new_execution(
            execution_id,
            plan,
            groups,
            kind,
            default_account_id=self.deps.account_id,
            started_by=by,
            now=self.deps.now(),
        )
        with translate_failures():
            self.deps.store.create_execution(execution)  # False: a duplicate delivery created it, same content
        request = ExecutionRequested(execution_id=execution_id, plan_id=plan.id, execution_type=kind, started_by=by)
        self._publish(request)

    def _publish(self, detail: EventDetail) -> None:
        with translate_failures():
            self.deps.publisher.publish([detail])

    def _audit(self, caller: Caller, action: str, target: str, detail: str = "") -> None:
        self.store.audit(
            AuditEntry(at=self.deps.now(), actor=caller.identity, action=action, target=target, detail=detail)
        )

    def _schedule(self, schedule_id: str) -> DrillSchedule:
        with translate_failures():
            schedule = self.store.get_schedule(schedule_id)
        if schedule is None:
            raise NotFound(f"no drill schedule {schedule_id!r}")
        return schedule

    def _trigger(self, trigger_id: str) -> FailoverTrigger:
        with translate_failures():
            trigger = self.store.get_trigger(trigger_id)
        if trigger is None:
            raise NotFound(f"no failover trigger {trigger_id!r}")
        return trigger

    def _schedule_view(self, schedule: DrillSchedule) -> dict[str, Any]:
        fire = sched.next_fire(schedule, self.deps.now()) if schedule.enabled else None
        return {**schedule.to_wire(), "nextFireAt": iso_z(fire) if fire else None}

    def _trigger_view(self, trigger: FailoverTrigger) -> dict[str, Any]:
        with translate_failures():
            state: TriggerState = self.store.load_state(trigger.id)
        view = trigger.to_wire()
        view["alarms"] = {arn: o.to_wire() for arn, o in state.alarms.items()}
        view["lastExecutionId"] = state.last_execution_id
        return view


def _confirm_gates(plan: RecoveryPlan, trigger: FailoverTrigger) -> tuple[RecoveryPlan, list[str]]:
    """The plan with an approval gate before each first wave: the RECOVERY waits for an admin's approval."""
    message = CONFIRM_MESSAGE.format(trigger=trigger.id)
    gate = ApprovalGate(timeout_minutes=trigger.confirm_timeout_minutes, message=message)
    waves, gated = [], []
    for wave in plan.waves:
        waves.append(wave if wave.depends_on else wave.model_copy(update={"pause_before_wave": gate}))
        gated += [] if wave.depends_on else [wave.id]
    return plan.model_copy(update={"waves": waves}), gated


def _parse(model: type[Any], body: Any) -> Any:
    if not isinstance(body, dict):
        raise InvalidInput("body: must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as err:
        raise invalid_from(err) from None
