"""REST API (API Gateway, Cognito-authenticated): thin routes over the control plane.

Every route reads the caller's role from the authorizer's claims (Cognito groups admin/operator/viewer) and
passes it to the ControlPlane, which checks it. Errors share one envelope: {"error", "message", "details"}.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query

from drwave.control.errors import ControlError, Forbidden, InvalidInput, NotFound, invalid_from_errors
from drwave.control.requests import StartExecution
from drwave.control.roles import Caller, role_from_groups
from drwave.control.service import ControlPlane
from drwave.engine.loop import logger
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.models.accounts import TargetAccount
from drwave.models.execution import ExecutionStatus, ExecutionType
from drwave.models.plan import ProtectionGroup, RecoveryPlan

API_TITLE = "drwave control plane"
API_VERSION = "1"
app = APIGatewayRestResolver(enable_validation=True)
_deps: Dependencies | None = None

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]


def _json(status: int, body: Any) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


def _plane() -> ControlPlane:
    return ControlPlane(_deps or default_dependencies())


def _caller() -> Caller:
    """Identity and role from the Cognito authorizer's claims (the local server fills the same claims)."""
    claims = (app.current_event.request_context.authorizer.claims or {}) if app.current_event else {}
    raw = claims.get("cognito:groups") or ""
    groups = raw if isinstance(raw, list) else str(raw).strip("[]").replace(",", " ").split()
    role = role_from_groups(groups)
    identity = str(claims.get("email") or claims.get("cognito:username") or claims.get("sub") or "")
    if role is None or not identity:
        raise Forbidden("the caller belongs to none of the groups admin, operator, viewer")
    return Caller(identity, role)


@app.exception_handler(ControlError)
def _control_error(err: ControlError) -> Response[str]:
    if err.status >= 500:
        logger.warning("dependency failure", error=err.code)
    return _json(err.status, err.body())


@app.not_found
def _no_route(_: NotFoundError) -> Response[str]:
    """The {proxy+} resource sends every path here: an unknown one gets the same envelope as any 404."""
    event = app.current_event
    where = f"{event.http_method} {event.path}" if event else "this request"
    return _json(404, NotFound(f"no such route: {where}").body())


@app.exception_handler(RequestValidationError)
def _invalid_request(err: RequestValidationError) -> Response[str]:
    failure: InvalidInput = invalid_from_errors(list(err.errors()))
    return _json(400, failure.body())


# --- protection groups ------------------------------------------------------------------------------


@app.get("/protection-groups", summary="List protection groups")
def list_groups() -> Response[str]:
    return _json(200, {"items": _plane().list_groups(_caller())})


@app.post("/protection-groups", summary="Create a protection group")
def create_group(group: Annotated[ProtectionGroup, Body()]) -> Response[str]:
    return _json(201, _plane().create_group(_caller(), group.to_wire()))


@app.get("/protection-groups/<group_id>", summary="Get a protection group")
def get_group(group_id: Id) -> Response[str]:
    return _json(200, _plane().get_group(_caller(), group_id))


@app.put("/protection-groups/<group_id>", summary="Replace a protection group")
def update_group(group_id: Id, group: Annotated[ProtectionGroup, Body()]) -> Response[str]:
    return _json(200, _plane().update_group(_caller(), group_id, group.to_wire()))


@app.delete("/protection-groups/<group_id>", summary="Delete a protection group no plan uses")
def delete_group(group_id: Id) -> Response[str]:
    return _json(200, _plane().delete_group(_caller(), group_id))


@app.get("/protection-groups/<group_id>/preview", summary="Servers the group resolves to right now")
def preview_group(group_id: Id) -> Response[str]:
    return _json(200, _plane().preview_group(_caller(), group_id))


# --- recovery plans ---------------------------------------------------------------------------------


@app.get("/recovery-plans", summary="List recovery plans")
def list_plans() -> Response[str]:
    return _json(200, {"items": _plane().list_plans(_caller())})


@app.post("/recovery-plans", summary="Create a recovery plan")
def create_plan(plan: Annotated[RecoveryPlan, Body()]) -> Response[str]:
    return _json(201, _plane().create_plan(_caller(), plan.to_wire()))


@app.get("/recovery-plans/<plan_id>", summary="Get a recovery plan")
def get_plan(plan_id: Id) -> Response[str]:
    return _json(200, _plane().get_plan(_caller(), plan_id))


@app.put("/recovery-plans/<plan_id>", summary="Replace a recovery plan (409 while it runs)")
def update_plan(plan_id: Id, plan: Annotated[RecoveryPlan, Body()]) -> Response[str]:
    return _json(200, _plane().update_plan(_caller(), plan_id, plan.to_wire()))


@app.delete("/recovery-plans/<plan_id>", summary="Delete a recovery plan (409 while it runs)")
def delete_plan(plan_id: Id) -> Response[str]:
    return _json(200, _plane().delete_plan(_caller(), plan_id))


@app.get("/recovery-plans/<plan_id>/preflight", summary="Pre-flight check: every problem, not just the first")
def preflight(plan_id: Id) -> Response[str]:
    return _json(200, _plane().preflight(_caller(), plan_id).to_wire())


# --- executions -------------------------------------------------------------------------------------


