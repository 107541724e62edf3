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
from drwave.adapters.store import (
    ExecutionSummary,
    InvalidPageToken,
    ItemTooLarge,
    StoreError,
    Versioned,
    VersionMismatch,
)
from drwave.control.errors import (
    Conflict,
    DependencyFailure,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    PreflightFailed,
    invalid_from,
)
from drwave.control.requests import ChangeCleanup, ExecutionFilter, PredictRequest, StartExecution
from drwave.control.roles import Caller, Permission
from drwave.control.views import execution_view, recovery_instances_view, server_view, wave_view
from drwave.core import messages as m
from drwave.core.cleanup import extend as extend_cleanup
from drwave.core.cleanup import keep as keep_cleanup
from drwave.core.cleanup import summary as cleanup_summary
from drwave.core.create import PlanNotRunnable, new_execution, subplan, waves_to_retry
from drwave.core.launch import validate_launch_settings
from drwave.core.objectives import server_rto
from drwave.core.preflight import PreflightReport, Problem, check_plan, claimed_servers, group_members
from drwave.core.recovery_points import check_recovery_point
from drwave.engine.loop import apply
from drwave.engine.ports import Dependencies
from drwave.models.accounts import TargetAccount
from drwave.models.base import iso_z
from drwave.models.events import (
    EventDetail,
    ExecutionCancelRequested,
    ExecutionPauseRequested,
    ExecutionRequested,
    ExecutionResumeRequested,
    WaveGateApproved,
)
from drwave.models.execution import Execution, ExecutionStatus, ExecutionType, WaveStatus
from drwave.models.limits import MAX_STAGE, SHOWN
from drwave.models.plan import REGION_PATTERN, ProtectionGroup, RecoveryPlan
from drwave.models.recovery import MAX_FINDINGS_KEPT, PreflightFinding, RecoveryPoint

M = TypeVar("M", bound=BaseModel)
# Pre-flight predicts the RTO of plans with a target (a few engine runs); larger plans ask POST /plans/{id}/predict.
PREFLIGHT_PREDICTION_RUNS = 20
PREFLIGHT_PREDICTION_MAX_SERVERS = 100
_TOO_LARGE = {"field": "body", "reason": "is too large to store"}
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(REGION_PATTERN)


@contextmanager
def translate_failures() -> Iterator[None]:
    """Turn adapter failures into DependencyFailure (503, retryable) rather than a stack trace."""
    try:
        yield
    except ItemTooLarge as err:  # not DynamoDB's fault: the definition is too large, a retry cannot help
        raise PayloadTooLarge(f"body: the definition is too large to store ({err})", [_TOO_LARGE]) from err
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


class Entity(dict[str, Any]):
    """A definition's wire form and the version it was read or written at (the API's ETag)."""

    def __init__(self, wire: dict[str, Any], version: int) -> None:
        super().__init__(wire)
        self.version = version


def _stale(what: str, expected: int, found: int | None = None) -> PreconditionFailed:
    now = "it has been deleted" if found is None else f"it is at version {found}"
    return PreconditionFailed(
        f"If-Match: {what} is no longer at version {expected}: {now}; read it again",
        [{"field": "If-Match", "reason": "names a version the resource no longer has"}],
    )


def _write(what: str, expected: int | None, write: Callable[[], int]) -> int:
    """Run a conditional definition write; a lost condition is 412 with If-Match, else the item vanished (404)."""
    try:
        with translate_failures():
            return write()
    except VersionMismatch:
        if expected is not None:
            raise _stale(what, expected) from None
        raise NotFound(f"{what} was deleted meanwhile") from None


