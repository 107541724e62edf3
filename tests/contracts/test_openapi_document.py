"""The committed OpenAPI document is the one the API's routes generate, and it covers every route."""

from __future__ import annotations

import json

from drwave_local.contracts.openapi import OPENAPI_PATH, generated


def test_the_committed_openapi_document_matches_the_routes() -> None:
    # GIVEN the document generated from the routes  WHEN compared with the committed file  THEN they are equal
    assert OPENAPI_PATH.read_text(encoding="utf-8") == generated(), "run: python -m drwave_local.contracts.openapi"


def test_the_document_describes_every_resource_with_its_request_models() -> None:
    # GIVEN the committed document
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    paths = document["paths"]
    # THEN it covers groups, plans, executions and DRS servers, and the write bodies reference pydantic models
    for path in ("/protection-groups", "/recovery-plans", "/executions", "/source-servers"):
        assert path in paths
    assert {"post", "get"} <= set(paths["/executions"])
    assert {"ProtectionGroup", "RecoveryPlan", "StartExecution"} <= set(document["components"]["schemas"])
    assert document["security"] == [{"cognito": []}]
