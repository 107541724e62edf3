"""REST API (API Gateway, Cognito-authenticated): thin routes over the control plane.

Every route reads the caller's role from the authorizer's claims (Cognito groups admin/operator/viewer) and
passes it to the ControlPlane, which checks it. Errors share one envelope: {"error", "message", "details"}.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query

from drwave.control.console import Console, permissions
from drwave.control.errors import (
    ControlError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    UnsupportedMediaType,
    invalid_from_errors,
)
from drwave.control.requests import ChangeCleanup, PredictRequest, StartExecution
from drwave.control.roles import Caller, role_from_groups
from drwave.control.service import ControlPlane, Entity
from drwave.control.wire import parse_json
from drwave.engine.log import logger
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.models.accounts import TargetAccount
from drwave.models.execution import ExecutionStatus, ExecutionType
from drwave.models.limits import MAX_BODY_BYTES
from drwave.models.plan import REGION_PATTERN, ProtectionGroup, RecoveryPlan

API_TITLE = "drwave control plane"
API_VERSION = "1"
app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=parse_json)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_deps: Dependencies | None = None

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]


def _json(status: int, body: Any) -> Response[str]:
    """A JSON response; a versioned definition (Entity) also gets its ETag."""
    headers = {"ETag": f'"{body.version}"'} if isinstance(body, Entity) else None
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=64)]


def _expected(if_match: str | None) -> int | None:
    """The version an If-Match names (`"3"`, `W/"3"`); None for `*` or no header; anything else matches nothing."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 18:
        raise PreconditionFailed(
            f"If-Match: {if_match!r} is not an ETag this API issued",
            [{"field": "If-Match", "reason": "is not an ETag this API issued"}],
        )
    return int(tag)


def _plane() -> ControlPlane:
    return ControlPlane(_deps or default_dependencies())


def _as_sent(model: ProtectionGroup) -> dict[str, Any]:
    """The fields the caller sent (so the control plane can tell a default from a choice, e.g. the region)."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _caller() -> Caller:
    """Identity and role from the Cognito authorizer's claims (the local server fills the same claims)."""
    claims = (app.current_event.request_context.authorizer.claims or {}) if app.current_event else {}
    raw = claims.get("cognito:groups") or ""
    groups = raw if isinstance(raw, list) else str(raw).strip("[]").replace(",", " ").split()
    role = role_from_groups(groups)
    # Immutable claims only: users may change their own email, which would rewrite who started or approved what.
    identity = str(claims.get("cognito:username") or claims.get("sub") or "")
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
    return _json(201, _plane().create_group(_caller(), _as_sent(group)))


@app.get("/protection-groups/<group_id>", summary="Get a protection group")
def get_group(group_id: Id) -> Response[str]:
    return _json(200, _plane().get_group(_caller(), group_id))


@app.put("/protection-groups/<group_id>", summary="Replace a protection group")
def update_group(group_id: Id, group: Annotated[ProtectionGroup, Body()], if_match: IfMatch = None) -> Response[str]:
    return _json(200, _plane().update_group(_caller(), group_id, _as_sent(group), _expected(if_match)))


@app.delete("/protection-groups/<group_id>", summary="Delete a protection group no plan uses")
def delete_group(group_id: Id, if_match: IfMatch = None) -> Response[str]:
    return _json(200, _plane().delete_group(_caller(), group_id, _expected(if_match)))


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
def update_plan(plan_id: Id, plan: Annotated[RecoveryPlan, Body()], if_match: IfMatch = None) -> Response[str]:
    return _json(200, _plane().update_plan(_caller(), plan_id, plan.to_wire(), _expected(if_match)))


@app.delete("/recovery-plans/<plan_id>", summary="Delete a recovery plan (409 while it runs)")
def delete_plan(plan_id: Id, if_match: IfMatch = None) -> Response[str]:
    return _json(200, _plane().delete_plan(_caller(), plan_id, _expected(if_match)))


@app.get("/recovery-plans/<plan_id>/preflight", summary="Pre-flight check: every problem, not just the first")
def preflight(plan_id: Id) -> Response[str]:
    return _json(200, _plane().preflight(_caller(), plan_id).to_wire())


@app.post("/plans/<plan_id>/predict", summary="What-if RTO: p50/p90/p99 per wave and plan from virtual-time runs")
def predict(plan_id: Id, request: Annotated[PredictRequest | None, Body()] = None) -> Response[str]:
    return _json(200, _plane().predict(_caller(), plan_id, request.to_wire() if request else {}))


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


@app.get("/executions/<execution_id>/report", summary="Evidence report: self-contained HTML, Markdown or JSON")
def report(
    execution_id: Id, report_format: Annotated[str, Query(alias="format", pattern=r"^(html|md|json)$")] = "json"
) -> Response[str]:
    content_type, body = _plane().report(_caller(), execution_id, report_format)
    return Response(status_code=200, content_type=content_type, body=body)


@app.post("/executions/<execution_id>/cleanup", summary="Extend a finished drill's TTL or keep its instances")
def change_cleanup(execution_id: Id, change: Annotated[ChangeCleanup, Body()]) -> Response[str]:
    return _json(200, _plane().change_cleanup(_caller(), execution_id, change.to_wire()))


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
def update_account(
    account_id: AccountPath, account: Annotated[TargetAccount, Body()], if_match: IfMatch = None
) -> Response[str]:
    return _json(200, _plane().update_account(_caller(), account_id, account.to_wire(), _expected(if_match)))


