"""The REST API end to end: `drwave.handlers.api.handler` on a LocalRuntime (moto, DRS simulator, virtual clock).

Each test builds API Gateway REST events with the Cognito claims of a role, calls the real handler with the
runtime's dependencies, and lets `rt.run()` carry started executions to their end on virtual time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from drwave.handlers import api
from drwave_local.runtime.embedded import LocalRuntime, _LambdaContext
from drwave_local.simulators.environment import Environment

ACCOUNT, REGION = "111122223333", "us-east-1"
STALLED = "s-00000000000000009"  # replication STALLED


def sid(n: int) -> str:
    return f"s-{n:017d}"


class Api:
    """Calls the API handler as API Gateway would, with a Cognito caller of one role."""

    def __init__(self, rt: LocalRuntime) -> None:
        self.rt = rt
        self.requests = 0
        self.headers: dict[str, str] = {}  # of the last response

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        role: str | None = "admin",
        query: dict[str, str] | None = None,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
        claims: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        self.requests += 1
        if claims is None:
            claims = {"cognito:username": f"{role or 'nobody'}@example.com"} | (
                {"cognito:groups": role} if role else {}
            )
        event = {
            "httpMethod": method,
            "path": path,
            "resource": path,
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "multiValueHeaders": {},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
            "pathParameters": None,
            "body": raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
            "isBase64Encoded": False,
            "requestContext": {
                "requestId": f"req-{self.requests}",
                "authorizer": {"claims": claims},
                "stage": "v1",
                "httpMethod": method,
                "path": path,
                "resourcePath": path,
            },
        }
        out = api.handler(event, _LambdaContext("ApiFunction", f"req-{self.requests}"), deps=self.rt.deps)
        self.headers = {k: v[-1] for k, v in (out.get("multiValueHeaders") or {}).items() if v} | (
            out.get("headers") or {}
        )
        return out["statusCode"], json.loads(out["body"]) if out.get("body") else None

    def ok(self, method: str, path: str, body: Any = None, status: int = 200, **kw: Any) -> Any:
        code, payload = self.call(method, path, body, **kw)
        assert code == status, payload
        return payload

    def start(self, plan_id: str, role: str = "operator", **fields: Any) -> str:
        started = self.ok("POST", "/executions", {"planId": plan_id, **fields}, status=202, role=role)
        return str(started["executionId"])

    def settle(self, seconds: float = 30) -> None:
        """Let the engine work for a little virtual time (requests delivered, waves opened)."""
        self.rt.clock.advance_to(self.rt.clock.now() + timedelta(seconds=seconds))


def group(group_id: str, *numbers: int) -> dict[str, Any]:
    return {"id": group_id, "name": group_id, "sourceServerIds": [sid(n) for n in numbers]}


def plan(plan_id: str, *waves: dict[str, Any]) -> dict[str, Any]:
    return {"id": plan_id, "name": f"Plan {plan_id}", "waves": list(waves)}


def wave(wave_id: str, *groups: str, **extra: Any) -> dict[str, Any]:
    return {"id": wave_id, "protectionGroupIds": list(groups), **extra}


@pytest.fixture
def rt() -> Iterator[LocalRuntime]:
    """Eight replicating servers (1-4 tagged tier=web), a stalled one; no jitter."""
    servers = [
        {"id": sid(n), "hostname": f"host-{n}", "tags": {"tier": "web"} if n <= 4 else {"tier": "db"}}
        for n in range(1, 9)
    ]
    servers.append({"id": STALLED, "hostname": "stalled", "replicationState": "STALLED"})
    environment = Environment.model_validate(
        {"accountId": ACCOUNT, "region": REGION, "seed": 5, "jitter": 0, "sourceServers": servers}
    )
    with LocalRuntime(environment) as runtime:
        yield runtime


@pytest.fixture
def client(rt: LocalRuntime) -> Api:
    """The API with two groups (pg-a: servers 1-2, pg-b: servers 3-4) and plan-ab (wave a, then b)."""
    client = Api(rt)
    client.ok("POST", "/protection-groups", group("pg-a", 1, 2), status=201)
    client.ok("POST", "/protection-groups", group("pg-b", 3, 4), status=201)
    client.ok("POST", "/recovery-plans", plan("plan-ab", wave("a", "pg-a"), wave("b", "pg-b", dependsOn=["a"])), 201)
    return client


# --- protection groups and plans ------------------------------------------------------------------------


def test_protection_group_lifecycle(client: Api) -> None:
    # GIVEN a new group
    created = client.ok("POST", "/protection-groups", group("pg-c", 5), status=201)
    assert created["sourceServerIds"] == [sid(5)]
    # WHEN it is read, listed, replaced, deleted
    assert client.ok("GET", "/protection-groups/pg-c", role="viewer")["name"] == "pg-c"
    listed = client.ok("GET", "/protection-groups", role="viewer")["items"]
    assert [g["id"] for g in listed] == ["pg-a", "pg-b", "pg-c"]
    replaced = client.ok("PUT", "/protection-groups/pg-c", {**group("pg-c", 5, 6), "name": "Renamed"})
    assert (replaced["name"], replaced["sourceServerIds"]) == ("Renamed", [sid(5), sid(6)])
    assert client.ok("DELETE", "/protection-groups/pg-c") == {"groupId": "pg-c", "deleted": True}
    # THEN it is gone
    code, body = client.call("GET", "/protection-groups/pg-c")
    assert (code, body["error"]) == (404, "NOT_FOUND")


def test_a_replacement_may_not_change_the_id_in_the_path(client: Api) -> None:
    # GIVEN a PUT whose body names another group or plan than its path
    for path, body, field in (
        ("/protection-groups/pg-a", group("pg-other", 1), "id"),
        ("/recovery-plans/plan-ab", plan("plan-other", wave("a", "pg-a")), "id"),
    ):
        # WHEN sent  THEN it is a 400 naming the id, and nothing was renamed
        code, body_out = client.call("PUT", path, body)
        assert (code, body_out["error"], body_out["details"][0]["field"]) == (400, "INVALID_PARAMETER", field)
    assert client.ok("GET", "/protection-groups/pg-a")["sourceServerIds"] == [sid(1), sid(2)]
    assert [p["id"] for p in client.ok("GET", "/recovery-plans")["items"]] == ["plan-ab"]


def test_creating_a_group_twice_conflicts(client: Api) -> None:
    code, body = client.call("POST", "/protection-groups", group("pg-a", 7))
    assert (code, body["error"]) == (409, "CONFLICT")
    assert client.ok("GET", "/protection-groups/pg-a")["sourceServerIds"] == [sid(1), sid(2)]


def test_a_group_used_by_a_plan_cannot_be_deleted(client: Api) -> None:
    code, body = client.call("DELETE", "/protection-groups/pg-a")
    assert code == 409
    assert "plan-ab" in body["message"]
    client.ok("GET", "/protection-groups/pg-a")


def test_changing_or_deleting_what_does_not_exist_is_not_found(client: Api) -> None:
    for method, path, body in [
        ("PUT", "/protection-groups/pg-zz", group("pg-zz", 1)),
        ("DELETE", "/protection-groups/pg-zz", None),
        ("GET", "/recovery-plans/plan-zz", None),
        ("PUT", "/recovery-plans/plan-zz", plan("plan-zz", wave("a", "pg-a"))),
        ("DELETE", "/recovery-plans/plan-zz", None),
        ("GET", "/executions/exec-zz", None),
        ("GET", "/protection-groups/pg-zz/preview", None),
        ("GET", "/recovery-plans/plan-zz/preflight", None),
    ]:
        code, answer = client.call(method, path, body)
        assert (code, answer["error"]) == (404, "NOT_FOUND"), (method, path, answer)


def test_recovery_plan_lifecycle(client: Api) -> None:
    created = client.ok("POST", "/recovery-plans", plan("plan-b", wave("only", "pg-b")), status=201)
    assert created["waves"][0]["protectionGroupIds"] == ["pg-b"]
    assert [p["id"] for p in client.ok("GET", "/recovery-plans", role="viewer")["items"]] == ["plan-ab", "plan-b"]
    replaced = client.ok("PUT", "/recovery-plans/plan-b", plan("plan-b", wave("only", "pg-a", "pg-b")))
    assert replaced["waves"][0]["protectionGroupIds"] == ["pg-a", "pg-b"]
    assert client.ok("DELETE", "/recovery-plans/plan-b") == {"planId": "plan-b", "deleted": True}
    assert client.call("GET", "/recovery-plans/plan-b")[0] == 404
    assert client.call("POST", "/recovery-plans", plan("plan-ab", wave("a", "pg-a")))[0] == 409


def test_a_plan_naming_an_unknown_group_is_refused_naming_the_field(client: Api) -> None:
    code, body = client.call("POST", "/recovery-plans", plan("plan-x", wave("a", "pg-a"), wave("b", "pg-nope")))
    assert code == 400
    assert body["details"] == [{"field": "waves[1].protectionGroupIds", "reason": "unknown group"}]
    assert client.call("GET", "/recovery-plans/plan-x")[0] == 404


def test_a_running_plan_cannot_be_edited_or_deleted(client: Api) -> None:
    # GIVEN an execution of plan-ab under way
    execution_id = client.start("plan-ab")
    client.settle()
    assert client.ok("GET", f"/executions/{execution_id}")["status"] == "RUNNING"
    # WHEN the plan is edited or deleted THEN both conflict, naming the execution
    for method, body in [("PUT", plan("plan-ab", wave("a", "pg-a"))), ("DELETE", None)]:
        code, answer = client.call(method, "/recovery-plans/plan-ab", body)
        assert code == 409
        assert execution_id in answer["message"]
    # AND once it has ended the plan may change
    client.rt.run()
    client.ok("PUT", "/recovery-plans/plan-ab", plan("plan-ab", wave("a", "pg-a")))
    client.ok("DELETE", "/recovery-plans/plan-ab")


# --- malformed requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/protection-groups", {"id": "pg-x", "name": ""}, "name"),
        ("POST", "/protection-groups", {"id": "pg x", "name": "x", "sourceServerIds": [sid(1)]}, "id"),
        ("POST", "/protection-groups", {"id": "pg-x", "name": "x", "sourceServerIds": ["i-123"]}, "sourceServerIds"),
        ("POST", "/protection-groups", {"id": "pg-x", "name": "x", "sourceServerIds": [sid(1)], "color": 1}, "color"),
        ("POST", "/recovery-plans", plan("p", wave("a", "pg-a", dependsOn="b")), "waves[0].dependsOn"),
        ("POST", "/recovery-plans", plan("p", wave("a", "pg-a", dependsOn=["zz"])), "waves[0].dependsOn"),
        ("POST", "/recovery-plans", plan("p", wave("a", "pg-a", timeoutMinutes=0)), "waves[0].timeoutMinutes"),
        ("POST", "/executions", {"planId": "plan-ab", "executionType": "PRACTICE"}, "executionType"),
        ("POST", "/executions", {}, "planId"),
        ("PUT", "/protection-groups/pg-a", {"name": "no selection"}, "id"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(client: Api, method: str, path: str, body: Any, field: str) -> None:
    code, answer = client.call(method, path, body)
    assert code == 400, answer
    assert answer["error"] in ("INVALID_PARAMETER", "MISSING_PARAMETER")
    assert field in [d["field"] for d in answer["details"]]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "null", ""])
def test_a_body_that_is_not_a_json_object_is_a_400(client: Api, raw: str) -> None:
    code, answer = client.call("POST", "/protection-groups", raw_body=raw)
    assert code == 400, answer
    assert answer["error"] in ("INVALID_PARAMETER", "MISSING_PARAMETER")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "SLEEPING"}, "status"),
        ({"executionType": "drill-ish"}, "executionType"),
    ],
)
def test_a_bad_query_parameter_is_a_400_naming_it(client: Api, query: dict[str, str], field: str) -> None:
    code, answer = client.call("GET", "/executions", query=query)
    assert code == 400, answer
    assert [d["field"] for d in answer["details"]] == [field]


def test_bad_source_server_query_parameters_are_400(client: Api) -> None:
    for query in ({"accountId": "12"}, {"region": "Mars"}):
        code, answer = client.call("GET", "/source-servers", query=query)
        assert (code, answer["error"]) == (400, "INVALID_PARAMETER"), answer


def test_a_malformed_path_id_is_a_400(client: Api) -> None:
    code, answer = client.call("GET", "/protection-groups/-leading-dash")
    assert (code, answer["details"][0]["field"]) == (400, "group_id")


# --- roles -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("viewer", "POST", "/protection-groups", group("pg-new", 5)),
        ("operator", "POST", "/protection-groups", group("pg-new", 5)),
        ("operator", "PUT", "/protection-groups/pg-a", group("pg-a", 5)),
        ("operator", "DELETE", "/protection-groups/pg-a", None),
        ("operator", "POST", "/recovery-plans", plan("p-new", wave("a", "pg-a"))),
        ("operator", "DELETE", "/recovery-plans/plan-ab", None),
        ("viewer", "POST", "/executions", {"planId": "plan-ab"}),
        ("operator", "POST", "/executions", {"planId": "plan-ab", "executionType": "RECOVERY"}),
        ("operator", "POST", "/executions", {"planId": "plan-ab", "force": True}),
        (None, "GET", "/protection-groups", None),
        ("auditors", "GET", "/recovery-plans", None),
    ],
)
def test_a_role_that_may_not_act_is_refused_and_nothing_changes(
    client: Api, role: str | None, method: str, path: str, body: Any
) -> None:
    code, answer = client.call(method, path, body, role=role)
    assert (code, answer["error"]) == (403, "FORBIDDEN")
    assert [g["id"] for g in client.ok("GET", "/protection-groups")["items"]] == ["pg-a", "pg-b"]
    assert client.ok("GET", "/protection-groups/pg-a")["sourceServerIds"] == [sid(1), sid(2)]
    assert [p["id"] for p in client.ok("GET", "/recovery-plans")["items"]] == ["plan-ab"]
    assert client.ok("GET", "/executions")["items"] == []


@pytest.mark.parametrize("groups", ["operator", "viewer,operator", "[viewer operator]", "Operator", "admin"])
def test_the_role_comes_from_the_cognito_groups_claim_however_it_is_written(client: Api, groups: str) -> None:
    # GIVEN groups as API Gateway passes the claim (one name, comma-separated, or bracketed list)
    code, answer = client.call("POST", "/executions", {"planId": "plan-ab"}, role=groups)
    # THEN the most privileged known group decides: every one of these may start a drill
    assert code == 202, answer


def test_a_viewer_may_not_control_an_execution(client: Api) -> None:
    execution_id = client.start("plan-ab")
    client.settle()
    for suffix in ("pause", "resume", "cancel", "waves/a/approve", "terminate-instances"):
        code, answer = client.call("POST", f"/executions/{execution_id}/{suffix}", role="viewer")
        assert (code, answer["error"]) == (403, "FORBIDDEN"), suffix


# --- executions ------------------------------------------------------------------------------------------


def test_starting_an_execution_answers_202_and_it_then_completes(client: Api) -> None:
    # GIVEN an operator starts a drill
    started = client.ok("POST", "/executions", {"planId": "plan-ab"}, status=202, role="operator")
    assert started["status"] == "REQUESTED"
    assert started["executionType"] == "DRILL"
    # WHEN the engine runs
    client.rt.run()
    # THEN the execution completed both waves, and records who started it
    execution = client.ok("GET", f"/executions/{started['executionId']}", role="viewer")
    assert execution["status"] == "COMPLETED"
    assert execution["startedBy"] == "operator@example.com"
    assert [w["status"] for w in execution["waves"]] == ["COMPLETED", "COMPLETED"]
    assert execution["progress"] == {"waves": "2/2", "servers": "4/4", "percent": 100.0}


def test_a_caller_chosen_execution_id_makes_a_start_idempotent(client: Api) -> None:
    # GIVEN a drill started under the caller's id, which has completed
    assert client.start("plan-ab", executionId="exec-mine-1") == "exec-mine-1"
    client.rt.run()
    # WHEN the same start is retried THEN it answers for the same execution without starting another
    again = client.ok("POST", "/executions", {"planId": "plan-ab", "executionId": "exec-mine-1"}, status=202)
    assert (again["executionId"], again["status"]) == ("exec-mine-1", "COMPLETED")
    client.rt.run()
    assert [i["executionId"] for i in client.ok("GET", "/executions")["items"]] == ["exec-mine-1"]
    # AND the same id for another plan or type conflicts
    client.ok("POST", "/recovery-plans", plan("plan-b", wave("only", "pg-b")), status=201)
    for body in ({"planId": "plan-b"}, {"planId": "plan-ab", "executionType": "RECOVERY"}):
        code, answer = client.call("POST", "/executions", {**body, "executionId": "exec-mine-1"})
        assert (code, answer["error"]) == (409, "CONFLICT"), body


def test_starting_an_unknown_plan_is_not_found(client: Api) -> None:
    code, answer = client.call("POST", "/executions", {"planId": "plan-zz"})
    assert (code, answer["error"]) == (404, "NOT_FOUND")


def test_list_executions_filters_and_pages_newest_first(client: Api) -> None:
    # GIVEN five finished executions: three drills and a recovery of plan-ab, a drill of plan-b
    client.ok("POST", "/recovery-plans", plan("plan-b", wave("only", "pg-b")), status=201)
    ids = []
    for plan_id, kind, role in [
        ("plan-ab", "DRILL", "operator"),
        ("plan-b", "DRILL", "operator"),
        ("plan-ab", "RECOVERY", "admin"),
        ("plan-ab", "DRILL", "operator"),
        ("plan-ab", "DRILL", "operator"),
    ]:
        ids.append(client.start(plan_id, role=role, executionType=kind))
        client.rt.run()
    # WHEN paging two at a time until there is no nextToken
    seen: list[str] = []
    query: dict[str, str] = {"limit": "2"}
    pages = 0
    while True:
        page = client.ok("GET", "/executions", query=query, role="viewer")
        assert len(page["items"]) <= 2
        seen += [i["executionId"] for i in page["items"]]
        pages += 1
        if page["nextToken"] is None:
            break
        query = {"limit": "2", "nextToken": page["nextToken"]}
    # THEN every execution is listed once, newest first
    assert seen == list(reversed(ids))
    assert pages == 3
    # AND filters select by plan, type and status
    by_plan = client.ok("GET", "/executions", query={"planId": "plan-b"})["items"]
    assert [i["executionId"] for i in by_plan] == [ids[1]]
    by_type = client.ok("GET", "/executions", query={"executionType": "RECOVERY"})["items"]
    assert [(i["executionId"], i["executionType"]) for i in by_type] == [(ids[2], "RECOVERY")]
    completed = client.ok("GET", "/executions", query={"status": "COMPLETED", "planId": "plan-ab", "limit": "3"})
    assert [i["executionId"] for i in completed["items"]] == [ids[4], ids[3], ids[2]]
    assert client.ok("GET", "/executions", query={"status": "RUNNING"})["items"] == []


def token_of(key: Any) -> str:
    """A nextToken as the store encodes one (url-safe base64 of JSON)."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