@app.get("/executions", summary="List executions, newest first")
def list_executions(
    status: Annotated[ExecutionStatus | None, Query()] = None,
    plan_id: Annotated[str | None, Query(alias="planId")] = None,
    execution_type: Annotated[ExecutionType | None, Query(alias="executionType")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> Response[str]:
    query = {"status": status, "planId": plan_id, "executionType": execution_type, "limit": limit}
    query["nextToken"] = next_token
    return _json(200, _plane().list_executions(_caller(), {k: v for k, v in query.items() if v is not None}))


@app.post("/executions", summary="Start an execution (202 Accepted with its id)")
def start_execution(
    request: Annotated[StartExecution, Body()],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=8, max_length=128)] = None,
) -> Response[str]:
    caller = _caller()
    body = request.to_wire()
    if idempotency_key and not request.execution_id:  # a client's retry of the same request reuses the same id
        digest = hashlib.sha256(f"{caller.identity}\n{idempotency_key}".encode()).hexdigest()
        body["executionId"] = f"exec-{digest[:12]}"
    return _json(202, _plane().start_execution(caller, body))


@app.get("/executions/<execution_id>", summary="Execution status, waves and progress")
def get_execution(execution_id: Id) -> Response[str]:
    return _json(200, _plane().get_execution(_caller(), execution_id))


@app.get("/executions/<execution_id>/timeline", summary="Audit timeline")
def timeline(execution_id: Id) -> Response[str]:
    return _json(200, _plane().timeline(_caller(), execution_id))


@app.get("/executions/<execution_id>/waves/<wave_id>", summary="One wave's status")
def wave_status(execution_id: Id, wave_id: Id) -> Response[str]:
    return _json(200, _plane().wave_status(_caller(), execution_id, wave_id))


@app.post("/executions/<execution_id>/pause", summary="Pause: in-flight work finishes, no new wave opens")
def pause(execution_id: Id) -> Response[str]:
    return _json(202, _plane().pause(_caller(), execution_id))


@app.post("/executions/<execution_id>/resume", summary="Resume a paused execution")
def resume(execution_id: Id) -> Response[str]:
    return _json(202, _plane().resume(_caller(), execution_id))


@app.post("/executions/<execution_id>/cancel", summary="Cancel: no new waves; in-flight jobs are tracked to the end")
def cancel(execution_id: Id) -> Response[str]:
    return _json(202, _plane().cancel(_caller(), execution_id))


@app.post("/executions/<execution_id>/waves/<wave_id>/approve", summary="Approve a wave's gate")
def approve(execution_id: Id, wave_id: Id) -> Response[str]:
    return _json(202, _plane().approve(_caller(), execution_id, wave_id))


@app.post("/executions/<execution_id>/waves/<wave_id>/retry", summary="Retry a failed wave (a new execution)")
def retry_wave(execution_id: Id, wave_id: Id) -> Response[str]:
    return _json(202, _plane().retry_wave(_caller(), execution_id, wave_id))


@app.get("/executions/<execution_id>/recovery-instances", summary="Recovery instances the execution launched")
def recovery_instances(execution_id: Id) -> Response[str]:
    return _json(200, _plane().recovery_instances(_caller(), execution_id))


@app.post("/executions/<execution_id>/terminate-instances", summary="Terminate the execution's recovery instances")
def terminate_instances(execution_id: Id) -> Response[str]:
    return _json(202, _plane().terminate_instances(_caller(), execution_id))


# --- target accounts --------------------------------------------------------------------------------

AccountPath = Annotated[str, Path(pattern=r"^\d{12}$")]


@app.get("/target-accounts", summary="List registered target accounts")
def list_accounts() -> Response[str]:
    return _json(200, {"items": _plane().list_accounts(_caller())})


@app.post("/target-accounts", summary="Register a target account (the role drwave assumes there)")
def register_account(account: Annotated[TargetAccount, Body()]) -> Response[str]:
    return _json(201, _plane().register_account(_caller(), account.to_wire()))


@app.get("/target-accounts/<account_id>", summary="Get a target account")
def get_account(account_id: AccountPath) -> Response[str]:
    return _json(200, _plane().get_account(_caller(), account_id))


@app.put("/target-accounts/<account_id>", summary="Replace a target account's registration")
def update_account(account_id: AccountPath, account: Annotated[TargetAccount, Body()]) -> Response[str]:
    return _json(200, _plane().update_account(_caller(), account_id, account.to_wire()))


@app.delete("/target-accounts/<account_id>", summary="Unregister a target account no group uses")
def delete_account(account_id: AccountPath) -> Response[str]:
    return _json(200, _plane().delete_account(_caller(), account_id))


# --- DRS inventory ----------------------------------------------------------------------------------


@app.get("/source-servers", summary="DRS source servers with their replication state")
def source_servers(
    account_id: Annotated[str | None, Query(alias="accountId", pattern=r"^\d{12}$")] = None,
    region: Annotated[str | None, Query(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")] = None,
) -> Response[str]:
    return _json(200, _plane().list_source_servers(_caller(), account_id, region))


@app.get("/openapi.json", summary="This API's OpenAPI document")
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=openapi_json())


def openapi_json() -> str:
    """The OpenAPI document Powertools generates from the routes (committed as infrastructure/openapi.json)."""
    return app.get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        security_schemes={"cognito": HTTPBearer(description="Cognito ID token; groups admin, operator, viewer")},
        security=[{"cognito": []}],
    )


# Schedules, triggers and drill freshness register their routes on `app` (a module of their own).
from drwave.handlers import api_triggers  # noqa: E402, F401


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> dict[str, Any]:
    """Entry point of the API function."""
    global _deps  # noqa: PLW0603 - the resolver is module-level; tests and the local server inject ports
    _deps = deps
    return app.resolve(event, context)
