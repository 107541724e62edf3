"""Direct invocation: the seed's operation payloads (`{"operation": ..., ...}`) mapped onto the control plane.

Three functions own the operations, as in the seed: query (reads), execution (lifecycle) and data management
(definitions, initialise/finalise, error log). Each accepts only its own operations. Errors come back as
`{"error": CODE, "message": ...}` (INVALID_OPERATION, MISSING_PARAMETER, NOT_FOUND, DYNAMODB_ERROR ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from drwave.control.errors import ControlError, InvalidInput, InvalidOperation, MissingParameter
from drwave.control.roles import Caller
from drwave.control.service import ControlPlane, translate_failures

if TYPE_CHECKING:
    from drwave.control.triggers import TriggerControl


class Owner(StrEnum):
    """The function that owns an operation."""

    QUERY = "query"
    EXECUTION = "execution"
    DATA = "data-management"


Run = Callable[[ControlPlane, Caller, dict[str, Any]], Any]


@dataclass(frozen=True)
class Operation:
    """One direct-invocation operation: its owner and how it calls the control plane."""

    owner: Owner
    run: Run


def _arg(payload: dict[str, Any], *names: str) -> str:
    """The first of `names` present (the seed spells some ids two ways), as a non-empty string."""
    for name in names:
        value = payload.get(name)
        if value is not None and value != "":
            if not isinstance(value, str | int):
                raise InvalidInput(f"{name}: must be a string", [{"field": name, "reason": "must be a string"}])
            return str(value)
    raise MissingParameter(f"{names[0]} is required", [{"field": names[0], "reason": "is required"}])


def _body(payload: dict[str, Any], *drop: str) -> dict[str, Any]:
    """The payload without the envelope fields, as a definition body."""
    return {k: v for k, v in payload.items() if k not in {"operation", *drop}}


def _initialize(plane: ControlPlane, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    """Request the execution under the caller's id; a repeat returns the existing execution (idempotent)."""
    execution_id = _arg(p, "executionId")
    if plane.deps.store.execution_summary(execution_id) is not None:
        status = plane.get_execution(caller, execution_id)["status"]
        return {"executionId": execution_id, "status": "INITIALIZED", "executionStatus": status}
    started = plane.start_execution(caller, _body(p, "dryRun", "notificationEmail", "idempotencyToken"))
    return {"executionId": started["executionId"], "status": "INITIALIZED", "timestamp": plane.deps.now().isoformat()}