WRONG_KEY = {"kind": {"N": "1"}, "listKey": {"S": "x"}, "pk": {"S": "x"}, "sk": {"S": "x"}}


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        token_of({"foo": "bar"}),
        token_of([]),
        token_of({"kind": "EXECUTION", "listKey": "x", "pk": "x", "sk": "x"}),
        pytest.param(
            token_of(WRONG_KEY),
            id="right-names-wrong-values",
        ),
    ],
)
def test_a_forged_next_token_is_a_400(client: Api, token: str) -> None:
    code, answer = client.call("GET", "/executions", query={"nextToken": token})
    assert code == 400, answer
    assert answer["details"][0]["field"] == "nextToken"


def test_pause_resume_and_approve_a_gated_wave(client: Api) -> None:
    # GIVEN a plan whose second wave waits for approval, running
    client.ok(
        "POST",
        "/recovery-plans",
        plan("plan-gate", wave("a", "pg-a"), wave("b", "pg-b", dependsOn=["a"], pauseBeforeWave={})),
        status=201,
    )
    execution_id = client.start("plan-gate")
    client.settle()
    # WHEN wave b is approved before it waits THEN that conflicts
    code, answer = client.call("POST", f"/executions/{execution_id}/waves/b/approve", role="operator")
    assert (code, answer["error"]) == (409, "CONFLICT")
    # AND pausing and resuming are accepted
    path = f"/executions/{execution_id}"
    assert client.ok("POST", f"{path}/pause", status=202, role="operator")["status"] == "ACCEPTED"
    client.settle(1)
    assert client.ok("GET", path)["status"] == "PAUSED"
    client.ok("POST", f"{path}/resume", status=202, role="operator")
    client.settle(1)
    assert client.ok("GET", path)["status"] == "RUNNING"
    # WHEN wave a has finished, b waits; approving it by its 1-based number lets the execution complete
    client.settle(600)
    assert client.ok("GET", f"{path}/waves/2")["status"] == "WAITING_APPROVAL"
    client.ok("POST", f"{path}/waves/2/approve", status=202, role="operator")
    client.rt.run()
    execution = client.ok("GET", path)
    assert execution["status"] == "COMPLETED"
    assert client.ok("GET", f"{path}/waves/b")["approvedBy"] == "operator@example.com"
    # AND an ended execution can no longer be controlled
    for suffix in ("pause", "resume", "cancel"):
        assert client.call("POST", f"{path}/{suffix}", role="operator")[0] == 409


