"""Seed 000's direct-invocation contract: its operation payloads, replayed on the three entry points.

Each payload goes through `drwave.handlers.invoke.query/execution/data_management` (each with its default
role: query viewer, execution operator, data management admin) against a LocalRuntime on virtual time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, cast

import pytest

from drwave.adapters.store import DynamoStore
from drwave.control.invoke import OPERATIONS, Owner
from drwave.engine.ports import Dependencies
from drwave.handlers import invoke
from drwave.models.plan import PlanDocument
from drwave_local.runtime.embedded import LocalRuntime, _LambdaContext
from drwave_local.simulators.environment import Environment

PLAN_ID = "plan-test-123"
EXECUTION_ID = "exec-test-001"
ACCOUNT = "111122223333"

# Every operation seed 000 lists, by the function it names.
SEED_OPERATIONS = {
    Owner.QUERY: [
        "list_protection_groups",
        "get_protection_group",
        "list_recovery_plans",
        "get_recovery_plan",
        "list_executions",
        "get_execution",
        "get_drs_source_servers",
        "get_target_accounts",
        "get_wave_status",
    ],
    Owner.EXECUTION: [
        "start_execution",
        "cancel_execution",
        "pause_execution",
        "resume_execution",
        "terminate_instances",
        "get_recovery_instances",
        "start_wave_recovery",
    ],
    Owner.DATA: [
        "create_protection_group",
        "update_protection_group",
        "delete_protection_group",
        "create_recovery_plan",
        "update_recovery_plan",
        "delete_recovery_plan",
        "initialize_execution",
        "finalize_execution",
        "log_error",
    ],
}
ENTRY_POINTS: dict[Owner, Callable[..., Any]] = {
    Owner.QUERY: invoke.query,
    Owner.EXECUTION: invoke.execution,
    Owner.DATA: invoke.data_management,
}
# The seed's "Example Execution Output" (finalize_execution).
OUTPUT_KEYS = {
    "executionId",
    "planId",
    "executionType",
    "status",
    "startTime",
    "completionTime",
    "waveResults",
    "recoveryInstances",
}
WAVE_RESULT_KEYS = {"waveNumber", "status", "completedServers", "failedServers"}
INSTANCE_KEYS = {"instanceId", "sourceServerId", "state"}


def sid(n: int) -> str:
    return f"s-{n:017d}"


class Functions:
    """The three direct-invocation functions, called as Lambda would, on one runtime."""

    def __init__(self, rt: LocalRuntime, deps: Dependencies | None = None) -> None:
        self.rt = rt
        self.deps = deps or rt.deps

    def call(self, owner: Owner, payload: Any) -> Any:
        context = _LambdaContext(f"drwave-{owner.value}-handler", "req-1")
        return ENTRY_POINTS[owner](payload, context, deps=self.deps)

    def query(self, **payload: Any) -> Any:
        return self.call(Owner.QUERY, payload)

    def execution(self, **payload: Any) -> Any:
        return self.call(Owner.EXECUTION, payload)

    def data(self, **payload: Any) -> Any:
        return self.call(Owner.DATA, payload)

    def settle(self, seconds: float = 30) -> None:
        self.rt.clock.advance_to(self.rt.clock.now() + timedelta(seconds=seconds))

    def initialized(self, execution_id: str = EXECUTION_ID) -> str:
        """initialize_execution as the seed's state machine sends it, then let the engine pick it up."""
        result = self.data(
            operation="initialize_execution", executionId=execution_id, planId=PLAN_ID, executionType="DRILL"
        )
        assert result["status"] == "INITIALIZED", result
        self.settle()
        return execution_id


