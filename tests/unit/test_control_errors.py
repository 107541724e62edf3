"""The control plane's error envelope: pydantic failures become field-level details."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drwave.control.errors import (
    Conflict,
    DependencyFailure,
    InvalidInput,
    MissingParameter,
    PreflightFailed,
    field_path,
    invalid_from,
)
from drwave.control.requests import ExecutionFilter, StartExecution
from drwave.models.plan import RecoveryPlan


def refusal(model: type[Any], body: dict[str, Any], prefix: str = "") -> InvalidInput:
    """The InvalidInput invalid_from makes of validating `body` as `model` (which must fail)."""
    with pytest.raises(ValidationError) as failed:
        model.model_validate(body)
    return invalid_from(failed.value, prefix)


def fields(error: InvalidInput) -> dict[str, str]:
    return {d["field"]: d["reason"] for d in error.details}


def plan(**wave: Any) -> dict[str, Any]:
    return {"id": "plan-1", "name": "Plan", "waves": [{"id": "db", "protectionGroupIds": ["pg-db"], **wave}]}


def test_field_path_writes_list_indexes_in_brackets() -> None:
    assert field_path(("waves", 0, "dependsOn")) == "waves[0].dependsOn"
    assert field_path(("waves", 2, "serverImpact", "s-1")) == "waves[2].serverImpact.s-1"
    assert field_path(()) == ""


def test_a_bad_nested_field_is_named_by_its_path() -> None:
    # GIVEN a plan whose first wave's dependsOn is not a list
    error = refusal(RecoveryPlan, plan(dependsOn="app"))
    # THEN the detail names waves[0].dependsOn and the error is a 400 INVALID_PARAMETER
    assert list(fields(error)) == ["waves[0].dependsOn"]
    assert (error.code, error.status) == ("INVALID_PARAMETER", 400)


def test_a_whole_plan_check_is_named_by_the_field_it_is_about() -> None:
    # GIVEN a plan whose wave depends on a wave that does not exist (a model-level check)
    error = refusal(RecoveryPlan, plan(dependsOn=["nowhere"]))
    # THEN the detail names the nested field rather than the whole body
    assert fields(error) == {"waves[0].dependsOn": "unknown wave ids: nowhere"}


def test_the_prefix_places_a_nested_document_in_its_parent() -> None:
    error = refusal(RecoveryPlan, plan(dependsOn="app"), prefix="recoveryPlan.")
    assert list(fields(error)) == ["recoveryPlan.waves[0].dependsOn"]


def test_only_missing_fields_make_a_missing_parameter_error() -> None:
    # GIVEN a start request without its planId
    error = refusal(StartExecution, {})
    # THEN it is MISSING_PARAMETER naming the field, still a 400
    assert isinstance(error, MissingParameter)
    assert (error.code, error.status) == ("MISSING_PARAMETER", 400)
    assert fields(error) == {"planId": "is required"}
    assert error.body()["message"] == "planId: is required"


def test_missing_and_invalid_fields_together_are_an_invalid_parameter_error() -> None:
    # GIVEN a start request with no planId and a bad execution type
    error = refusal(StartExecution, {"executionType": "PRACTICE"})
    # THEN it is INVALID_PARAMETER listing both fields
    assert not isinstance(error, MissingParameter)
    assert error.code == "INVALID_PARAMETER"
    assert set(fields(error)) == {"planId", "executionType"}


def test_unknown_fields_are_reported_as_not_known() -> None:
    # GIVEN a request with a misspelt field
    error = refusal(StartExecution, {"planId": "plan-1", "exectionType": "DRILL"})
    # THEN the detail says the field is not known
    assert fields(error) == {"exectionType": "is not a known field"}


def test_every_problem_is_listed_not_just_the_first() -> None:
    error = refusal(ExecutionFilter, {"limit": 0, "status": "SLEEPING", "nextToken": "x" * 3000})
    assert set(fields(error)) == {"limit", "status", "nextToken"}


def test_the_envelope_has_code_message_and_details_only_when_there_are_some() -> None:
    assert Conflict("in use").body() == {"error": "CONFLICT", "message": "in use"}
    detailed = PreflightFailed("2 problems", [{"code": "GROUP_EMPTY"}])
    assert detailed.body() == {
        "error": "PREFLIGHT_FAILED",
        "message": "2 problems",
        "details": [{"code": "GROUP_EMPTY"}],
    }
    assert detailed.status == 409


def test_dependency_failures_are_retryable_5xx_with_their_service_code() -> None:
    assert DependencyFailure("throttled").body()["error"] == "DYNAMODB_ERROR"
    drs = DependencyFailure("DRS down", code="DRS_ERROR")
    assert (drs.status, drs.body()["error"]) == (503, "DRS_ERROR")
