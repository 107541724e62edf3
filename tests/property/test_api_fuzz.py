"""Fuzz of the REST API: random routes, bodies, query strings, path ids and roles against one LocalRuntime.

Whatever arrives, the API answers below 500; every 4xx carries the JSON error envelope; and a refused request
writes nothing (the whole DynamoDB table is the same before and after).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drwave.handlers import api
from drwave.models.plan import PlanDocument
from drwave_local.runtime.embedded import TABLE_NAME, LocalRuntime, _LambdaContext
from drwave_local.simulators.environment import Environment

ROUTES: list[tuple[str, str]] = [
    (method.upper(), path)
    for path, operations in json.loads(api.openapi_json())["paths"].items()
    for method in operations
]
PARAM = re.compile(r"\{(\w+)\}")
ROLES = ["admin", "operator", "viewer", None, "ADMIN", "auditors", "viewer,operator", "[admin]"]
QUERY_NAMES = ["status", "planId", "executionType", "limit", "nextToken", "accountId", "region", "force", "x"]
FAST = settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
LONG = settings(max_examples=600, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def sid(n: int) -> str:
    return f"s-{n:017d}"


@dataclass
class World:
    """The runtime under fuzz and the ids that exist in it."""

    rt: LocalRuntime
    known: dict[str, list[str]]

    def call(self, method: str, path: str, query: dict[str, str] | None, body: str | None, role: str | None) -> Any:
        claims = {"cognito:username": "fuzz@example.com"} | ({"cognito:groups": role} if role is not None else {})
        event = {
            "httpMethod": method,
            "path": path,
            "resource": "/{proxy+}",
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Content-Type": ["application/json"]},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
            "pathParameters": {"proxy": path.lstrip("/")},
            "body": body,
            "isBase64Encoded": False,
            "requestContext": {
                "requestId": "fuzz",
                "authorizer": {"claims": claims},
                "stage": "v1",
                "httpMethod": method,
                "path": path,
                "resourcePath": "/{proxy+}",
            },
        }
        return api.handler(event, _LambdaContext("ApiFunction", "fuzz"), deps=self.rt.deps)

    def table(self) -> list[str]:
        """Every item of the state table, canonically ordered."""
        items: list[str] = []
        kwargs: dict[str, Any] = {"TableName": TABLE_NAME, "ConsistentRead": True}
        while True:
            page = self.rt.dynamodb.scan(**kwargs)
            items += [json.dumps(i, sort_keys=True) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return sorted(items)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """Two groups (one tag-selected), a plan over them, one finished execution and one running."""
    environment = Environment.model_validate(
        {
            "accountId": "111122223333",
            "seed": 9,
            "jitter": 0,
            "sourceServers": [
                {"id": sid(n), "tags": {"tier": "web"} if n > 2 else {}, "replicationState": "CONTINUOUS"}
                for n in range(1, 7)
            ]
            + [{"id": sid(9), "replicationState": "STALLED"}],
        }
    )
    document = PlanDocument.model_validate(
        {
            "protectionGroups": [
                {"id": "pg-a", "name": "A", "sourceServerIds": [sid(1), sid(2)]},
                {"id": "pg-web", "name": "Web", "serverSelectionTags": [{"key": "tier", "value": "web"}]},
            ],
            "recoveryPlan": {
                "id": "plan-ab",
                "name": "Plan",
                "waves": [
                    {"id": "a", "protectionGroupIds": ["pg-a"]},
                    {"id": "web", "protectionGroupIds": ["pg-web"], "dependsOn": ["a"], "pauseBeforeWave": {}},
                ],
            },
        }
    )
    with LocalRuntime(environment) as rt:
        rt.install(document)
        finished = rt.request_execution("plan-ab", execution_id="exec-done")
        rt.run()
        rt.approve(finished, "web")  # harmless if the gate already timed out
        rt.run()
        running = rt.request_execution("plan-ab", execution_id="exec-running")
        rt.clock.advance_to(rt.clock.now() + timedelta(seconds=30))
        yield World(
            rt,
            {
                "group_id": ["pg-a", "pg-web"],
                "plan_id": ["plan-ab"],
                "execution_id": [finished, running],
                "wave_id": ["a", "web", "1", "2"],
            },
        )


# --- strategies ------------------------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
GROUP = {"id": "pg-new", "name": "New", "sourceServerIds": [sid(5)]}
PLAN = {"id": "plan-new", "name": "New", "waves": [{"id": "w", "protectionGroupIds": ["pg-a"]}]}
START = {"planId": "plan-ab", "executionType": "DRILL"}
FIELDS = ["id", "name", "waves", "sourceServerIds", "serverSelectionTags", "planId", "executionType", "force",
          "executionId", "accountId", "region", "dependsOn", "protectionGroupIds"]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid body with a field replaced, removed or added."""
    body: dict[str, Any] = dict(draw(st.sampled_from([GROUP, PLAN, START])))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(FIELDS + list(body)))
        if draw(st.booleans()) and name in body:
            del body[name]
        else:
            body[name] = draw(json_values)
    return body


bodies = st.one_of(
    st.none(),
    mutated().map(json.dumps),
    json_values.map(json.dumps),
    text,
)
path_ids = st.one_of(
    st.sampled_from(["pg-a", "pg-web", "plan-ab", "exec-done", "exec-running", "a", "web", "1", "2", "0", "99"]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True),
    text.filter(lambda t: "/" not in t and "?" not in t and "#" not in t),
)
queries = st.none() | st.dictionaries(
    st.sampled_from(QUERY_NAMES),
    st.one_of(text, st.sampled_from(["1", "0", "100", "101", "-1", "COMPLETED", "DRILL", "us-east-1", "plan-ab"])),
    max_size=4,
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str] | None, str | None, str | None]:
    method, template = draw(st.sampled_from(ROUTES))
    if draw(st.integers(0, 19)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    path = PARAM.sub(lambda _: draw(path_ids), template)
    return method, path, draw(queries), draw(bodies), draw(st.sampled_from(ROLES))


# --- the property ------------------------------------------------------------------------------------------


def check(world: World, request: tuple[str, str, dict[str, str] | None, str | None, str | None]) -> None:
    method, path, query, body, role = request
    before = world.table()
    response = world.call(method, path, query, body, role)
    status = response["statusCode"]
    assert status < 500, response
    if status >= 400:
        envelope = json.loads(response["body"])
        assert isinstance(envelope, dict), envelope
        assert isinstance(envelope.get("error"), str), envelope
        assert isinstance(envelope.get("message"), str), envelope
        assert isinstance(envelope.get("details", []), list), envelope
        assert world.table() == before, f"{status} {envelope['error']} changed the table"


@FAST
@given(request=requests())
def test_any_request_is_answered_below_500_and_a_refusal_writes_nothing(world: World, request: Any) -> None:
    check(world, request)


@pytest.mark.slow
@LONG
@given(request=requests())
def test_many_requests_are_answered_below_500_and_refusals_write_nothing(world: World, request: Any) -> None:
    check(world, request)


def test_every_route_is_fuzzed() -> None:
    assert len(ROUTES) >= 20
    assert ("GET", "/executions/{execution_id}/waves/{wave_id}") in ROUTES