def _check_version(what: str, current: Versioned[Any], expected: int | None) -> None:
    if expected is not None and current.version != expected:
        raise _stale(what, expected, current.version)


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

    def get_group(self, caller: Caller, group_id: str) -> Entity:
        """One protection group, with its version."""
        caller.require(Permission.READ)
        found = self._group_entry(group_id)
        return Entity(found.value.to_wire(), found.version)

    def _with_home_region(self, group: ProtectionGroup) -> ProtectionGroup:
        """A group that names no region is the stack's own Region's (said in its answer), not a fixed default."""
        if "region" not in group.model_fields_set:
            group.region = self.deps.region
        return group

    def create_group(self, caller: Caller, body: Any) -> Entity:
        """Create a group; 409 if the id is taken (checked by the write itself, not by an earlier read)."""
        caller.require(Permission.MANAGE)
        group = self._with_home_region(_parse(ProtectionGroup, body))
        self._check_launch_settings(group)
        try:
            with translate_failures():
                version = self.deps.store.put_group(group, create=True)
        except VersionMismatch:
            raise Conflict(f"id: protection group {group.id} already exists") from None
        return Entity(group.to_wire(), version)

    def update_group(self, caller: Caller, group_id: str, body: Any, if_match: int | None = None) -> Entity:
        """Replace a group (running executions keep the snapshot they started with); 412 on a stale If-Match."""
        caller.require(Permission.MANAGE)
        what = f"protection group {group_id}"
        _check_version(what, self._group_entry(group_id), if_match)
        group = self._with_home_region(_parse(ProtectionGroup, _same_id(body, "id", group_id)))
        self._check_launch_settings(group)
        version = _write(what, if_match, lambda: self.deps.store.put_group(group, expect=if_match, must_exist=True))
        return Entity(group.to_wire(), version)

    def delete_group(self, caller: Caller, group_id: str, if_match: int | None = None) -> dict[str, Any]:
        """Delete a group no plan uses; 409 naming the plans that do; 412 on a stale If-Match."""
        caller.require(Permission.MANAGE)
        what = f"protection group {group_id}"
        _check_version(what, self._group_entry(group_id), if_match)
        with translate_failures():
            users = [
                p.id for p in self.deps.store.list_plans() if any(group_id in w.protection_group_ids for w in p.waves)
            ]
        if users:
            raise Conflict(f"protection group {group_id} is used by recovery plans: {', '.join(users)}")
        _write(what, if_match, lambda: int(self.deps.store.delete_group(group_id, expect=if_match)))
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

    def get_plan(self, caller: Caller, plan_id: str) -> Entity:
        """One recovery plan, with its version."""
        caller.require(Permission.READ)
        found = self._plan_entry(plan_id)
        return Entity(found.value.to_wire(), found.version)

    def create_plan(self, caller: Caller, body: Any) -> Entity:
        """Create a plan whose groups exist; 409 if the id is taken (checked by the write itself)."""
        caller.require(Permission.MANAGE)
        plan = self._valid_plan(_parse(RecoveryPlan, body))
        try:
            with translate_failures():
                version = self.deps.store.put_plan(plan, create=True)
        except VersionMismatch:
            raise Conflict(f"id: recovery plan {plan.id} already exists") from None
        return Entity(plan.to_wire(), version)

    def update_plan(self, caller: Caller, plan_id: str, body: Any, if_match: int | None = None) -> Entity:
        """Replace a plan; 409 while one of its executions is active; 412 on a stale If-Match."""
        caller.require(Permission.MANAGE)
        what = f"recovery plan {plan_id}"
        _check_version(what, self._plan_entry(plan_id), if_match)
        self._refuse_if_running(plan_id, "edited")
        plan = self._valid_plan(_parse(RecoveryPlan, _same_id(body, "id", plan_id)))
        version = _write(what, if_match, lambda: self.deps.store.put_plan(plan, expect=if_match, must_exist=True))
        return Entity(plan.to_wire(), version)

    def delete_plan(self, caller: Caller, plan_id: str, if_match: int | None = None) -> dict[str, Any]:
        """Delete a plan; 409 while one of its executions is active; 412 on a stale If-Match."""
        caller.require(Permission.MANAGE)
        what = f"recovery plan {plan_id}"
        _check_version(what, self._plan_entry(plan_id), if_match)
        self._refuse_if_running(plan_id, "deleted")
        _write(what, if_match, lambda: int(self.deps.store.delete_plan(plan_id, expect=if_match)))
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

    def preflight(self, caller: Caller, plan_id: str, recovery_point: RecoveryPoint | None = None) -> PreflightReport:
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
        report = check_plan(plan, groups, inventory, busy, ledger, self.deps.limits)
        if recovery_point is not None and not recovery_point.latest:
            known = {s.source_server_id for s in inventory}
            servers = [sid for ids in report.wave_servers.values() for sid in ids if sid in known]
            with translate_failures():
                found = self.deps.drs_for(account, region).snapshots_for(recovery_point, servers)
            report.problems.extend(check_recovery_point(recovery_point, report.wave_servers, found, self.deps.now()))
        report.warnings.extend(self._predicted_rto_warnings(plan, groups, inventory, report))
        return report

    def _predicted_rto_warnings(
        self,
        plan: RecoveryPlan,
        groups: dict[str, ProtectionGroup],
        inventory: list[SourceServer],
        report: PreflightReport,
    ) -> list[Problem]:
        """A warning when the predicted p90 RTO exceeds the plan's target (small plans only: it runs the engine)."""
        servers = sum(len(ids) for ids in report.wave_servers.values())
        if plan.target_rto_minutes is None or not report.ok or servers > PREFLIGHT_PREDICTION_MAX_SERVERS:
            return []
        from drwave.core.predict import ServerModel  # noqa: PLC0415 - cold start: only plans with an RTO target
        from drwave.core.predict import predict as run_prediction  # noqa: PLC0415

        with translate_failures():
            history = self._launch_history(plan.id, 3)
        models = {
            s.source_server_id: ServerModel(
                s.source_server_id, dict(s.tags), tuple(history.get(s.source_server_id, ()))
            )
            for s in inventory
        }
        result = run_prediction(plan, groups, models, runs=PREFLIGHT_PREDICTION_RUNS)
        p90 = result.plan_rto["p90"]
        if p90 is None or p90 <= plan.target_rto_minutes * 60:
            return []
        text = (
            f"predicted p90 RTO {p90 / 60:.1f} min exceeds the target of {plan.target_rto_minutes} min "
            f"({PREFLIGHT_PREDICTION_RUNS} runs; POST /plans/{plan.id}/predict for more)"
        )
        return [Problem("PREDICTED_RTO_OVER_TARGET", text)]

    def predict(self, caller: Caller, plan_id: str, body: Any) -> dict[str, Any]:
        """What-if RTO of a plan: many virtual-time runs through the decision core, durations from its history."""
        from drwave.core.predict import Assumptions, ServerModel  # noqa: PLC0415 - cold start: this operation only
        from drwave.core.predict import predict as run_prediction  # noqa: PLC0415

        caller.require(Permission.READ)
        request = _parse(PredictRequest, body or {})
        plan = self._plan(plan_id)
        with translate_failures():
            groups = {g: group for g in _group_ids(plan) if (group := self.deps.store.get_group(g))}
            targets = {(g.account_id or self.deps.account_id, g.region) for g in groups.values()}
            inventory = [s for a, r in sorted(targets) for s in self.deps.drs_for(a, r).describe_source_servers()]
            history = self._launch_history(plan_id, request.history_executions)
        try:
            plan.check_groups(set(groups))
        except ValueError as err:
            raise Conflict(str(err)) from None
        servers = {
            s.source_server_id: ServerModel(
                s.source_server_id, dict(s.tags), tuple(history.get(s.source_server_id, ()))
            )
            for s in inventory
        }
        assume = Assumptions(approval_delay=request.approval_delay_seconds)
        result = run_prediction(plan, groups, servers, runs=request.runs, assume=assume)
        return {"planId": plan_id, "historyServers": len(history), **result.to_wire()}

    def _launch_history(self, plan_id: str, newest: int) -> dict[str, list[float]]:
        """Each server's launch durations in the plan's newest ended executions."""
        history: dict[str, list[float]] = {}
        if newest == 0:
            return history
        summaries, _ = self.deps.store.list_executions(plan_id=plan_id, limit=min(100, newest * 3))
        ended = [s for s in summaries if ExecutionStatus(s.status).terminal][:newest]
        for summary in ended:
            execution = self.deps.store.load_execution(summary.execution_id)
            for wave in execution.waves.values() if execution else []:
                for server in wave.servers.values():
                    if (took := server_rto(wave, server)) is not None:
                        history.setdefault(server.source_server_id, []).append(took.total_seconds())
        return history

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
        report = self.preflight(caller, request.plan_id, request.recovery_point)
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
                recovery_point=None if request.recovery_point.latest else request.recovery_point,
                drill_ttl_minutes=request.drill_ttl_minutes,
            ),
            findings=_findings(report),
        )
        return {
            "executionId": execution_id,
            "planId": request.plan_id,
            "executionType": request.execution_type.value,
            "status": "REQUESTED",
            "warnings": [w.to_wire() for w in report.warnings],
        }

    def _create_and_request(self, request: ExecutionRequested, findings: list[PreflightFinding] | None = None) -> None:
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
                recovery_point=request.recovery_point,
                drill_ttl_minutes=request.drill_ttl_minutes,
            )
            execution.preflight_findings = findings or []
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
        # asOf: the stack's clock (simulated in the local runtime), so watchers stamp lines with the engine's time.
        return execution_view(self._execution(execution_id)) | {"asOf": iso_z(self.deps.now())}

    def timeline(self, caller: Caller, execution_id: str) -> dict[str, Any]:
        """An execution's audit timeline."""
        caller.require(Permission.READ)
        execution = self._execution(execution_id, timeline=True)
        return {"executionId": execution_id, "timeline": [e.to_wire() for e in execution.timeline]}

    def report(self, caller: Caller, execution_id: str, fmt: str = "json") -> tuple[str, str]:
        """The execution's evidence report as (content type, body) in html, md or json."""
        from drwave.core.evidence import FORMATS, build_evidence  # noqa: PLC0415 - cold start: this operation only
        from drwave.core.evidence_render import render  # noqa: PLC0415

        caller.require(Permission.READ)
        if fmt not in FORMATS:
            reason = f"must be one of {', '.join(FORMATS)}"
            raise InvalidInput(f"format: {reason}", [{"field": "format", "reason": reason}])
        execution = self._execution(execution_id, timeline=True)
        with translate_failures():
            cleanup = self.deps.cleanup_store.load(execution_id)
        return render(build_evidence(execution, cleanup=cleanup), fmt)

    def change_cleanup(self, caller: Caller, execution_id: str, body: Any) -> dict[str, Any]:
        """Extend a finished drill's TTL ({"extendMinutes": N}) or keep its instances ({"keepForever": true})."""
        caller.require(Permission.CONTROL)
        request = _parse(ChangeCleanup, body)
        store = self.deps.cleanup_store
        with translate_failures():
            cleanup = store.load(execution_id)
        if cleanup is None:
            raise NotFound(f"execution {execution_id} has no drill cleanup scheduled")
        try:
            if request.keep_forever:
                changed = keep_cleanup(cleanup, caller.identity)
            else:
                changed = extend_cleanup(cleanup, request.extend_minutes or 0, caller.identity, self.deps.now())
        except ValueError as err:
            raise Conflict(str(err)) from None
        with translate_failures():
            saved = store.save(changed)
        return cleanup_summary(saved)

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
                recovery_point=None if original.recovery_point.latest else original.recovery_point,
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
        if len(stage) > MAX_STAGE:
            reason = f"is longer than {MAX_STAGE} characters"
            raise InvalidInput(f"stage: {reason}", [{"field": "stage", "reason": reason}])
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
        """Registered target accounts (their external ids only for those who may change them)."""
        caller.require(Permission.READ)
        with translate_failures():
            return [_account_view(caller, a) for a in self.deps.store.list_target_accounts()]

    def get_account(self, caller: Caller, account_id: str) -> Entity:
        """One registered target account, with its version."""
        caller.require(Permission.READ)
        found = self._account_entry(account_id)
        return Entity(_account_view(caller, found.value), found.version)

    def register_account(self, caller: Caller, body: Any) -> Entity:
        """Register a target account; 409 if it is registered already (checked by the write itself)."""
        caller.require(Permission.MANAGE)
        account = _parse(TargetAccount, body)
        try:
            with translate_failures():
                version = self.deps.store.put_target_account(account, create=True)
        except VersionMismatch:
            raise Conflict(f"accountId: target account {account.account_id} is already registered") from None
        return Entity(account.to_wire(), version)

    def update_account(self, caller: Caller, account_id: str, body: Any, if_match: int | None = None) -> Entity:
        """Replace a target account's registration; 412 on a stale If-Match."""
        caller.require(Permission.MANAGE)
        what = f"target account {account_id}"
        _check_version(what, self._account_entry(account_id), if_match)
        account = _parse(TargetAccount, _same_id(body, "accountId", account_id))
        store = self.deps.store
        version = _write(what, if_match, lambda: store.put_target_account(account, expect=if_match, must_exist=True))
        return Entity(account.to_wire(), version)

    def delete_account(self, caller: Caller, account_id: str, if_match: int | None = None) -> dict[str, Any]:
        """Unregister a target account no protection group uses; 412 on a stale If-Match."""
        caller.require(Permission.MANAGE)
        what = f"target account {account_id}"
        _check_version(what, self._account_entry(account_id), if_match)
        with translate_failures():
            users = [g.id for g in self.deps.store.list_groups() if g.account_id == account_id]
        if users:
            raise Conflict(f"target account {account_id} is used by protection groups: {', '.join(users)}")
        _write(what, if_match, lambda: int(self.deps.store.delete_target_account(account_id, expect=if_match)))
        return {"accountId": account_id, "deleted": True}

    # --- helpers -----------------------------------------------------------------------------------------

    def _command(self, execution_id: str, what: str, command: EventDetail) -> dict[str, Any]:
        with translate_failures():
            self.deps.publisher.publish([command])
        return {"executionId": execution_id, "requested": what, "status": "ACCEPTED"}

    def _account_entry(self, account_id: str) -> Versioned[TargetAccount]:
        with translate_failures():
            found = self.deps.store.get_target_account_versioned(account_id)
        if found is None:
            raise NotFound(f"accountId: no registered target account {account_id!r}")
        return found

    def _group_entry(self, group_id: str) -> Versioned[ProtectionGroup]:
        with translate_failures():
            found = self.deps.store.get_group_versioned(group_id)
        if found is None:
            raise NotFound(f"groupId: no protection group {group_id!r}")
        return found

    def _group(self, group_id: str) -> ProtectionGroup:
        return self._group_entry(group_id).value

    def _plan_entry(self, plan_id: str) -> Versioned[RecoveryPlan]:
        with translate_failures():
            found = self.deps.store.get_plan_versioned(plan_id)
        if found is None:
            raise NotFound(f"planId: no recovery plan {plan_id!r}")
        return found

    def _plan(self, plan_id: str) -> RecoveryPlan:
        return self._plan_entry(plan_id).value

    @staticmethod
    def _check_launch_settings(group: ProtectionGroup) -> None:
        """Refuse settings that can never be applied (clashing fixed IPs, instanceType with right-sizing...) now,
        rather than when the wave launches; a tag-selected group is checked for the servers it overrides."""
        if not group.has_launch_settings():
            return
        problems = validate_launch_settings(group, group.source_server_ids or list(group.server_launch_overrides))
        if problems:
            details = [{"field": p.split(":")[0], "reason": p.split(":", 1)[-1].strip()} for p in problems[:SHOWN]]
            more = f"; and {len(problems) - SHOWN} more problems" if len(problems) > SHOWN else ""
            raise InvalidInput("; ".join(problems[:SHOWN]) + more, details)

    def _execution(self, execution_id: str, *, timeline: bool = False) -> Execution:
        with translate_failures():
            execution = self.deps.store.load_execution(execution_id, timeline=timeline)
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


def _account_view(caller: Caller, account: TargetAccount) -> dict[str, Any]:
    """A target account as the caller may see it: the external id (a shared secret) only for who may manage it."""
    wire = account.to_wire()
    if not caller.may(Permission.MANAGE):
        wire.pop("externalId", None)
    return wire


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


def _findings(report: PreflightReport) -> list[PreflightFinding]:
    """The report's problems (present only when forced) and warnings, as the execution keeps them."""
    both = [("PROBLEM", p) for p in report.problems] + [("WARNING", w) for w in report.warnings]
    return [
        PreflightFinding(
            severity=severity,
            code=p.code,
            message=p.message[:1000],
            wave_id=p.wave_id,
            source_server_id=p.source_server_id,
        )
        for severity, p in both[:MAX_FINDINGS_KEPT]
    ]


def _instance_ids(execution: Execution) -> list[str]:
    return [
        s.recovery_instance_id
        for w in execution.waves.values()
        for s in w.servers.values()
        if s.recovery_instance_id is not None
    ]