def test_cancel_stops_the_execution(client: Api) -> None:
    execution_id = client.start("plan-ab")
    client.settle()
    client.ok("POST", f"/executions/{execution_id}/cancel", status=202, role="operator")
    client.rt.run()
    execution = client.ok("GET", f"/executions/{execution_id}")
    assert execution["status"] == "CANCELLED"
    assert execution["waves"][1]["status"] in ("CANCELLED", "SKIPPED")


def test_timeline_lists_the_execution_story(client: Api) -> None:
    execution_id = client.start("plan-ab")
    client.rt.run()
    timeline = client.ok("GET", f"/executions/{execution_id}/timeline", role="viewer")
    assert timeline["executionId"] == execution_id
    events = [e["event"] for e in timeline["timeline"]]
    assert len(events) > 3
    assert events[-1].startswith("EXECUTION_")


def test_wave_status_by_id_and_by_number(client: Api) -> None:
    execution_id = client.start("plan-ab")
    client.rt.run()
    by_id = client.ok("GET", f"/executions/{execution_id}/waves/b", role="viewer")
    by_number = client.ok("GET", f"/executions/{execution_id}/waves/2", role="viewer")
    assert by_id == by_number
    assert (by_id["waveId"], by_id["waveNumber"], by_id["status"]) == ("b", 2, "COMPLETED")
    assert by_id["servers"] == {"total": 2, "launched": 2, "failed": 0}
    assert len(by_id["jobIds"]) == 1
    for missing in ("0", "3", "c"):
        code, answer = client.call("GET", f"/executions/{execution_id}/waves/{missing}")
        assert (code, answer["error"]) == (404, "NOT_FOUND"), missing