@app.delete("/target-accounts/<account_id>", summary="Unregister a target account no group uses")
def delete_account(account_id: AccountPath, if_match: IfMatch = None) -> Response[str]:
    return _json(200, _plane().delete_account(_caller(), account_id, _expected(if_match)))


# --- DRS inventory ----------------------------------------------------------------------------------


@app.get("/source-servers", summary="DRS source servers with their replication state")
def source_servers(
    account_id: Annotated[str | None, Query(alias="accountId", pattern=r"^\d{12}$")] = None,
    region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
) -> Response[str]:
    return _json(200, _plane().list_source_servers(_caller(), account_id, region))


# --- console read model (functions/drwave/control/console.py) ---------------------------------------


@app.get("/console/identity", summary="The caller's identity, role and what the role may do")
def console_identity() -> Response[str]:
    return _json(200, permissions(_caller()))


@app.get("/console/executions", summary="Executions newest first, each with its projected status summary")
def console_executions(
    status: Annotated[ExecutionStatus | None, Query()] = None,
    plan_id: Annotated[str | None, Query(alias="planId")] = None,
    execution_type: Annotated[ExecutionType | None, Query(alias="executionType")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> Response[str]:
    query = {"status": status, "planId": plan_id, "executionType": execution_type, "limit": limit}
    query["nextToken"] = next_token
    page = Console(_deps or default_dependencies()).executions(
        _caller(), {k: v for k, v in query.items() if v is not None}
    )
    return _json(200, page)


@app.get("/console/executions/<execution_id>", summary="An execution's read model, wave graph and allowed actions")
def console_execution(
    execution_id: Id,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=64)] = None,
) -> Response[str]:
    view = Console(_deps or default_dependencies()).execution(_caller(), execution_id)
    headers = {"ETag": view["etag"], "Cache-Control": "no-cache", "X-Drwave-As-Of": view["asOf"]}
    if if_none_match is not None and if_none_match.strip().removeprefix("W/") == view["etag"]:
        return Response(status_code=304, body="", headers=headers)
    return Response(status_code=200, content_type="application/json", body=json.dumps(view), headers=headers)


@app.get("/console/capacity", summary="DRS capacity in use per account and Region")
def console_capacity() -> Response[str]:
    return _json(200, Console(_deps or default_dependencies()).capacity(_caller()))


@app.get("/openapi.json", summary="This API's OpenAPI document")
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=openapi_json())


def openapi_json() -> str:
    """The OpenAPI document Powertools generates from the routes (committed as infrastructure/openapi.json)."""
    # Cold start: Powertools' OpenAPI models build ~200 ms of pydantic schemas at import; only /openapi.json needs them.
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer  # noqa: PLC0415

    return app.get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        security_schemes={"cognito": HTTPBearer(description="Cognito ID token; groups admin, operator, viewer")},
        security=[{"cognito": []}],
    )


def refuse_body(event: dict[str, Any]) -> ControlError | None:
    """Why a request's body is refused before any route sees it (too large, not JSON), or None.

    Powertools would parse a form or multipart body into the route's model: only JSON may start an execution.
    """
    body = event.get("body") or ""
    size = len(body.encode("utf-8"))
    if event.get("isBase64Encoded"):
        size = size * 3 // 4  # the decoded size
    if size > MAX_BODY_BYTES:
        return PayloadTooLarge(
            f"body: {size} bytes; the limit is {MAX_BODY_BYTES} bytes",
            [{"field": "body", "reason": f"is larger than {MAX_BODY_BYTES} bytes"}],
        )
    if str(event.get("httpMethod", "")).upper() in WRITES and body.strip():
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
            return UnsupportedMediaType(
                f"Content-Type: {media or 'none'}; send the body as application/json",
                [{"field": "Content-Type", "reason": "must be application/json"}],
            )
    return None


# Schedules, triggers and drill freshness register their routes on `app` (a module of their own).
from drwave.handlers import api_triggers  # noqa: E402, F401


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> dict[str, Any]:
    """Entry point of the API function."""
    global _deps  # noqa: PLW0603 - the resolver is module-level; tests and the local server inject ports
    _deps = deps
    refused = refuse_body(event)
    if refused is not None:
        response = {
            "statusCode": refused.status,
            "multiValueHeaders": {"Content-Type": ["application/json"]},
            "body": json.dumps(refused.body()),
            "isBase64Encoded": False,
        }
    else:
        response = app.resolve(event, context)
    return with_cors(event, response, os.environ.get("CONSOLE_ORIGIN"))


def with_cors(event: dict[str, Any], response: dict[str, Any], console_origin: str | None) -> dict[str, Any]:
    """Let the deployed console (its own origin, on CloudFront) read this answer, and no other site.

    API Gateway answers the preflights; a cross-origin answer also needs the origin on the response itself, and
    the ETag exposed (the console polls the read model with If-None-Match).
    """
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    if not console_origin or headers.get("origin") != console_origin:
        return response
    added = {
        "Access-Control-Allow-Origin": console_origin,
        "Access-Control-Expose-Headers": "ETag",
        "Vary": "Origin",
    }
    if "multiValueHeaders" in response or "headers" not in response:
        multi = response.setdefault("multiValueHeaders", {})
        for name, value in added.items():
            multi[name] = [value]
    else:
        response["headers"].update(added)
    return response