@pytest.fixture
def fn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Functions]:
    """Six servers; plan-test-123 launches pg-db (servers 1-2), then pg-app (servers 3-4)."""
    monkeypatch.delenv("DIRECT_INVOCATION_ROLE", raising=False)
    environment = Environment.model_validate(
        {
            "accountId": ACCOUNT,
            "seed": 3,
            "jitter": 0,
            "sourceServers": [{"id": sid(n), "hostname": f"host-{n}"} for n in range(1, 7)],
        }
    )
    document = PlanDocument.model_validate(
        {
            "protectionGroups": [
                {"id": "pg-db", "name": "Database Tier", "sourceServerIds": [sid(1), sid(2)]},
                {"id": "pg-app", "name": "App Tier", "sourceServerIds": [sid(3), sid(4)]},
            ],
            "recoveryPlan": {
                "id": PLAN_ID,
                "name": "Production DR Plan",
                "waves": [
                    {"id": "db", "name": "Database Tier", "protectionGroupIds": ["pg-db"]},
                    {"id": "app", "protectionGroupIds": ["pg-app"], "dependsOn": ["db"]},
                ],
            },
        }
    )
    with LocalRuntime(environment) as rt:
        rt.install(document)
        yield Functions(rt)


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> Functions:
    """The functions without AWS behind them: for payloads refused before any dependency is used."""
    monkeypatch.delenv("DIRECT_INVOCATION_ROLE", raising=False)

    class Untouchable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"a refused payload used the dependency {name!r}")

    return Functions(cast(LocalRuntime, None), cast(Dependencies, Untouchable()))


def is_error(result: Any, code: str) -> bool:
    return isinstance(result, dict) and result.get("error") == code and bool(result.get("message"))


# --- the operations table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("owner", "operation"), [(o, op) for o, ops in SEED_OPERATIONS.items() for op in ops])
def test_every_seed_operation_is_owned_by_the_function_the_seed_names(owner: Owner, operation: str) -> None:
    assert OPERATIONS[operation].owner is owner


def test_an_unknown_operation_is_invalid_on_every_function(refusals: Functions) -> None:
    for owner in Owner:
        result = refusals.call(owner, {"operation": "calculate_wait_time", "serverCount": 3})
        assert is_error(result, "INVALID_OPERATION"), result
        assert "calculate_wait_time" in result["message"]


@pytest.mark.parametrize(("owner", "operation"), [(o, op) for o, ops in SEED_OPERATIONS.items() for op in ops])
def test_an_operation_sent_to_another_function_is_invalid(refusals: Functions, owner: Owner, operation: str) -> None:
    for other in Owner:
        if other is not owner:
            result = refusals.call(other, {"operation": operation, "executionId": EXECUTION_ID, "planId": PLAN_ID})
            assert is_error(result, "INVALID_OPERATION"), (other, result)
            assert owner.value in result["message"]


@pytest.mark.parametrize("payload", [{}, {"operation": ""}, {"planId": PLAN_ID}])
def test_a_payload_without_an_operation_is_missing_it(refusals: Functions, payload: dict[str, Any]) -> None:
    result = refusals.call(Owner.QUERY, payload)
    assert is_error(result, "MISSING_PARAMETER")
    assert result["details"] == [{"field": "operation", "reason": "is required"}]


@pytest.mark.parametrize("payload", [[], "list_protection_groups", None, 7])
def test_a_payload_that_is_not_an_object_is_refused(refusals: Functions, payload: Any) -> None:
    assert is_error(refusals.call(Owner.QUERY, payload), "INVALID_PARAMETER")


@pytest.mark.parametrize(
    ("owner", "operation", "field"),
    [
        (Owner.QUERY, "get_recovery_plan", "planId"),
        (Owner.QUERY, "get_execution", "executionId"),
        (Owner.QUERY, "get_protection_group", "groupId"),
        (Owner.QUERY, "get_wave_status", "executionId"),
        (Owner.EXECUTION, "get_recovery_instances", "executionId"),
        (Owner.EXECUTION, "cancel_execution", "executionId"),
        (Owner.DATA, "initialize_execution", "executionId"),
        (Owner.DATA, "finalize_execution", "executionId"),
        (Owner.DATA, "log_error", "executionId"),
    ],
)
def test_a_missing_parameter_is_named(refusals: Functions, owner: Owner, operation: str, field: str) -> None:
    result = refusals.call(owner, {"operation": operation})
    assert is_error(result, "MISSING_PARAMETER"), result
    assert result["message"] == f"{field} is required"


def test_a_missing_wave_is_named_after_the_execution_is_given(refusals: Functions) -> None:
    result = refusals.query(operation="get_wave_status", executionId=EXECUTION_ID)
    assert is_error(result, "MISSING_PARAMETER")
    assert result["message"] == "waveId is required"