def test_recovery_instances_and_their_termination(client: Api) -> None:
    # GIVEN a running drill
    execution_id = client.start("plan-ab")
    client.settle()
    path = f"/executions/{execution_id}"
    # WHEN terminating its instances while it runs THEN that conflicts
    code, answer = client.call("POST", f"{path}/terminate-instances", role="operator")
    assert (code, answer["error"]) == (409, "CONFLICT")
    # WHEN it has completed THEN its four recovery instances are listed as running
    client.rt.run()
    instances = client.ok("GET", f"{path}/recovery-instances", role="viewer")
    assert instances["count"] == 4
    assert sorted(i["sourceServerId"] for i in instances["instances"]) == [sid(n) for n in range(1, 5)]
    assert {i["isDrill"] for i in instances["instances"]} == {True}
    assert all(i["ec2InstanceId"] for i in instances["instances"])
    # AND an operator may terminate a drill's instances: DRS starts a TERMINATE job for them
    terminated = client.ok("POST", f"{path}/terminate-instances", status=202, role="operator")
    ids = sorted(i["recoveryInstanceId"] for i in instances["instances"])
    assert sorted(terminated["recoveryInstanceIds"]) == ids
    job = client.rt.drs.jobs[terminated["jobId"]]
    assert job.job_type == "TERMINATE"


