"""Every string and list of a definition is bounded, numbers are numbers, regions are regions, and checking a
large group stays linear."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from drwave.control.errors import invalid_from
from drwave.control.requests import StartExecution
from drwave.control.wire import parse_json
from drwave.models import limits
from drwave.models.accounts import TargetAccount
from drwave.models.plan import PlanDocument, ProtectionGroup, RecoveryPlan


def sid(n: int) -> str:
    return f"s-{n:017d}"


def group(**extra: Any) -> dict[str, Any]:
    return {"id": "pg", "name": "pg", "sourceServerIds": [sid(1)], **extra}


def plan(wave: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": "p", "name": "p", "waves": [{"id": "a", "protectionGroupIds": ["pg"], **(wave or {})}], **extra}


def account(**extra: Any) -> dict[str, Any]:
    return {"accountId": "111122223333", "name": "prod", "regions": ["us-east-1"], **extra}


def fields_of(err: ValidationError) -> list[str]:
    return [d["field"] for d in invalid_from(err).details]


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (ProtectionGroup, group(name="n" * (limits.MAX_NAME + 1)), "name"),
        (
            ProtectionGroup,
            group(sourceServerIds=[sid(n) for n in range(limits.MAX_GROUP_SERVERS + 1)]),
            "sourceServerIds",
        ),
        (
            ProtectionGroup,
            {"id": "pg", "name": "pg", "serverSelectionTags": [{"key": "k", "value": "v" * 257}]},
            "serverSelectionTags[0].value",
        ),
        (ProtectionGroup, group(assumeRoleName="r" * 65), "assumeRoleName"),
        (ProtectionGroup, group(launchSettings={"tags": {f"k{n}": "v" for n in range(51)}}), "launchSettings.tags"),
        (RecoveryPlan, plan(description="d" * (limits.MAX_TEXT + 1)), "description"),
        (RecoveryPlan, plan({"name": "w" * (limits.MAX_NAME + 1)}), "waves[0].name"),
        (
            RecoveryPlan,
            plan({"pauseBeforeWave": {"message": "m" * (limits.MAX_TEXT + 1)}}),
            "waves[0].pauseBeforeWave.message",
        ),
        (
            RecoveryPlan,
            plan(
                {"preActions": [{"name": "x", "documentName": "AWS-RunShellScript", "parameters": {"c": ["v" * 4097]}}]}
            ),
            "waves[0].preActions[0].parameters.c[0]",
        ),
        (TargetAccount, account(name="n" * (limits.MAX_NAME + 1)), "name"),
        (TargetAccount, account(roleArn="arn:aws:iam::111122223333:role/" + "p/" * 1100 + "r"), "roleArn"),
    ],
)
def test_an_oversized_string_or_list_is_refused_naming_the_field(model: Any, body: dict[str, Any], field: str) -> None:
    # GIVEN a definition with one value over its documented limit
    # WHEN it is validated
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    # THEN the refusal names that field
    assert field in fields_of(caught.value)


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (RecoveryPlan, plan({"timeoutMinutes": True}), "waves[0].timeoutMinutes"),
        (RecoveryPlan, plan({"pauseBeforeWave": {"timeoutMinutes": False}}), "waves[0].pauseBeforeWave.timeoutMinutes"),
        (ProtectionGroup, group(launchSettings={"copyTags": "yes"}), "launchSettings.copyTags"),
        (ProtectionGroup, group(launchSettings={"licensing": {"osByol": 1}}), "launchSettings.licensing.osByol"),
        (StartExecution, {"planId": "p", "force": "true"}, "force"),
    ],
)
def test_a_boolean_is_not_a_number_and_a_word_is_not_a_boolean(model: Any, body: dict[str, Any], field: str) -> None:
    # GIVEN true where minutes are meant, or "yes" / 1 where a boolean is meant
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    # THEN it is refused naming the field, not read as 1 minute or as True
    assert field in fields_of(caught.value)


@pytest.mark.parametrize("region", ["zz-fake-1", "us-east-1a", "us-east", "mars-north-1", "ab-cd-9"])
def test_a_region_string_that_is_not_a_region_is_refused(region: str) -> None:
    # GIVEN a group and a target account in something that only looks like a region
    with pytest.raises(ValidationError) as caught:
        ProtectionGroup.model_validate(group(region=region))
    assert "region" in fields_of(caught.value)
    with pytest.raises(ValidationError):
        TargetAccount.model_validate(account(regions=[region]))


@pytest.mark.parametrize(
    "region",
    ["us-east-1", "eu-central-2", "ap-southeast-7", "us-gov-west-1", "cn-northwest-1", "il-central-1", "mx-central-1"],
)
def test_real_regions_are_accepted(region: str) -> None:
    assert ProtectionGroup.model_validate(group(region=region)).region == region


def test_a_group_of_eight_thousand_servers_is_checked_in_well_under_a_second() -> None:
    # GIVEN a plan file whose group lists 8,000 distinct server ids (and one override)
    ids = [sid(n) for n in range(8000)]
    document = {
        "protectionGroups": [group(sourceServerIds=ids, serverLaunchOverrides={ids[-1]: {"copyTags": True}})],
        "recoveryPlan": plan(),
    }
    # WHEN it is validated (as on every load)
    started = time.perf_counter()
    PlanDocument.model_validate(document)
    elapsed = time.perf_counter() - started
    # THEN the duplicate check is linear, not a count per id
    assert elapsed < 0.25, elapsed


def test_many_problems_make_a_message_of_the_first_ten_and_a_count() -> None:
    # GIVEN a plan with 40 waves, each with a bad timeout
    body = {
        "id": "p",
        "name": "p",
        "waves": [{"id": f"w{n}", "protectionGroupIds": ["pg"], "timeoutMinutes": 0} for n in range(40)],
    }
    with pytest.raises(ValidationError) as caught:
        RecoveryPlan.model_validate(body)
    # WHEN it becomes the API's error
    failure = invalid_from(caught.value)
    # THEN the message and the details list ten problems and count the rest
    assert len(failure.details) == 10
    assert failure.message.endswith("and 30 more problems")


def test_a_long_list_of_bad_ids_is_cut_to_ten_and_a_count() -> None:
    with pytest.raises(ValidationError) as caught:
        ProtectionGroup.model_validate(group(sourceServerIds=[f"i-{n}" for n in range(500)]))
    message = invalid_from(caught.value).message
    assert "and 490 more" in message
    assert len(message) < 400


@pytest.mark.parametrize(
    "text",
    ["[" * 5000 + "]" * 5000, '{"a":' * 40 + "1" + "}" * 40],
)
def test_deeply_nested_json_is_invalid_input_not_a_recursion_error(text: str) -> None:
    from drwave.control.errors import InvalidInput  # noqa: PLC0415

    with pytest.raises(InvalidInput) as caught:
        parse_json(text)
    assert caught.value.details == [{"field": "body", "reason": "nests objects and arrays more than 32 levels deep"}]


def test_an_integer_of_thousands_of_digits_reaches_the_model_and_is_refused_naming_the_field() -> None:
    # GIVEN a body whose timeout has 5,000 digits (Python's int() refuses it with a bare ValueError)
    body = parse_json(
        '{"id": "p", "name": "p", "waves": [{"id": "a", "protectionGroupIds": ["pg"], "timeoutMinutes": '
        + "9" * 5000
        + "}]}"
    )
    # WHEN the model validates it
    with pytest.raises(ValidationError) as caught:
        RecoveryPlan.model_validate(body)
    # THEN the refusal names the field
    assert fields_of(caught.value) == ["waves[0].timeoutMinutes"]