@pytest.mark.parametrize(
    ("owner", "payload"),
    [
        (Owner.QUERY, {"operation": "get_recovery_plan", "planId": "plan-nope"}),
        (Owner.QUERY, {"operation": "get_protection_group", "groupId": "pg-nope"}),
        (Owner.QUERY, {"operation": "get_execution", "executionId": "exec-nope"}),
        (Owner.QUERY, {"operation": "get_wave_status", "executionId": "exec-nope", "waveNumber": 1}),
        (Owner.EXECUTION, {"operation": "get_recovery_instances", "executionId": "exec-nope"}),
        (Owner.EXECUTION, {"operation": "cancel_execution", "executionId": "exec-nope"}),
        (Owner.EXECUTION, {"operation": "start_wave_recovery", "executionId": "exec-nope", "waveNumber": 1}),
        (Owner.EXECUTION, {"operation": "start_execution", "planId": "plan-nope"}),
        (Owner.DATA, {"operation": "finalize_execution", "executionId": "exec-nope"}),
        (Owner.DATA, {"operation": "log_error", "executionId": "exec-nope", "error": "x"}),
        (Owner.DATA, {"operation": "delete_recovery_plan", "planId": "plan-nope"}),
    ],
)
def test_unknown_ids_are_not_found(fn: Functions, owner: Owner, payload: dict[str, Any]) -> None:
    assert is_error(fn.call(owner, payload), "NOT_FOUND")


# --- the seed's payloads and response shapes --------------------------------------------------------------


def test_query_operations_return_data_directly(fn: Functions) -> None:
    groups = fn.query(operation="list_protection_groups")["protectionGroups"]
    assert [g["id"] for g in groups] == ["pg-app", "pg-db"]
    assert fn.query(operation="get_protection_group", protectionGroupId="pg-db")["name"] == "Database Tier"
    assert [p["id"] for p in fn.query(operation="list_recovery_plans")["recoveryPlans"]] == [PLAN_ID]
    plan = fn.query(operation="get_recovery_plan", planId=PLAN_ID)
    assert (plan["id"], plan["name"], [w["id"] for w in plan["waves"]]) == (
        PLAN_ID,
        "Production DR Plan",
        ["db", "app"],
    )
    servers = fn.query(operation="get_drs_source_servers")["sourceServers"]
    assert sorted(s["sourceServerId"] for s in servers) == [sid(n) for n in range(1, 7)]
    assert fn.query(operation="get_target_accounts") == {"targetAccounts": []}
    assert fn.query(operation="list_executions") == {"items": [], "nextToken": None}


@pytest.mark.parametrize(
    ("field", "value"), [("accountId", "12345"), ("accountId", 111122223333), ("region", "Mars-1"), ("region", [])]
)
def test_source_servers_of_a_malformed_account_or_region_are_refused(fn: Functions, field: str, value: Any) -> None:
    result = fn.query(operation="get_drs_source_servers", **{field: value})
    assert is_error(result, "INVALID_PARAMETER")
    assert [d["field"] for d in result["details"]] == [field]


def test_the_seed_state_machine_flow(fn: Functions) -> None:
    # GIVEN initialize_execution with the seed's test input
    execution_id = fn.initialized()
    # WHEN the state machine reads the plan and starts wave 1 (waves start themselves: this reports it)
    assert fn.query(operation="get_recovery_plan", planId=PLAN_ID)["id"] == PLAN_ID
    started = fn.execution(operation="start_wave_recovery", executionId=execution_id, waveNumber=1, servers=[sid(1)])
    # THEN the answer has the seed's shape
    assert {"jobId", "status", "waveNumber", "startTime"} <= set(started)
    assert (started["waveNumber"], started["status"]) == (1, "LAUNCHING")
    assert started["jobId"].startswith("drsjob-")
    assert started["startTime"].endswith("Z")
    assert fn.query(operation="get_wave_status", executionId=execution_id, waveNumber=1)["phase"] == "IN_PROGRESS"
    # WHEN the waves have run
    fn.rt.run()
    wave = fn.query(operation="get_wave_status", executionId=execution_id, waveNumber=2)
    assert (wave["waveNumber"], wave["status"]) == (2, "COMPLETED")
    # AND the seed's Choice state gets its three-way status: COMPLETED / FAILED / IN_PROGRESS
    assert wave["phase"] == "COMPLETED"
    instances = fn.execution(operation="get_recovery_instances", executionId=execution_id)
    assert instances["count"] == 4
    # THEN finalize_execution answers with the seed's "Example Execution Output" keys
    outcome = fn.data(operation="finalize_execution", executionId=execution_id)
    assert set(outcome) == OUTPUT_KEYS
    assert (outcome["executionId"], outcome["planId"], outcome["executionType"]) == (execution_id, PLAN_ID, "DRILL")
    assert outcome["status"] == "COMPLETED"
    assert [w["waveNumber"] for w in outcome["waveResults"]] == [1, 2]
    assert all(set(w) >= WAVE_RESULT_KEYS for w in outcome["waveResults"])
    assert [(w["completedServers"], w["failedServers"]) for w in outcome["waveResults"]] == [(2, 0), (2, 0)]
    assert outcome["recoveryInstances"]["count"] == 4
    assert len(outcome["recoveryInstances"]["instances"]) == 4
    assert all(set(i) >= INSTANCE_KEYS for i in outcome["recoveryInstances"]["instances"])