def test_terminating_again_is_a_conflict_not_a_retryable_failure(client: Api) -> None:
    # GIVEN a finished drill whose instances are being terminated
    execution_id = client.start("plan-ab")
    client.rt.run()
    path = f"/executions/{execution_id}/terminate-instances"
    client.ok("POST", path, status=202, role="operator")
    # WHEN terminating again, during and after the TERMINATE job
    during = client.call("POST", path, role="operator")
    client.settle(3600)
    after = client.call("POST", path, role="operator")
    # THEN both are 409s (retrying cannot help), and DRS no longer lists the instances
    assert [(c, a["error"]) for c, a in (during, after)] == [(409, "CONFLICT"), (409, "CONFLICT")]
    states = client.ok("GET", f"/executions/{execution_id}/recovery-instances")["instances"]
    assert {i["state"] for i in states} == {"TERMINATED_OR_UNKNOWN"}


def test_only_an_admin_may_terminate_a_recoverys_instances(client: Api) -> None:
    execution_id = client.start("plan-ab", role="admin", executionType="RECOVERY")
    client.rt.run()
    path = f"/executions/{execution_id}/terminate-instances"
    code, answer = client.call("POST", path, role="operator")
    assert (code, answer["error"]) == (403, "FORBIDDEN")
    client.ok("POST", path, status=202, role="admin")


# --- DRS inventory and pre-flight ----------------------------------------------------------------------


def test_source_servers_are_listed_across_every_drs_page(client: Api) -> None:
    client.rt.drs.max_page_size = 2
    listed = client.ok("GET", "/source-servers", role="viewer")
    assert (listed["accountId"], listed["region"]) == (ACCOUNT, REGION)
    assert sorted(s["sourceServerId"] for s in listed["sourceServers"]) == sorted(
        [*(sid(n) for n in range(1, 9)), STALLED]
    )
    states = {s["sourceServerId"]: s["replicationState"] for s in listed["sourceServers"]}
    assert states[STALLED] == "STALLED"
    assert states[sid(1)] == "CONTINUOUS"


def test_preview_resolves_a_tag_selected_group(client: Api) -> None:
    client.rt.drs.max_page_size = 3
    tags = {"id": "pg-web", "name": "Web", "serverSelectionTags": [{"key": "Tier", "value": "WEB"}]}
    client.ok("POST", "/protection-groups", tags, status=201)
    preview = client.ok("GET", "/protection-groups/pg-web/preview", role="viewer")
    assert [s["sourceServerId"] for s in preview["sourceServers"]] == [sid(n) for n in range(1, 5)]
    assert preview["missing"] == []


def test_preview_of_explicit_ids_reports_servers_drs_does_not_know(client: Api) -> None:
    client.ok("POST", "/protection-groups", group("pg-ghost", 1, 77), status=201)
    preview = client.ok("GET", "/protection-groups/pg-ghost/preview")
    assert [s["sourceServerId"] for s in preview["sourceServers"]] == [sid(1)]
    assert preview["missing"] == [sid(77)]