def _start_wave(plane: ControlPlane, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    """Waves start themselves when their dependencies complete: this approves a waiting gate and reports."""
    execution_id, wave = _arg(p, "executionId"), _arg(p, "waveId", "waveNumber")
    status = plane.wave_status(caller, execution_id, wave)
    if status["status"] == "WAITING_APPROVAL":
        plane.approve(caller, execution_id, status["waveId"])
        status = plane.wave_status(caller, execution_id, status["waveId"])
    jobs = status["jobIds"]
    return {
        "jobId": jobs[0] if jobs else None,
        "jobIds": jobs,
        "status": status["status"],
        "waveNumber": status["waveNumber"],
        "waveId": status["waveId"],
        "startTime": status["startedAt"],
    }


OPERATIONS: dict[str, Operation] = {
    # query
    "list_protection_groups": Operation(Owner.QUERY, lambda c, u, p: {"protectionGroups": c.list_groups(u)}),
    "get_protection_group": Operation(
        Owner.QUERY, lambda c, u, p: c.get_group(u, _arg(p, "groupId", "protectionGroupId"))
    ),
    "preview_protection_group": Operation(
        Owner.QUERY, lambda c, u, p: c.preview_group(u, _arg(p, "groupId", "protectionGroupId"))
    ),
    "list_recovery_plans": Operation(Owner.QUERY, lambda c, u, p: {"recoveryPlans": c.list_plans(u)}),
    "get_recovery_plan": Operation(Owner.QUERY, lambda c, u, p: c.get_plan(u, _arg(p, "planId"))),
    "list_executions": Operation(Owner.QUERY, lambda c, u, p: c.list_executions(u, _body(p))),
    "get_execution": Operation(Owner.QUERY, lambda c, u, p: c.get_execution(u, _arg(p, "executionId"))),
    "get_execution_timeline": Operation(Owner.QUERY, lambda c, u, p: c.timeline(u, _arg(p, "executionId"))),
    "get_wave_status": Operation(
        Owner.QUERY, lambda c, u, p: c.wave_status(u, _arg(p, "executionId"), _arg(p, "waveId", "waveNumber"))
    ),
    "get_drs_source_servers": Operation(
        Owner.QUERY, lambda c, u, p: c.list_source_servers(u, p.get("accountId"), p.get("region"))
    ),
    "get_target_accounts": Operation(Owner.QUERY, lambda c, u, p: {"targetAccounts": c.list_accounts(u)}),
    "preflight_check": Operation(Owner.QUERY, lambda c, u, p: c.preflight(u, _arg(p, "planId")).to_wire()),
    # execution
    "start_execution": Operation(Owner.EXECUTION, lambda c, u, p: c.start_execution(u, _body(p))),
    "cancel_execution": Operation(Owner.EXECUTION, lambda c, u, p: c.cancel(u, _arg(p, "executionId"))),
    "pause_execution": Operation(Owner.EXECUTION, lambda c, u, p: c.pause(u, _arg(p, "executionId"))),
    "resume_execution": Operation(Owner.EXECUTION, lambda c, u, p: c.resume(u, _arg(p, "executionId"))),
    "approve_wave": Operation(
        Owner.EXECUTION, lambda c, u, p: c.approve(u, _arg(p, "executionId"), _arg(p, "waveId", "waveNumber"))
    ),
    "start_wave_recovery": Operation(Owner.EXECUTION, _start_wave),
    "retry_wave": Operation(
        Owner.EXECUTION, lambda c, u, p: c.retry_wave(u, _arg(p, "executionId"), _arg(p, "waveId", "waveNumber"))
    ),
    "terminate_instances": Operation(Owner.EXECUTION, lambda c, u, p: c.terminate_instances(u, _arg(p, "executionId"))),
    "get_recovery_instances": Operation(
        Owner.EXECUTION, lambda c, u, p: c.recovery_instances(u, _arg(p, "executionId"))
    ),
    # data management
    "create_protection_group": Operation(Owner.DATA, lambda c, u, p: c.create_group(u, _body(p))),
    "update_protection_group": Operation(
        Owner.DATA,
        lambda c, u, p: c.update_group(u, _arg(p, "groupId", "id"), _body(p, "groupId", "protectionGroupId")),
    ),
    "delete_protection_group": Operation(
        Owner.DATA, lambda c, u, p: c.delete_group(u, _arg(p, "groupId", "protectionGroupId", "id"))
    ),
    "create_recovery_plan": Operation(Owner.DATA, lambda c, u, p: c.create_plan(u, _body(p))),
    "update_recovery_plan": Operation(
        Owner.DATA, lambda c, u, p: c.update_plan(u, _arg(p, "planId", "id"), _body(p, "planId"))
    ),
    "delete_recovery_plan": Operation(Owner.DATA, lambda c, u, p: c.delete_plan(u, _arg(p, "planId", "id"))),
    "register_target_account": Operation(Owner.DATA, lambda c, u, p: c.register_account(u, _body(p))),
    "update_target_account": Operation(Owner.DATA, lambda c, u, p: c.update_account(u, _arg(p, "accountId"), _body(p))),
    "delete_target_account": Operation(Owner.DATA, lambda c, u, p: c.delete_account(u, _arg(p, "accountId"))),
    "initialize_execution": Operation(Owner.DATA, _initialize),
    "finalize_execution": Operation(Owner.DATA, lambda c, u, p: c.outcome(u, _arg(p, "executionId"))),
    "log_error": Operation(
        Owner.DATA,
        lambda c, u, p: c.report_error(u, _arg(p, "executionId"), str(p.get("stage") or ""), _error_text(p)),
    ),
}


def _t(plane: ControlPlane) -> TriggerControl:
    # Cold start: only the schedule and trigger operations need the trigger control plane; imported on first use.
    from drwave.control.triggers import TriggerControl  # noqa: PLC0415

    return TriggerControl(plane.deps)


# Drill schedules, failover triggers and drill freshness (drwave.control.triggers): reads on query, changes on data.
OPERATIONS.update(
    {
        "list_drill_schedules": Operation(Owner.QUERY, lambda c, u, p: {"items": _t(c).list_schedules(u)}),
        "get_drill_schedule": Operation(Owner.QUERY, lambda c, u, p: _t(c).get_schedule(u, _arg(p, "scheduleId"))),
        "list_failover_triggers": Operation(Owner.QUERY, lambda c, u, p: {"items": _t(c).list_triggers(u)}),
        "get_failover_trigger": Operation(Owner.QUERY, lambda c, u, p: _t(c).get_trigger(u, _arg(p, "triggerId"))),
        "get_drill_freshness": Operation(Owner.QUERY, lambda c, u, p: _t(c).freshness(u, _arg(p, "planId"))),
        "create_drill_schedule": Operation(Owner.DATA, lambda c, u, p: _t(c).put_schedule(u, _body(p))),
        "update_drill_schedule": Operation(
            Owner.DATA, lambda c, u, p: _t(c).put_schedule(u, _body(p, "scheduleId"), _arg(p, "scheduleId", "id"))
        ),
        "delete_drill_schedule": Operation(
            Owner.DATA, lambda c, u, p: _t(c).delete_schedule(u, _arg(p, "scheduleId", "id"))
        ),
        "create_failover_trigger": Operation(Owner.DATA, lambda c, u, p: _t(c).put_trigger(u, _body(p))),
        "update_failover_trigger": Operation(
            Owner.DATA, lambda c, u, p: _t(c).put_trigger(u, _body(p, "triggerId"), _arg(p, "triggerId", "id"))
        ),
        "delete_failover_trigger": Operation(
            Owner.DATA, lambda c, u, p: _t(c).delete_trigger(u, _arg(p, "triggerId", "id"))
        ),
        "arm_failover_trigger": Operation(Owner.DATA, lambda c, u, p: _t(c).arm(u, _arg(p, "triggerId"), True)),
        "disarm_failover_trigger": Operation(Owner.DATA, lambda c, u, p: _t(c).arm(u, _arg(p, "triggerId"), False)),
    }
)


def _error_text(payload: dict[str, Any]) -> str:
    """A short description of a Step Functions error object ({"Error", "Cause"}) or a plain string."""
    error = payload.get("error")
    if error is None:
        raise MissingParameter("error is required", [{"field": "error", "reason": "is required"}])
    if isinstance(error, dict):
        return f"{error.get('Error', 'Error')}: {str(error.get('Cause', ''))[:300]}"
    return str(error)[:400]


def owner_of(operation: str) -> Owner | None:
    """The function that owns an operation, or None if no function does."""
    found = OPERATIONS.get(operation)
    return found.owner if found else None


def invoke(plane: ControlPlane, caller: Caller, owner: Owner, payload: Any) -> Any:
    """Run one direct-invocation payload on the function `owner`; errors come back as the error envelope."""
    try:
        if not isinstance(payload, dict):
            raise InvalidInput("the payload must be a JSON object with an 'operation'")
        name = payload.get("operation")
        if not name:
            raise MissingParameter("operation is required", [{"field": "operation", "reason": "is required"}])
        operation = OPERATIONS.get(str(name))
        if operation is None or operation.owner is not owner:
            hint = f" (it belongs to the {operation.owner} function)" if operation else ""
            raise InvalidOperation(f"Operation '{name}' is not supported by the {owner} function{hint}")
        with translate_failures():  # the few operations that read the store directly
            return operation.run(plane, caller, payload)
    except ControlError as err:
        return err.body()