def test_finalize_while_the_execution_runs_conflicts(fn: Functions) -> None:
    execution_id = fn.initialized()
    assert is_error(fn.data(operation="finalize_execution", executionId=execution_id), "CONFLICT")


def test_the_execution_is_readable_as_soon_as_initialize_returns(fn: Functions) -> None:
    fn.data(operation="initialize_execution", executionId=EXECUTION_ID, planId=PLAN_ID, executionType="DRILL")
    assert "error" not in fn.query(operation="get_execution", executionId=EXECUTION_ID)


def test_initialize_execution_is_idempotent(fn: Functions) -> None:
    # GIVEN initialize_execution sent, retried at once, and retried once the execution runs
    payload = {"operation": "initialize_execution", "executionId": EXECUTION_ID, "planId": PLAN_ID}
    first = fn.data(**payload, executionType="DRILL")
    again = fn.data(**payload, executionType="DRILL")
    fn.settle()
    later = fn.data(**payload, executionType="DRILL")
    # THEN every answer is INITIALIZED for the same id, and one execution runs
    assert [r["status"] for r in (first, again, later)] == ["INITIALIZED"] * 3
    assert {r["executionId"] for r in (first, again, later)} == {EXECUTION_ID}
    assert later["executionStatus"] == "RUNNING"
    fn.rt.run()
    listed = fn.query(operation="list_executions")["items"]
    assert [(i["executionId"], i["status"]) for i in listed] == [(EXECUTION_ID, "COMPLETED")]
    assert len([j for j in fn.rt.drs.jobs.values() if j.job_type == "LAUNCH"]) == 2


@pytest.mark.parametrize(
    ("owner", "payload"),
    [
        (Owner.QUERY, {"operation": "list_protection_groups"}),
        (Owner.QUERY, {"operation": "get_execution", "executionId": EXECUTION_ID}),
        (Owner.DATA, {"operation": "initialize_execution", "executionId": EXECUTION_ID, "planId": PLAN_ID}),
        (Owner.EXECUTION, {"operation": "start_wave_recovery", "executionId": EXECUTION_ID, "waveNumber": 1}),
    ],
)
def test_a_missing_table_is_a_dynamodb_error(fn: Functions, owner: Owner, payload: dict[str, Any]) -> None:
    # GIVEN the functions configured with a table that does not exist (the seed's troubleshooting issue 7)
    fn.rt.deps.store = DynamoStore(fn.rt.dynamodb, "drwave-missing-table")
    # THEN the operation answers the DYNAMODB_ERROR envelope rather than failing the invocation
    assert is_error(fn.call(owner, payload), "DYNAMODB_ERROR")


def test_log_error_shows_in_the_timeline(fn: Functions) -> None:
    execution_id = fn.initialized()
    error = {"Error": "Lambda.ServiceException", "Cause": "boom"}
    logged = fn.data(operation="log_error", executionId=execution_id, error=error, stage="INITIALIZATION")
    assert logged == {"executionId": execution_id, "logged": True, "stage": "INITIALIZATION"}
    timeline = fn.query(operation="get_execution_timeline", executionId=execution_id)["timeline"]
    entries = [e for e in timeline if e["event"] == "ERROR_REPORTED"]
    assert len(entries) == 1
    assert "INITIALIZATION: Lambda.ServiceException: boom" in entries[0]["detail"]


def test_log_error_without_an_error_is_missing_it(fn: Functions) -> None:
    execution_id = fn.initialized()
    result = fn.data(operation="log_error", executionId=execution_id, stage="X")
    assert is_error(result, "MISSING_PARAMETER")
    assert result["message"] == "error is required"