def test_a_group_in_an_unregistered_account_is_a_conflict_not_a_crash(client: Api) -> None:
    # GIVEN a group and plan in an account drwave has no registration for
    client.ok("POST", "/protection-groups", {**group("pg-far", 1), "accountId": "999999999999"}, status=201)
    client.ok("POST", "/recovery-plans", plan("plan-far", wave("w", "pg-far")), status=201)
    # WHEN DRS would be asked about that account THEN each answer is a 409 naming the account
    for method, path, body in [
        ("GET", "/protection-groups/pg-far/preview", None),
        ("GET", "/recovery-plans/plan-far/preflight", None),
        ("POST", "/executions", {"planId": "plan-far"}),
    ]:
        code, answer = client.call(method, path, body)
        assert (code, answer["error"]) == (409, "CONFLICT"), (path, answer)
        assert "999999999999" in answer["message"]
    code, answer = client.call("GET", "/source-servers", query={"accountId": "999999999999"})
    assert code == 409, answer


@pytest.fixture
def stalled_plan(client: Api) -> Api:
    """plan-stalled: one wave over server 5 and the STALLED server."""
    client.ok("POST", "/protection-groups", {"id": "pg-s", "name": "s", "sourceServerIds": [sid(5), STALLED]}, 201)
    client.ok("POST", "/recovery-plans", plan("plan-stalled", wave("w", "pg-s")), status=201)
    return client


def test_preflight_reports_a_server_that_does_not_replicate(stalled_plan: Api) -> None:
    report = stalled_plan.ok("GET", "/recovery-plans/plan-stalled/preflight", role="viewer")
    assert report["ok"] is False
    assert [(p["code"], p["sourceServerId"]) for p in report["problems"]] == [("NOT_REPLICATING", STALLED)]
    assert report["waves"] == [{"waveId": "w", "sourceServerIds": [sid(5), STALLED]}]


@pytest.mark.parametrize(("role", "kind"), [("operator", "DRILL"), ("admin", "DRILL"), ("admin", "RECOVERY")])
def test_a_failing_preflight_refuses_the_start(stalled_plan: Api, role: str, kind: str) -> None:
    code, answer = stalled_plan.call(
        "POST", "/executions", {"planId": "plan-stalled", "executionType": kind}, role=role
    )
    assert (code, answer["error"]) == (409, "PREFLIGHT_FAILED")
    assert [d["code"] for d in answer["details"]] == ["NOT_REPLICATING"]
    assert stalled_plan.ok("GET", "/executions")["items"] == []


def test_an_admin_may_force_past_a_failing_preflight(stalled_plan: Api) -> None:
    execution_id = stalled_plan.start("plan-stalled", role="admin", executionType="RECOVERY", force=True)
    stalled_plan.rt.run()
    execution = stalled_plan.ok("GET", f"/executions/{execution_id}")
    assert execution["startedBy"] == "admin@example.com (forced)"
    assert execution["executionType"] == "RECOVERY"


def test_an_operator_may_not_force(stalled_plan: Api) -> None:
    code, answer = stalled_plan.call("POST", "/executions", {"planId": "plan-stalled", "force": True}, role="operator")
    assert (code, answer["error"]) == (403, "FORBIDDEN")


def test_servers_of_another_active_execution_conflict_even_when_forced(client: Api) -> None:
    # GIVEN plan-ab running, and another plan over pg-b
    client.ok("POST", "/recovery-plans", plan("plan-b", wave("only", "pg-b")), status=201)
    running = client.start("plan-ab")
    client.settle()
    # WHEN starting the other plan, even forced by an admin
    for fields in ({}, {"force": True}):
        code, answer = client.call("POST", "/executions", {"planId": "plan-b", **fields}, role="admin")
        # THEN it conflicts, naming the busy servers and the execution holding them
        assert (code, answer["error"]) == (409, "CONFLICT")
        assert {d["sourceServerId"] for d in answer["details"]} == {sid(3), sid(4)}
        assert all(running in d["message"] for d in answer["details"])
    # AND pre-flight says so too
    report = client.ok("GET", "/recovery-plans/plan-b/preflight")
    assert {p["code"] for p in report["problems"]} == {"SERVER_BUSY"}


# --- the OpenAPI document ------------------------------------------------------------------------------


def test_openapi_document_lists_the_routes(client: Api) -> None:
    document = client.ok("GET", "/openapi.json", role="viewer")
    assert document["info"]["title"] == api.API_TITLE
    paths = document["paths"]
    for path, method in [
        ("/protection-groups", "post"),
        ("/protection-groups/{group_id}/preview", "get"),
        ("/recovery-plans/{plan_id}", "put"),
        ("/recovery-plans/{plan_id}/preflight", "get"),
        ("/executions", "get"),
        ("/executions", "post"),
        ("/executions/{execution_id}/waves/{wave_id}/approve", "post"),
        ("/executions/{execution_id}/terminate-instances", "post"),
        ("/source-servers", "get"),
    ]:
        assert method in paths[path], (path, method)
    assert "cognito" in document["components"]["securitySchemes"]


# --- input bounds and bad input (sizes, nesting, numbers, content types) -----------------------------------


def test_an_oversized_body_is_a_413_in_the_error_envelope(client: Api) -> None:
    # GIVEN a body over the documented limit
    raw = json.dumps(group("pg-big", 1) | {"name": "x" * (300 * 1024)})
    # WHEN it is posted
    code, answer = client.call("POST", "/protection-groups", raw_body=raw)
    # THEN it is a 413 naming the body, not a 503 from DynamoDB
    assert code == 413, answer
    assert answer["error"] == "PAYLOAD_TOO_LARGE"
    assert answer["details"] == [{"field": "body", "reason": f"is larger than {256 * 1024} bytes"}]


