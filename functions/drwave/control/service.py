"""The control plane's operations: one code path behind the REST API, direct invocation and the CLI."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from drwave.adapters.drs import DrsError, SourceServer
from drwave.adapters.publisher import PublishError
from drwave.adapters.sessions import AccountAccessError
from drwave.adapters.store import ExecutionSummary, InvalidPageToken, StoreError
from drwave.control.errors import (
    Conflict,
    DependencyFailure,
    InvalidInput,
    NotFound,
    PreflightFailed,
    invalid_from,
)
from drwave.control.requests import ExecutionFilter, StartExecution
from drwave.control.roles import Caller, Permission
from drwave.control.views import execution_view, recovery_instances_view, server_view, wave_view
from drwave.core import messages as m
from drwave.core.create import PlanNotRunnable, new_execution, subplan, waves_to_retry
from drwave.core.preflight import PreflightReport, check_plan, claimed_servers, group_members
from drwave.engine.loop import apply
from drwave.engine.ports import Dependencies
from drwave.models.accounts import TargetAccount
from drwave.models.events import (
    EventDetail,
    ExecutionCancelRequested,
    ExecutionPauseRequested,
    ExecutionRequested,
    ExecutionResumeRequested,
    WaveGateApproved,
)
from drwave.models.execution import Execution, ExecutionStatus, ExecutionType, WaveStatus
from drwave.models.plan import ProtectionGroup, RecoveryPlan

M = TypeVar("M", bound=BaseModel)
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")


@contextmanager
def translate_failures() -> Iterator[None]:
    """Turn adapter failures into DependencyFailure (503, retryable) rather than a stack trace."""
    try:
        yield
    except StoreError as err:
        raise DependencyFailure(f"DynamoDB: {err}") from err
    except DrsError as err:
        if err.code == "ConflictException":  # e.g. instances already being terminated: a retry cannot help
            raise Conflict(f"DRS: {err}") from err
        raise DependencyFailure(f"DRS {err.code}: {err}", code="DRS_ERROR") from err
    except PublishError as err:
        raise DependencyFailure(f"EventBridge: {err}", code="EVENTBRIDGE_ERROR") from err
    except AccountAccessError as err:  # unregistered account, region not allowed, or the role refused
        if err.retryable:
            raise DependencyFailure(str(err), code="STS_ERROR") from err
        raise Conflict(str(err)) from err


def _parse(model: type[M], body: Any, prefix: str = "") -> M:
    if not isinstance(body, dict):
        raise InvalidInput(f"{prefix.rstrip('.') or 'body'}: must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as err:
        raise invalid_from(err, prefix) from None


class ControlPlane:
    """Groups, plans, executions, DRS inventory and pre-flight, with roles checked on every operation."""

    def __init__(self, deps: Dependencies, new_id: Callable[[], str] | None = None) -> None:
        self.deps = deps
        self._new_id = new_id or (lambda: f"exec-{uuid.uuid4().hex[:12]}")

    # --- protection groups ------------------------------------------------------------------------------

    def list_groups(self, caller: Caller) -> list[dict[str, Any]]:
        """Every protection group."""
        caller.require(Permission.READ)
        with translate_failures():
            return [g.to_wire() for g in self.deps.store.list_groups()]

    def get_group(self, caller: Caller, group_id: str) -> dict[str, Any]:
        """One protection group."""
        caller.require(Permission.READ)
        return self._group(group_id).to_wire()

    def create_group(self, caller: Caller, body: Any) -> dict[str, Any]:
        """Create a group; 409 if the id is taken."""
        caller.require(Permission.MANAGE)
        group = _parse(ProtectionGroup, body)
        with translate_failures():
            if self.deps.store.get_group(group.id) is not None:
                raise Conflict(f"id: protection group {group.id} already exists")
            self.deps.store.put_group(group)
        return group.to_wire()

    def update_group(self, caller: Caller, group_id: str, body: Any) -> dict[str, Any]:
        """Replace a group (running executions keep the snapshot they started with)."""
        caller.require(Permission.MANAGE)
        self._group(group_id)
        group = _parse(ProtectionGroup, _same_id(body, "id", group_id))
        with translate_failures():
            self.deps.store.put_group(group)
        return group.to_wire()

    def delete_group(self, caller: Caller, group_id: str) -> dict[str, Any]:
        """Delete a group no plan uses; 409 naming the plans that do."""
        caller.require(Permission.MANAGE)
        self._group(group_id)
        with translate_failures():
            users = [
                p.id for p in self.deps.store.list_plans() if any(group_id in w.protection_group_ids for w in p.waves)
            ]
            if users:
                raise Conflict(f"protection group {group_id} is used by recovery plans: {', '.join(users)}")
            self.deps.store.delete_group(group_id)
        return {"groupId": group_id, "deleted": True}

    def preview_group(self, caller: Caller, group_id: str) -> dict[str, Any]:
        """The servers a group resolves to right now, with their replication state."""
        caller.require(Permission.READ)
        group = self._group(group_id)
        inventory = self._inventory(group)
        members = set(group_members(group, inventory))
        known = {s.source_server_id: s for s in inventory}
        return {
            "groupId": group.id,
            "accountId": group.account_id or self.deps.account_id,
            "region": group.region,
            "sourceServers": [server_view(known[s]) for s in sorted(members) if s in known],
            "missing": sorted(members - set(known)),
        }

    # --- recovery plans ----------------------------------------------------------------------------------

    def list_plans(self, caller: Caller) -> list[dict[str, Any]]:
        """Every recovery plan."""
        caller.require(Permission.READ)
        with translate_failures():
            return [p.to_wire() for p in self.deps.store.list_plans()]

    def get_plan(self, caller: Caller, plan_id: str) -> dict[str, Any]:
        """One recovery plan."""
        caller.require(Permission.READ)
        return self._plan(plan_id).to_wire()

    def create_plan(self, caller: Caller, body: Any) -> dict[str, Any]:
        """Create a plan whose groups exist; 409 if the id is taken."""
        caller.require(Permission.MANAGE)
        plan = self._valid_plan(_parse(RecoveryPlan, body))
        with translate_failures():
            if self.deps.store.get_plan(plan.id) is not None:
                raise Conflict(f"id: recovery plan {plan.id} already exists")
            self.deps.store.put_plan(plan)
        return plan.to_wire()

    def update_plan(self, caller: Caller, plan_id: str, body: Any) -> dict[str, Any]:
        """Replace a plan; 409 while one of its executions is active."""
        caller.require(Permission.MANAGE)
        self._plan(plan_id)
        self._refuse_if_running(plan_id, "edited")
        plan = self._valid_plan(_parse(RecoveryPlan, _same_id(body, "id", plan_id)))
        with translate_failures():
            self.deps.store.put_plan(plan)
        return plan.to_wire()

    def delete_plan(self, caller: Caller, plan_id: str) -> dict[str, Any]:
        """Delete a plan; 409 while one of its executions is active."""
        caller.require(Permission.MANAGE)
        self._plan(plan_id)
        self._refuse_if_running(plan_id, "deleted")
        with translate_failures():
            self.deps.store.delete_plan(plan_id)
        return {"planId": plan_id, "deleted": True}

    # --- DRS inventory and pre-flight --------------------------------------------------------------------

    def list_source_servers(self, caller: Caller, account_id: str | None, region: str | None) -> dict[str, Any]:
        """DRS source servers of an account and region, with replication state (every page)."""
        caller.require(Permission.READ)
        bad = [
            {"field": name, "reason": f"is not {what}"}
            for name, value, pattern, what in (
                ("accountId", account_id, _ACCOUNT, "a 12-digit AWS account id"),
                ("region", region, _REGION, "an AWS region name"),
            )
            if value is not None and not (isinstance(value, str) and pattern.fullmatch(value))
        ]
        if bad:  # direct invocation passes these unchecked; a bad region must not become a DRS endpoint
            raise InvalidInput("; ".join(f"{d['field']}: {d['reason']}" for d in bad), bad)
        account, where = account_id or self.deps.account_id, region or self.deps.region
        with translate_failures():
            servers = self.deps.drs_for(account, where).describe_source_servers()
        return {"accountId": account, "region": where, "sourceServers": [server_view(s) for s in servers]}

    def preflight(self, caller: Caller, plan_id: str) -> PreflightReport:
        """Every problem that would stop the plan from running now; warnings for predicted waiting."""
        caller.require(Permission.READ)
        plan = self._plan(plan_id)
        with translate_failures():
            groups = {g: group for g in _group_ids(plan) if (group := self.deps.store.get_group(g))}
            targets = {(g.account_id or self.deps.account_id, g.region) for g in groups.values()}
            inventory = [s for a, r in sorted(targets) for s in self.deps.drs_for(a, r).describe_source_servers()]
            busy = self._busy_servers(inventory)
            account, region = min(targets) if targets else (self.deps.account_id, self.deps.region)
            ledger = self.deps.store.load_ledger(account, region)
        return check_plan(plan, groups, inventory, busy, ledger, self.deps.limits)

    # --- executions --------------------------------------------------------------------------------------

    def start_execution(self, caller: Caller, body: Any) -> dict[str, Any]:
        """Check and request an execution; it runs asynchronously (202). Pre-flight problems refuse it."""
        request = _parse(StartExecution, body)
        needed = (
            Permission.START_RECOVERY if request.execution_type is ExecutionType.RECOVERY else Permission.START_DRILL
        )
        caller.require(needed)
        if request.force:
            caller.require(Permission.FORCE)
        if request.execution_id and (existing := self._existing(request.execution_id)) is not None:
            return self._repeated_start(request, existing)
        report = self.preflight(caller, request.plan_id)
        busy = [p for p in report.problems if p.code == "SERVER_BUSY"]
        if busy:  # even force cannot put a server in two jobs
            raise Conflict("servers are in another active execution", [p.to_wire() for p in busy])
        if not report.ok and not request.force:
            problems = [p.to_wire() for p in report.problems]
            raise PreflightFailed(f"pre-flight found {len(problems)} problem(s); an admin may force", problems)
        execution_id = request.execution_id or self._new_id()
        started_by = f"{caller.identity} (forced)" if request.force and not report.ok else caller.identity
        self._create_and_request(
            ExecutionRequested(
                execution_id=execution_id,
                plan_id=request.plan_id,
                execution_type=request.execution_type,
                started_by=started_by,
            )
        )
        return {
            "executionId": execution_id,
            "planId": request.plan_id,
            "executionType": request.execution_type.value,
            "status": "REQUESTED",
            "warnings": [w.to_wire() for w in report.warnings],
        }

    def _create_and_request(self, request: ExecutionRequested) -> None:
        """Store the PENDING execution, then publish its request: it is readable as soon as we answer 202.

        The engine's start-execution finds it created and starts it; if the publish is lost, a client retry with
        the same executionId publishes again, and the tick starts it after a grace period (decide.START_GRACE).
        """
        plan = self._plan(request.plan_id)
        with translate_failures():
            groups = {g: group for g in _group_ids(plan) if (group := self.deps.store.get_group(g))}
        try:
            if request.wave_ids:
                plan = subplan(plan, request.wave_ids)
            execution = new_execution(
                request.execution_id,
                plan,
                groups,
                request.execution_type,
                default_account_id=self.deps.account_id,
                started_by=request.started_by,
                now=self.deps.now(),
                retry_of=request.retry_of,
            )
        except PlanNotRunnable as err:
            raise Conflict(str(err)) from None
        with translate_failures():
            self.deps.store.create_execution(execution)  # False: a concurrent duplicate created it, same content
            self.deps.publisher.publish([request])

    def _existing(self, execution_id: str) -> ExecutionSummary | None:
        with translate_failures():
            return self.deps.store.execution_summary(execution_id)

    def _repeated_start(self, request: StartExecution, existing: ExecutionSummary) -> dict[str, Any]:
        """A retried start (same executionId) answers like the first; the same id for another plan is a conflict.

        Still PENDING means the first attempt's publish may have failed: publish the request again (idempotent).
        """
        if existing.plan_id != request.plan_id or existing.execution_type != request.execution_type:
            raise Conflict(f"executionId: execution {request.execution_id} exists for another plan or type")
        if existing.status == ExecutionStatus.PENDING:
            with translate_failures():
                self.deps.publisher.publish(
                    [
                        ExecutionRequested(
                            execution_id=str(request.execution_id),
                            plan_id=request.plan_id,
                            execution_type=request.execution_type,
                            started_by=existing.started_by or "unknown",
                        )
                    ]
                )
        return {
            "executionId": request.execution_id,
            "planId": request.plan_id,
            "executionType": request.execution_type.value,
            "status": existing.status,
            "repeated": True,
            "warnings": [],
        }

    def list_executions(self, caller: Caller, query: Any) -> dict[str, Any]:
        """Executions newest first, filtered by status, plan and type, a page at a time."""
        caller.require(Permission.READ)
        flt = _parse(ExecutionFilter, query)
        try:
            with translate_failures():
                rows, token = self.deps.store.list_executions(
                    status=flt.status.value if flt.status else None,
                    plan_id=flt.plan_id,
                    execution_type=flt.execution_type.value if flt.execution_type else None,
                    limit=flt.limit,
                    next_token=flt.next_token,
                )
        except InvalidPageToken as err:
            raise InvalidInput(str(err), [{"field": "nextToken", "reason": "not a token this API issued"}]) from None
        items = [
            {"executionId": r.execution_id, "planId": r.plan_id, "executionType": r.execution_type}
            | {"status": r.status, "createdAt": r.created_at}
            for r in rows
        ]
        return {"items": items, "nextToken": token}

    def get_execution(self, caller: Caller, execution_id: str) -> dict[str, Any]:
        """An execution's status, waves, servers and progress."""
        caller.require(Permission.READ)
        return execution_view(self._execution(execution_id))

    def timeline(self, caller: Caller, execution_id: str) -> dict[str, Any]:
        """An execution's audit timeline."""
        caller.require(Permission.READ)
        execution = self._execution(execution_id)
        return {"executionId": execution_id, "timeline": [e.to_wire() for e in execution.timeline]}

    def wave_status(self, caller: Caller, execution_id: str, wave_id: str) -> dict[str, Any]:
        """One wave of an execution."""
        caller.require(Permission.READ)
        execution = self._execution(execution_id)
        return wave_view(execution, self._wave_id(execution, wave_id))

    def pause(self, caller: Caller, execution_id: str) -> dict[str, Any]:
        """Hold an execution: in-flight work finishes, no new wave opens."""
        caller.require(Permission.CONTROL)
        self._active(execution_id)
        now = self.deps.now()
        return self._command(
            execution_id,
            "pause",
            ExecutionPauseRequested(execution_id=execution_id, requested_by=caller.identity, requested_at=now),
        )

    def resume(self, caller: Caller, execution_id: str) -> dict[str, Any]:
        """Lift a pause."""
        caller.require(Permission.CONTROL)
        self._active(execution_id)
        now = self.deps.now()
        return self._command(
            execution_id,
            "resume",
            ExecutionResumeRequested(execution_id=execution_id, requested_by=caller.identity, requested_at=now),
        )

    def cancel(self, caller: Caller, execution_id: str) -> dict[str, Any]:
        """Stop opening waves; in-flight jobs are tracked to their end."""
        caller.require(Permission.CONTROL)
        self._active(execution_id)
        return self._command(
            execution_id, "cancel", ExecutionCancelRequested(execution_id=execution_id, requested_by=caller.identity)
        )

    def approve(self, caller: Caller, execution_id: str, wave_id: str) -> dict[str, Any]:
        """Approve a wave's gate; 409 unless the wave is waiting for approval."""
        caller.require(Permission.CONTROL)
        execution = self._active(execution_id)
        wave_id = self._wave_id(execution, wave_id)
        state = execution.waves[wave_id]
        if state.status is not WaveStatus.WAITING_APPROVAL:
            raise Conflict(f"waveId: wave {wave_id} is {state.status.value}, not WAITING_APPROVAL")
        if execution.started_by.startswith("trigger:") and execution.execution_type is ExecutionType.RECOVERY:
            caller.require(Permission.START_RECOVERY)  # an alarm-triggered failover is confirmed by an admin
        return self._command(
            execution_id,
            f"approve {wave_id}",
            WaveGateApproved(execution_id=execution_id, wave_id=wave_id, approved_by=caller.identity),
        )

    def retry_wave(self, caller: Caller, execution_id: str, wave_id: str) -> dict[str, Any]:
        """Start a new execution of a failed wave and the waves that never ran because of it (202)."""
        original = self._execution(execution_id)
        needed = (
            Permission.START_RECOVERY if original.execution_type is ExecutionType.RECOVERY else Permission.START_DRILL
        )
        caller.require(needed)
        wave_id = self._wave_id(original, wave_id)
        if not original.status.terminal:
            raise Conflict(f"execution {execution_id} is still {original.status.value}: retry once it has ended")
        if original.waves[wave_id].status is not WaveStatus.FAILED:
            raise Conflict(f"waveId: wave {wave_id} is {original.waves[wave_id].status.value}, not FAILED")
        waves = waves_to_retry(original, wave_id)
        plan = self._plan(original.plan.id)
        missing = [w for w in waves if w not in {p.id for p in plan.waves}]
        if missing:
            raise Conflict(f"recovery plan {plan.id} no longer has waves {', '.join(missing)}")
        # Pre-flight runs for a retry too (only the retried waves' problems count); nobody can force a retry.
        problems = [p.to_wire() for p in self.preflight(caller, plan.id).problems if p.wave_id in (None, *waves)]
        if problems:
            raise PreflightFailed(f"pre-flight found {len(problems)} problem(s) in the retried waves", problems)
        retry_id = self._new_id()
        self._create_and_request(
            ExecutionRequested(
                execution_id=retry_id,
                plan_id=plan.id,
                execution_type=original.execution_type,
                started_by=caller.identity,
                wave_ids=waves,
                retry_of=execution_id,
            )
        )
        return {"executionId": retry_id, "retryOf": execution_id, "waveIds": waves, "status": "REQUESTED"}

    def recovery_instances(self, caller: Caller, execution_id: str) -> dict[str, Any]:
        """The recovery instances an execution launched, as DRS describes them now."""
        caller.require(Permission.READ)
        execution = self._execution(execution_id)
        ids = _instance_ids(execution)
        with translate_failures():
            described = self.deps.drs_for(execution.account_id, execution.region).describe_recovery_instances(ids)
        return recovery_instances_view(execution, described)

    def terminate_instances(self, caller: Caller, execution_id: str) -> dict[str, Any]:
        """Terminate the recovery instances of a finished execution (RECOVERY ones need an admin)."""
        execution = self._execution(execution_id)
        drill = execution.execution_type is ExecutionType.DRILL
        caller.require(Permission.TERMINATE_DRILL if drill else Permission.TERMINATE_RECOVERY)
        if not execution.status.terminal:
            raise Conflict(f"execution {execution_id} is {execution.status.value}: cancel it and let it end first")
        ids = _instance_ids(execution)
        if not ids:
            raise Conflict(f"execution {execution_id} has no recovery instances to terminate")
        with translate_failures():
            drs = self.deps.drs_for(execution.account_id, execution.region)
            # Only those DRS still knows: terminated ones (or replaced by a later launch) would fail the whole call.
            live = {d["recoveryInstanceID"] for d in drs.describe_recovery_instances(ids)}
            ids = [i for i in ids if i in live]
            if not ids:
                raise Conflict(f"execution {execution_id}'s recovery instances no longer exist in DRS")
            job = drs.terminate_recovery_instances(ids)
        return {"executionId": execution_id, "jobId": job.job_id, "recoveryInstanceIds": ids, "status": job.status}

    def report_error(self, caller: Caller, execution_id: str, stage: str, error: str) -> dict[str, Any]:
        """Record an outside caller's error in the execution's timeline (the seed's log_error)."""
        caller.require(Permission.CONTROL)
        self._execution(execution_id)
        message = m.ErrorReported(stage or "UNKNOWN", error, caller.identity)
        with translate_failures():
            decision = apply(self.deps, execution_id, [message])
        if decision is None or not decision.changed:  # an ended execution's record is final
            raise Conflict(f"execution {execution_id} has ended; its timeline is final")
        return {"executionId": execution_id, "logged": True, "stage": stage}

    def outcome(self, caller: Caller, execution_id: str) -> dict[str, Any]:
        """A finished execution's outcome (the seed's finalize_execution output); 409 while it runs."""
        caller.require(Permission.READ)
        execution = self._execution(execution_id)
        if not execution.status.terminal:
            raise Conflict(f"execution {execution_id} is still {execution.status.value}")
        view = execution_view(execution)
        waves = [
            {"waveId": w["waveId"], "waveNumber": n, "status": w["status"]}
            | {"completedServers": w["servers"]["launched"], "failedServers": w["servers"]["failed"]}
            for n, w in enumerate(view["waves"], start=1)
        ]
        with translate_failures():
            described = self.deps.drs_for(execution.account_id, execution.region).describe_recovery_instances(
                _instance_ids(execution)
            )
        instances = [
            {"instanceId": i["ec2InstanceId"] or i["recoveryInstanceId"], "sourceServerId": i["sourceServerId"]}
            | {"state": i["state"], "recoveryInstanceId": i["recoveryInstanceId"], "waveId": i["waveId"]}
            for i in recovery_instances_view(execution, described)["instances"]
        ]
        return {
            "executionId": execution_id,
            "planId": execution.plan.id,
            "executionType": execution.execution_type.value,
            "status": execution.status.value,
            "startTime": view["startedAt"],
            "completionTime": view["endedAt"],
            "waveResults": waves,
            "recoveryInstances": {"instances": instances, "count": len(instances)},
        }

    # --- target accounts ---------------------------------------------------------------------------------

    def list_accounts(self, caller: Caller) -> list[dict[str, Any]]:
        """Registered target accounts."""
        caller.require(Permission.READ)
        with translate_failures():
            return [a.to_wire() for a in self.deps.store.list_target_accounts()]

    def get_account(self, caller: Caller, account_id: str) -> dict[str, Any]:
        """One registered target account."""
        caller.require(Permission.READ)
        return self._account(account_id).to_wire()

    def register_account(self, caller: Caller, body: Any) -> dict[str, Any]:
        """Register a target account; 409 if it is registered already."""
        caller.require(Permission.MANAGE)
        account = _parse(TargetAccount, body)
        with translate_failures():
            if self.deps.store.get_target_account(account.account_id) is not None:
                raise Conflict(f"accountId: target account {account.account_id} is already registered")
            self.deps.store.put_target_account(account)
        return account.to_wire()

    def update_account(self, caller: Caller, account_id: str, body: Any) -> dict[str, Any]:
        """Replace a target account's registration."""
        caller.require(Permission.MANAGE)
        self._account(account_id)
        account = _parse(TargetAccount, _same_id(body, "accountId", account_id))
        with translate_failures():
            self.deps.store.put_target_account(account)
        return account.to_wire()

    def delete_account(self, caller: Caller, account_id: str) -> dict[str, Any]:
        """Unregister a target account no protection group uses."""
        caller.require(Permission.MANAGE)
        self._account(account_id)
        with translate_failures():
            users = [g.id for g in self.deps.store.list_groups() if g.account_id == account_id]
            if users:
                raise Conflict(f"target account {account_id} is used by protection groups: {', '.join(users)}")
            self.deps.store.delete_target_account(account_id)
        return {"accountId": account_id, "deleted": True}

    # --- helpers -----------------------------------------------------------------------------------------

    def _command(self, execution_id: str, what: str, command: EventDetail) -> dict[str, Any]:
        with translate_failures():
            self.deps.publisher.publish([command])
        return {"executionId": execution_id, "requested": what, "status": "ACCEPTED"}

    def _account(self, account_id: str) -> TargetAccount:
        with translate_failures():
            account = self.deps.store.get_target_account(account_id)
        if account is None:
            raise NotFound(f"accountId: no registered target account {account_id!r}")
        return account

    def _group(self, group_id: str) -> ProtectionGroup:
        with translate_failures():
            group = self.deps.store.get_group(group_id)
        if group is None:
            raise NotFound(f"groupId: no protection group {group_id!r}")
        return group

    def _plan(self, plan_id: str) -> RecoveryPlan:
        with translate_failures():
            plan = self.deps.store.get_plan(plan_id)
        if plan is None:
            raise NotFound(f"planId: no recovery plan {plan_id!r}")
        return plan

    def _execution(self, execution_id: str) -> Execution:
        with translate_failures():
            execution = self.deps.store.load_execution(execution_id)
        if execution is None:
            raise NotFound(f"executionId: no execution {execution_id!r}")
        return execution

    def _active(self, execution_id: str) -> Execution:
        execution = self._execution(execution_id)
        if execution.status.terminal:
            raise Conflict(f"execution {execution_id} already ended {execution.status.value}")
        return execution

    @staticmethod
    def _wave_id(execution: Execution, wave: str) -> str:
        if wave in execution.waves:
            return wave
        if wave.isdigit() and 1 <= int(wave) <= len(execution.plan.waves):  # the seed's 1-based waveNumber
            return execution.plan.waves[int(wave) - 1].id
        raise NotFound(f"waveId: execution {execution.execution_id} has no wave {wave!r}")

    def _valid_plan(self, plan: RecoveryPlan) -> RecoveryPlan:
        with translate_failures():
            missing = sorted(g for g in _group_ids(plan) if self.deps.store.get_group(g) is None)
        if missing:
            try:
                plan.check_groups(set(_group_ids(plan)) - set(missing))
            except ValueError as err:
                raise InvalidInput(str(err), [{"field": str(err).split(":")[0], "reason": "unknown group"}]) from None
        return plan

    def _refuse_if_running(self, plan_id: str, what: str) -> None:
        with translate_failures():
            running = [
                e
                for e in self.deps.store.active_execution_ids()
                if (summary := self.deps.store.execution_summary(e)) and summary.plan_id == plan_id
            ]
        if running:
            raise Conflict(f"recovery plan {plan_id} cannot be {what} while executions run: {', '.join(running)}")

    def _busy_servers(self, inventory: list[SourceServer]) -> dict[str, str]:
        busy: dict[str, str] = {}
        for execution_id in self.deps.store.active_execution_ids():
            execution = self.deps.store.load_execution(execution_id)
            if execution is not None:
                busy.update(dict.fromkeys(claimed_servers(execution, inventory), execution_id))
        return busy

    def _inventory(self, group: ProtectionGroup) -> list[SourceServer]:
        with translate_failures():
            return self.deps.drs_for(group.account_id or self.deps.account_id, group.region).describe_source_servers()


def _same_id(body: Any, field: str, path_id: str) -> Any:
    """The body with the path's id; a different id in the body is refused rather than silently overwritten."""
    if not isinstance(body, dict):
        return body
    if body.get(field) not in (None, path_id):
        raise InvalidInput(
            f"{field}: {body[field]!r} differs from the id in the path ({path_id!r}); ids cannot be changed",
            [{"field": field, "reason": "differs from the id in the path"}],
        )
    return {**body, field: path_id}


def _group_ids(plan: RecoveryPlan) -> list[str]:
    return list(dict.fromkeys(g for w in plan.waves for g in w.protection_group_ids))


def _instance_ids(execution: Execution) -> list[str]:
    return [
        s.recovery_instance_id
        for w in execution.waves.values()
        for s in w.servers.values()
        if s.recovery_instance_id is not None
    ]