def test_execution_lifecycle_operations(fn: Functions) -> None:
    # GIVEN an execution started through the execution function
    started = fn.execution(operation="start_execution", planId=PLAN_ID, executionType="DRILL")
    execution_id = started["executionId"]
    fn.settle()
    # WHEN it is paused, resumed and cancelled
    assert fn.execution(operation="pause_execution", executionId=execution_id)["status"] == "ACCEPTED"
    fn.settle(1)
    assert fn.query(operation="get_execution", executionId=execution_id)["status"] == "PAUSED"
    fn.execution(operation="resume_execution", executionId=execution_id)
    fn.settle(1)
    assert fn.query(operation="get_execution", executionId=execution_id)["status"] == "RUNNING"
    fn.execution(operation="cancel_execution", executionId=execution_id)
    fn.rt.run()
    # THEN it ended CANCELLED, and its instances may be terminated
    assert fn.query(operation="get_execution", executionId=execution_id)["status"] == "CANCELLED"
    terminated = fn.execution(operation="terminate_instances", executionId=execution_id)
    assert terminated["jobId"].startswith("drsjob-")
    assert fn.rt.drs.jobs[terminated["jobId"]].job_type == "TERMINATE"


def test_the_execution_function_may_not_start_a_recovery(fn: Functions) -> None:
    result = fn.execution(operation="start_execution", planId=PLAN_ID, executionType="RECOVERY")
    assert is_error(result, "FORBIDDEN")


def test_the_configured_role_replaces_the_default(fn: Functions, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIRECT_INVOCATION_ROLE", "viewer")
    result = fn.execution(operation="start_execution", planId=PLAN_ID)
    assert is_error(result, "FORBIDDEN")


def test_definition_operations(fn: Functions) -> None:
    group = {"id": "pg-web", "name": "Web", "sourceServerIds": [sid(5)]}
    assert fn.data(operation="create_protection_group", **group)["id"] == "pg-web"
    assert is_error(fn.data(operation="create_protection_group", **group), "CONFLICT")
    updated = fn.data(operation="update_protection_group", groupId="pg-web", name="Web Tier", sourceServerIds=[sid(6)])
    assert (updated["name"], updated["sourceServerIds"]) == ("Web Tier", [sid(6)])
    plan = {"id": "plan-web", "name": "Web", "waves": [{"id": "web", "protectionGroupIds": ["pg-web"]}]}
    assert fn.data(operation="create_recovery_plan", **plan)["id"] == "plan-web"
    renamed = fn.data(operation="update_recovery_plan", planId="plan-web", name="Web DR", waves=plan["waves"])
    assert renamed["name"] == "Web DR"
    assert is_error(fn.data(operation="delete_protection_group", groupId="pg-web"), "CONFLICT")
    assert fn.data(operation="delete_recovery_plan", planId="plan-web") == {"planId": "plan-web", "deleted": True}
    assert fn.data(operation="delete_protection_group", groupId="pg-web") == {"groupId": "pg-web", "deleted": True}
    bad = fn.data(operation="create_protection_group", id="pg-bad", name="Bad", sourceServerIds=["i-1"])
    assert is_error(bad, "INVALID_PARAMETER")
    assert bad["details"][0]["field"] == "sourceServerIds"


def test_query_operations_may_not_change_anything(fn: Functions, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the query function's viewer role, even were an operation routed to it by mistake
    monkeypatch.setenv("DIRECT_INVOCATION_ROLE", "viewer")
    result = fn.data(operation="delete_recovery_plan", planId=PLAN_ID)
    assert is_error(result, "FORBIDDEN")
    assert fn.query(operation="get_recovery_plan", planId=PLAN_ID)["id"] == PLAN_ID


def test_a_log_error_stage_over_its_limit_is_refused_naming_it(refusals: Functions) -> None:
    # GIVEN an outside caller reporting an error with a 10,000-character stage
    result = refusals.data(operation="log_error", executionId="exec-nope", error="x", stage="s" * 10_000)
    # THEN it is refused naming the field, before anything is written to the timeline
    assert is_error(result, "INVALID_PARAMETER"), result
    assert result["details"] == [{"field": "stage", "reason": "is longer than 128 characters"}]