def test_a_definition_too_large_for_one_item_is_a_413_not_a_503(client: Api) -> None:
    # GIVEN a plan under the body limit whose stored JSON (non-ASCII characters escaped) exceeds one DynamoDB item
    waves = [wave(f"w{n}", "pg-a") | {"pauseBeforeWave": {"message": "é" * 1000}} for n in range(90)]
    # WHEN it is created
    raw = json.dumps(plan("plan-big", *waves), ensure_ascii=False)  # 180 KB of UTF-8
    code, answer = client.call("POST", "/recovery-plans", raw_body=raw)
    # THEN it is refused as too large, and nothing is stored
    assert code == 413, answer
    assert answer["details"] == [{"field": "body", "reason": "is too large to store"}]
    assert client.call("GET", "/recovery-plans/plan-big")[0] == 404


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("[" * 5000 + "]" * 5000, "body"),
        (
            '{"id": "p", "name": "p", "waves": [{"id": "a", "protectionGroupIds": ["pg-a"], "timeoutMinutes": '
            + "9" * 5000
            + "}]}",
            "waves[0].timeoutMinutes",
        ),
        (
            '{"id": "p", "name": "p", "waves": [{"id": "a", "protectionGroupIds": ["pg-a"], "timeoutMinutes": true}]}',
            "waves[0].timeoutMinutes",
        ),
    ],
    ids=["nested-5000-deep", "integer-of-5000-digits", "boolean-for-minutes"],
)
def test_hostile_json_is_a_400_naming_the_field_never_a_500(client: Api, raw: str, field: str) -> None:
    # WHEN a body nests thousands of levels, or holds an integer of thousands of digits or a boolean for a number
    code, answer = client.call("POST", "/recovery-plans", raw_body=raw)
    # THEN it is a 400 in drwave's envelope naming the field
    assert code == 400, answer
    assert field in [d["field"] for d in answer["details"]]


def test_a_deeply_nested_page_token_is_a_400_not_a_500(client: Api) -> None:
    # GIVEN a viewer's crafted nextToken: base64 of JSON nested ~1,500 levels
    token = base64.urlsafe_b64encode(b"[" * 1500 + b"]" * 1500).decode()[:2048]
    # WHEN it lists executions with it
    code, answer = client.call("GET", "/executions", role="viewer", query={"nextToken": token})
    # THEN it is refused naming the token
    assert code == 400, answer
    assert answer["details"][0]["field"] == "nextToken"


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "text/plain"],
)
def test_a_form_or_other_non_json_body_is_a_415_and_starts_nothing(client: Api, content_type: str) -> None:
    # GIVEN a body a browser form could send
    raw = (
        '--xyz\r\nContent-Disposition: form-data; name="planId"\r\n\r\nplan-ab\r\n--xyz--\r\n'
        if content_type.startswith("multipart")
        else "planId=plan-ab"
        if "urlencoded" in content_type
        else json.dumps({"planId": "plan-ab"})
    )
    # WHEN it is posted to start an execution
    code, answer = client.call("POST", "/executions", raw_body=raw, headers={"Content-Type": content_type})
    # THEN it is a 415 in drwave's envelope and no execution exists
    assert code == 415, answer
    assert answer["error"] == "UNSUPPORTED_MEDIA_TYPE"
    assert answer["details"][0]["field"] == "Content-Type"
    assert client.ok("GET", "/executions")["items"] == []


def test_a_group_in_a_string_that_is_not_a_region_is_a_400(client: Api) -> None:
    code, answer = client.call("POST", "/protection-groups", group("pg-r", 5) | {"region": "zz-fake-1"})
    assert code == 400, answer
    assert [d["field"] for d in answer["details"]] == ["region"]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (
            {
                "serverLaunchOverrides": {
                    sid(5): {"subnetId": "subnet-0123abcd", "privateIpAddress": "10.0.0.5"},
                    sid(6): {"subnetId": "subnet-0123abcd", "privateIpAddress": "10.0.0.5"},
                }
            },
            "privateIpAddress",
        ),
        (
            {"launchSettings": {"instanceType": "m5.large", "targetInstanceTypeRightSizingMethod": "BASIC"}},
            "instanceType",
        ),
        (
            {"launchSettings": {"privateIpAddress": "10.0.0.5", "subnetId": "subnet-0123abcd", "copyPrivateIp": True}},
            "privateIpAddress",
        ),
    ],
    ids=["clashing-fixed-ips", "instance-type-with-right-sizing", "fixed-ip-and-copy-private-ip"],
)
def test_launch_settings_that_cannot_be_applied_are_refused_at_create_time(
    client: Api, settings: dict[str, Any], field: str
) -> None:
    # WHEN a group is created with settings that would fail its servers only when the wave launches
    code, answer = client.call("POST", "/protection-groups", group("pg-ls", 5, 6) | settings)
    # THEN it is refused now, naming the field, and the group does not exist
    assert code == 400, answer
    assert field in [d["field"] for d in answer["details"]]
    assert client.call("GET", "/protection-groups/pg-ls")[0] == 404


# --- concurrent edits: versions, ETag, If-Match --------------------------------------------------------------

ACCOUNT_BODY = {"accountId": "444455556666", "name": "prod", "regions": ["us-east-1"], "externalId": "s3cr3t-ext"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/protection-groups/pg-a", group("pg-a", 1, 2) | {"name": "renamed"}),
        ("/recovery-plans/plan-ab", plan("plan-ab", wave("a", "pg-a")) | {"name": "renamed"}),
        ("/target-accounts/444455556666", ACCOUNT_BODY | {"name": "renamed"}),
    ],
    ids=["group", "plan", "account"],
)
def test_a_put_with_a_stale_if_match_is_a_412_and_changes_nothing(client: Api, path: str, body: dict[str, Any]) -> None:
    client.ok("POST", "/target-accounts", ACCOUNT_BODY, status=201)
    # GIVEN two editors who read the same version
    client.ok("GET", path)
    etag = client.headers["ETag"]
    # WHEN the first saves with that ETag
    client.ok("PUT", path, body, headers={"If-Match": etag})
    newer = client.headers["ETag"]
    # THEN the second, still holding the old ETag, gets 412 and the first one's change stands
    code, answer = client.call("PUT", path, body | {"name": "lost update"}, headers={"If-Match": etag})
    assert code == 412, answer
    assert answer["error"] == "PRECONDITION_FAILED"
    assert client.ok("GET", path)["name"] == "renamed"
    assert client.headers["ETag"] == newer != etag


@pytest.mark.parametrize(
    "path", ["/protection-groups/pg-b", "/recovery-plans/plan-ab", "/target-accounts/444455556666"]
)
def test_a_delete_with_a_stale_if_match_is_a_412_and_keeps_it(client: Api, path: str) -> None:
    client.ok("POST", "/target-accounts", ACCOUNT_BODY, status=201)
    if path.startswith("/protection-groups"):
        client.ok("DELETE", "/recovery-plans/plan-ab")  # pg-b is used by plan-ab
    code, answer = client.call("DELETE", path, headers={"If-Match": '"99"'})
    assert code == 412, answer
    client.ok("GET", path)
    client.ok("DELETE", path, headers={"If-Match": client.headers["ETag"]})
    assert client.call("GET", path)[0] == 404


def test_create_answers_the_etag_and_a_second_create_of_the_id_conflicts(client: Api) -> None:
    client.ok("POST", "/protection-groups", group("pg-c", 5), status=201)
    assert client.headers["ETag"] == '"1"'
    code, answer = client.call("POST", "/protection-groups", group("pg-c", 6))
    assert code == 409, answer
    assert client.ok("GET", "/protection-groups/pg-c")["sourceServerIds"] == [sid(5)]


# --- identities ------------------------------------------------------------------------------------------------


def test_the_caller_is_named_by_an_immutable_claim_not_by_the_email_users_may_change(client: Api) -> None:
    # GIVEN an operator who set their own email to someone else's
    claims = {
        "cognito:username": "alice",
        "sub": "0000-alice",
        "email": "boss@example.com",
        "cognito:groups": "operator",
    }
    # WHEN they start an execution
    started = client.ok("POST", "/executions", {"planId": "plan-ab"}, status=202, claims=claims)
    # THEN the audit trail names their username, not the email
    execution = client.rt.deps.store.load_execution(started["executionId"])
    assert execution is not None
    assert execution.started_by == "alice"


def test_a_caller_with_only_an_email_claim_is_refused(client: Api) -> None:
    code, _ = client.call("GET", "/recovery-plans", claims={"email": "x@example.com", "cognito:groups": "admin"})
    assert code == 403


def test_viewers_do_not_see_target_accounts_external_ids(client: Api) -> None:
    client.ok("POST", "/target-accounts", ACCOUNT_BODY, status=201)
    assert "externalId" not in client.ok("GET", "/target-accounts/444455556666", role="viewer")
    assert all("externalId" not in a for a in client.ok("GET", "/target-accounts", role="operator")["items"])
    assert client.ok("GET", "/target-accounts/444455556666", role="admin")["externalId"] == "s3cr3t-ext"


def test_a_group_that_names_no_region_takes_the_stacks_own_region(client):
    # GIVEN a group definition without a region, sent to a stack deployed outside us-east-1
    client.rt.deps.region = "eu-west-1"
    body = {"id": "pg-noregion", "name": "No region", "sourceServerIds": ["s-0a1b2c3d4e5f60001"]}
    # WHEN it is created THEN it is the stack's Region's, as the answer says, not a fixed default
    assert client.ok("POST", "/protection-groups", body, status=201, role="admin")["region"] == "eu-west-1"


# --- the deployed console's origin (CORS) ----------------------------------------------------------------

CONSOLE = "https://d111111abcdef8.cloudfront.net"


def test_an_answer_to_the_console_origin_may_be_read_by_it_and_exposes_the_etag(
    client: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the API deployed with the console's CloudFront origin
    monkeypatch.setenv("CONSOLE_ORIGIN", CONSOLE)
    # WHEN the console (that origin) reads a plan
    client.ok("GET", "/recovery-plans/plan-ab", headers={"Origin": CONSOLE})
    # THEN the answer names that origin, varies by origin and lets the page read its ETag
    assert client.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert client.headers["Access-Control-Expose-Headers"] == "ETag"
    assert client.headers["Vary"] == "Origin"
    assert client.headers["ETag"]


def test_an_answer_to_any_other_origin_carries_no_cors_header(client: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the API deployed with the console's origin
    monkeypatch.setenv("CONSOLE_ORIGIN", CONSOLE)
    # WHEN another site's page calls it, or a client without an Origin does
    client.ok("GET", "/recovery-plans/plan-ab", headers={"Origin": "https://evil.example"})
    from_other_site = dict(client.headers)
    client.ok("GET", "/recovery-plans/plan-ab")
    # THEN neither answer lets a browser page read it
    assert "Access-Control-Allow-Origin" not in from_other_site
    assert "Access-Control-Allow-Origin" not in client.headers


def test_a_body_refused_before_routing_still_tells_the_console_why(
    client: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the API deployed with the console's origin
    monkeypatch.setenv("CONSOLE_ORIGIN", CONSOLE)
    # WHEN the console sends a body that is not JSON
    code, body = client.call(
        "POST", "/executions", raw_body="planId=plan-ab", headers={"Content-Type": "text/plain", "Origin": CONSOLE}
    )
    # THEN the refusal is readable by the page
    assert code == 415 and body["error"] == "UNSUPPORTED_MEDIA_TYPE"
    assert client.headers["Access-Control-Allow-Origin"] == CONSOLE
