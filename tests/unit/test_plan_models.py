"""Protection groups, waves, recovery plans and plan documents: what a valid plan is, and what the errors say."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drwave.models.plan import (
    ApprovalGate,
    FailurePolicy,
    ImpactLevel,
    PlanDocument,
    ProtectionGroup,
    RecoveryPlan,
    Wave,
    WaveAction,
    find_cycle,
    normalise_tag,
)

S1 = "s-1234567890abcdef0"
S2 = "s-1234567890abcdef1"
S3 = "s-0000000000000000a"


def wire_plan(waves: list[dict]) -> dict:
    return {"id": "plan-1", "name": "Three tier", "waves": waves}


def wire_wave(wave_id: str, depends_on: list[str] | None = None, groups: list[str] | None = None) -> dict:
    return {"id": wave_id, "protectionGroupIds": groups or ["pg-db"], "dependsOn": depends_on or []}


def tag_group(*pairs: tuple[str, str]) -> ProtectionGroup:
    return ProtectionGroup(
        id="pg-tags",
        name="by tags",
        server_selection_tags=[{"key": k, "value": v} for k, v in pairs],
    )


# --- valid plans ---------------------------------------------------------------------------------------


def test_plan_document_in_camel_case_wire_format_is_accepted():
    # GIVEN a plan file with two groups and a three-wave dependency chain
    document = {
        "protectionGroups": [
            {"id": "pg-db", "name": "Databases", "accountId": "111122223333", "sourceServerIds": [S1, S2]},
            {"id": "pg-web", "name": "Web", "serverSelectionTags": [{"key": "Tier", "value": "web"}]},
        ],
        "recoveryPlan": wire_plan(
            [
                wire_wave("db"),
                {
                    "id": "app",
                    "protectionGroupIds": ["pg-web"],
                    "dependsOn": ["db"],
                    "pauseBeforeWave": {"timeoutMinutes": 30, "message": "check the database"},
                    "preActions": [{"name": "drain", "documentName": "AWS-RunShellScript", "onFailure": "CONTINUE"}],
                    "serverImpact": {S2: "OPTIONAL"},
                    "failurePolicy": "CONTINUE",
                },
                wire_wave("web", depends_on=["app"], groups=["pg-web"]),
            ]
        ),
    }

    # WHEN it is validated
    parsed = PlanDocument.model_validate(document)

    # THEN every field lands in its python attribute
    plan = parsed.recovery_plan
    assert [w.id for w in plan.waves] == ["db", "app", "web"]
    app = plan.wave("app")
    assert app.depends_on == ["db"]
    assert app.pause_before_wave == ApprovalGate(timeout_minutes=30, message="check the database")
    assert app.pre_actions[0].on_failure is FailurePolicy.CONTINUE
    assert app.failure_policy is FailurePolicy.CONTINUE
    assert parsed.protection_groups[0].source_server_ids == [S1, S2]


def test_plan_round_trips_through_its_wire_format():
    # GIVEN a valid plan
    plan = RecoveryPlan.model_validate(wire_plan([wire_wave("a"), wire_wave("b", depends_on=["a"])]))

    # WHEN it is serialised with camelCase keys and parsed again
    again = RecoveryPlan.model_validate(plan.to_wire())

    # THEN nothing is lost
    assert again == plan
    assert plan.to_wire()["waves"][1]["dependsOn"] == ["a"]


def test_wave_defaults_are_critical_servers_stop_policy_and_four_hour_timeout():
    # GIVEN a wave with only its id and group
    wave = Wave(id="w1", protection_group_ids=["pg"])

    # THEN the documented defaults apply
    assert wave.default_impact is ImpactLevel.CRITICAL
    assert wave.failure_policy is FailurePolicy.STOP
    assert wave.timeout_minutes == 240
    assert wave.pause_before_wave is None


def test_diamond_dependency_graph_is_not_a_cycle():
    # GIVEN A -> B, A -> C, B + C -> D
    waves = [
        wire_wave("A"),
        wire_wave("B", depends_on=["A"]),
        wire_wave("C", depends_on=["A"]),
        wire_wave("D", depends_on=["B", "C"]),
    ]

    # WHEN the plan is validated
    plan = RecoveryPlan.model_validate(wire_plan(waves))

    # THEN it is accepted
    assert plan.wave("D").depends_on == ["B", "C"]


def test_waves_may_be_listed_before_the_waves_they_depend_on():
    # GIVEN a dependant listed first
    waves = [wire_wave("late", depends_on=["early"]), wire_wave("early")]

    # WHEN / THEN the plan is valid (order in the list is not the dependency order)
    assert RecoveryPlan.model_validate(wire_plan(waves)).wave("late").depends_on == ["early"]


# --- graph errors ----------------------------------------------------------------------------------------


def test_plan_without_waves_is_rejected_naming_waves():
    # WHEN a plan has an empty wave list
    with pytest.raises(ValidationError) as exc:
        RecoveryPlan.model_validate(wire_plan([]))

    # THEN the error names the field
    assert "waves: a plan needs at least one wave" in str(exc.value)


def test_dependency_cycle_is_rejected_with_the_cycle_path_in_the_message():
    # GIVEN a -> c -> b -> a (each wave depends on the next in the cycle)
    waves = [wire_wave("a", depends_on=["c"]), wire_wave("b", depends_on=["a"]), wire_wave("c", depends_on=["b"])]

    # WHEN the plan is validated
    with pytest.raises(ValidationError) as exc:
        RecoveryPlan.model_validate(wire_plan(waves))

    # THEN the message shows the whole cycle, first node repeated at the end
    assert "waves: dependency cycle: a -> c -> b -> a" in str(exc.value)


def test_cycle_behind_an_acyclic_prefix_is_reported_without_the_prefix():
    # GIVEN root -> x <-> y (root is not part of the cycle)
    waves = [wire_wave("root", depends_on=["x"]), wire_wave("x", depends_on=["y"]), wire_wave("y", depends_on=["x"])]

    # WHEN the plan is validated
    with pytest.raises(ValidationError) as exc:
        RecoveryPlan.model_validate(wire_plan(waves))

    # THEN only the cycle itself is reported
    assert "dependency cycle: x -> y -> x" in str(exc.value)
    assert "root ->" not in str(exc.value)


def test_wave_depending_on_itself_is_rejected_naming_dependson():
    # WHEN a wave lists itself in dependsOn
    with pytest.raises(ValidationError) as exc:
        RecoveryPlan.model_validate(wire_plan([wire_wave("a"), wire_wave("b", depends_on=["b"])]))

    # THEN the error points at the offending wave's dependsOn
    assert "waves[1].dependsOn: wave 'b' depends on itself" in str(exc.value)


def test_unknown_depends_on_is_rejected_naming_the_field_and_the_id():
    # WHEN a wave depends on a wave the plan does not have
    with pytest.raises(ValidationError) as exc:
        RecoveryPlan.model_validate(wire_plan([wire_wave("a"), wire_wave("b", depends_on=["a", "ghost"])]))

    # THEN the error names the index, the field and the unknown id
    assert "waves[1].dependsOn: unknown wave ids: ghost" in str(exc.value)


def test_duplicate_wave_ids_are_rejected_naming_waves():
    # WHEN two waves share an id
    with pytest.raises(ValidationError) as exc:
        RecoveryPlan.model_validate(wire_plan([wire_wave("a"), wire_wave("b"), wire_wave("a")]))

    # THEN the duplicate is named
    assert "waves: duplicate wave ids: a" in str(exc.value)


def test_find_cycle_returns_none_for_an_acyclic_graph():
    # GIVEN a diamond
    edges = {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]}

    # WHEN / THEN
    assert find_cycle(edges) is None


def test_find_cycle_returns_a_closed_path():
    # GIVEN a two-node cycle
    edges = {"A": ["B"], "B": ["A"]}

    # WHEN
    cycle = find_cycle(edges)

    # THEN the path starts and ends on the same node
    assert cycle == ["A", "B", "A"]


# --- wave errors --------------------------------------------------------------------------------------------


def test_wave_with_an_empty_group_list_is_rejected_naming_protection_group_ids():
    # WHEN a wave lists no protection group
    with pytest.raises(ValidationError) as exc:
        Wave.model_validate({"id": "w1", "protectionGroupIds": []})

    # THEN the error names the field
    assert "protectionGroupIds" in str(exc.value)
    assert "a wave needs at least one protection group" in str(exc.value)


def test_wave_that_omits_protection_group_ids_is_rejected():
    # WHEN a wave has no protectionGroupIds key at all
    with pytest.raises(ValidationError) as exc:
        Wave.model_validate({"id": "w1"})

    # THEN it is rejected like an empty list
    assert "protectionGroupIds" in str(exc.value)


def test_wave_listing_the_same_group_twice_is_rejected():
    # WHEN a wave lists a group twice
    with pytest.raises(ValidationError) as exc:
        Wave.model_validate({"id": "w1", "protectionGroupIds": ["pg", "pg"]})

    # THEN
    assert "protectionGroupIds" in str(exc.value)
    assert "lists the same protection group twice" in str(exc.value)


def test_server_impact_keys_must_be_source_server_ids():
    # WHEN an impact override is keyed by something that is not a source server id
    with pytest.raises(ValidationError) as exc:
        Wave.model_validate({"id": "w1", "protectionGroupIds": ["pg"], "serverImpact": {"web-01": "OPTIONAL"}})

    # THEN the error names the field and the bad key
    assert "serverImpact" in str(exc.value)
    assert "web-01" in str(exc.value)


def test_impact_of_uses_the_override_then_the_wave_default():
    # GIVEN an OPTIONAL-by-default wave with one CRITICAL server
    wave = Wave(
        id="w1",
        protection_group_ids=["pg"],
        default_impact=ImpactLevel.OPTIONAL,
        server_impact={S1: ImpactLevel.CRITICAL},
    )

    # WHEN / THEN
    assert wave.impact_of(S1) is ImpactLevel.CRITICAL
    assert wave.impact_of(S2) is ImpactLevel.OPTIONAL


@pytest.mark.parametrize("bad_id", ["", "-starts-with-dash", "has space", "x" * 129])
def test_wave_id_must_be_an_identifier(bad_id):
    # WHEN a wave id breaks the identifier pattern
    with pytest.raises(ValidationError) as exc:
        Wave.model_validate({"id": bad_id, "protectionGroupIds": ["pg"]})

    # THEN the error names the id field
    assert "\nid\n" in str(exc.value)


def test_wave_timeout_outside_bounds_is_rejected():
    # WHEN the timeout is zero minutes
    with pytest.raises(ValidationError) as exc:
        Wave.model_validate({"id": "w1", "protectionGroupIds": ["pg"], "timeoutMinutes": 0})

    # THEN
    assert "timeoutMinutes" in str(exc.value)


def test_unknown_fields_are_rejected():
    # WHEN a wave carries a misspelt field
    with pytest.raises(ValidationError) as exc:
        Wave.model_validate({"id": "w1", "protectionGroupIds": ["pg"], "dependOn": ["x"]})

    # THEN the typo is reported rather than silently ignored
    assert "dependOn" in str(exc.value)
    assert "Extra inputs are not permitted" in str(exc.value)


def test_action_timeout_below_thirty_seconds_is_rejected():
    # WHEN a pre-action may only run for 5 seconds
    with pytest.raises(ValidationError) as exc:
        WaveAction.model_validate({"name": "drain", "documentName": "AWS-RunShellScript", "timeoutSeconds": 5})

    # THEN
    assert "timeoutSeconds" in str(exc.value)


def test_approval_gate_timeout_must_be_at_least_one_minute():
    # WHEN / THEN
    with pytest.raises(ValidationError) as exc:
        ApprovalGate.model_validate({"timeoutMinutes": 0})
    assert "timeoutMinutes" in str(exc.value)


# --- protection groups ------------------------------------------------------------------------------------


def test_group_with_explicit_server_ids_is_accepted():
    # WHEN / THEN
    group = ProtectionGroup.model_validate({"id": "pg", "name": "db", "sourceServerIds": [S1, S3]})
    assert group.source_server_ids == [S1, S3]
    assert group.region == "us-east-1"


def test_group_with_both_server_ids_and_tags_is_rejected():
    # WHEN a group sets both selections
    with pytest.raises(ValidationError) as exc:
        ProtectionGroup.model_validate(
            {
                "id": "pg",
                "name": "db",
                "sourceServerIds": [S1],
                "serverSelectionTags": [{"key": "Tier", "value": "db"}],
            }
        )

    # THEN the message says which fields are exclusive
    assert "set exactly one of sourceServerIds or serverSelectionTags" in str(exc.value)


def test_group_with_neither_server_ids_nor_tags_is_rejected():
    # WHEN a group selects nothing
    with pytest.raises(ValidationError) as exc:
        ProtectionGroup.model_validate({"id": "pg", "name": "db"})

    # THEN
    assert "set exactly one of sourceServerIds or serverSelectionTags" in str(exc.value)


def test_group_with_an_empty_tag_list_counts_as_no_selection():
    # WHEN the tag selector is an empty list
    with pytest.raises(ValidationError) as exc:
        ProtectionGroup.model_validate({"id": "pg", "name": "db", "serverSelectionTags": []})

    # THEN it is rejected (an empty AND would select every server)
    assert "set exactly one of sourceServerIds or serverSelectionTags" in str(exc.value)


def test_group_with_an_empty_server_id_list_is_rejected():
    # WHEN / THEN
    with pytest.raises(ValidationError) as exc:
        ProtectionGroup.model_validate({"id": "pg", "name": "db", "sourceServerIds": []})
    assert "sourceServerIds" in str(exc.value)
    assert "must list at least one source server id" in str(exc.value)


@pytest.mark.parametrize(
    "bad_id",
    [
        "s-123",  # too short
        "s-1234567890abcdef01",  # 18 characters
        "i-1234567890abcdef0",  # an EC2 instance id
        "s-1234567890abcdef!",  # not alphanumeric
        "S-1234567890abcdef0",  # prefix is case-sensitive
    ],
)
def test_group_rejects_malformed_source_server_ids_naming_them(bad_id):
    # WHEN a group lists a malformed id next to a good one
    with pytest.raises(ValidationError) as exc:
        ProtectionGroup.model_validate({"id": "pg", "name": "db", "sourceServerIds": [S1, bad_id]})

    # THEN the error names the field and only the bad id
    message = str(exc.value)
    assert "sourceServerIds" in message
    assert f"not DRS source server ids (s- + 17 alphanumerics): {bad_id}" in message


def test_group_rejects_duplicate_source_server_ids():
    # WHEN / THEN
    with pytest.raises(ValidationError) as exc:
        ProtectionGroup.model_validate({"id": "pg", "name": "db", "sourceServerIds": [S1, S2, S1]})
    assert f"duplicate source server ids: {S1}" in str(exc.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("accountId", "12345"), ("region", "US-EAST-1"), ("region", "mars")],
)
def test_group_account_and_region_are_validated(field, value):
    # WHEN / THEN
    with pytest.raises(ValidationError) as exc:
        ProtectionGroup.model_validate({"id": "pg", "name": "db", "sourceServerIds": [S1], field: value})
    assert field in str(exc.value)


# --- tag selection ------------------------------------------------------------------------------------------


def test_tag_selector_matches_when_every_tag_matches():
    # GIVEN a selector on two tags
    group = tag_group(("Tier", "db"), ("Env", "prod"))

    # WHEN / THEN a server with both (and more) tags is selected
    assert group.selects({"Tier": "db", "Env": "prod", "Owner": "team-a"})


def test_tag_selector_is_and_not_or():
    # GIVEN a selector on two tags
    group = tag_group(("Tier", "db"), ("Env", "prod"))

    # WHEN / THEN a server with only one of them is not selected
    assert not group.selects({"Tier": "db"})
    assert not group.selects({"Env": "prod"})


def test_tag_selector_rejects_a_different_value():
    # GIVEN
    group = tag_group(("Tier", "db"))

    # WHEN / THEN
    assert not group.selects({"Tier": "web"})


def test_tag_selector_is_case_insensitive_on_keys_and_values():
    # GIVEN a selector written in mixed case
    group = tag_group(("Tier", "DataBase"))

    # WHEN / THEN the server's tags match whatever their case
    assert group.selects({"TIER": "database"})
    assert group.selects({"tier": "DATABASE"})


def test_tag_selector_trims_whitespace_on_both_sides():
    # GIVEN a selector with padded key and value
    group = tag_group(("  Tier ", " db  "))

    # WHEN / THEN a server whose tags are padded differently matches
    assert group.selects({"Tier": "db"})
    assert group.selects({" Tier\t": "\tdb "})


def test_tag_selector_does_not_match_a_server_without_tags():
    # GIVEN
    group = tag_group(("Tier", "db"))

    # WHEN / THEN
    assert not group.selects({})


def test_normalise_tag_folds_case_and_trims():
    # WHEN / THEN
    assert normalise_tag("  Straße ") == "strasse"


# --- plan documents ------------------------------------------------------------------------------------------


def test_plan_document_rejects_a_wave_referencing_an_unknown_group():
    # GIVEN a plan whose second wave uses a group the document does not define
    document = {
        "protectionGroups": [{"id": "pg-db", "name": "db", "sourceServerIds": [S1]}],
        "recoveryPlan": wire_plan([wire_wave("a"), wire_wave("b", groups=["pg-db", "pg-missing"])]),
    }

    # WHEN it is validated
    with pytest.raises(ValidationError) as exc:
        PlanDocument.model_validate(document)

    # THEN the error names the path to the field and the unknown group
    assert "recoveryPlan.waves[1].protectionGroupIds: unknown protection groups: pg-missing" in str(exc.value)


def test_plan_document_rejects_duplicate_group_ids():
    # GIVEN two groups with one id
    document = {
        "protectionGroups": [
            {"id": "pg-db", "name": "db", "sourceServerIds": [S1]},
            {"id": "pg-db", "name": "db again", "sourceServerIds": [S2]},
        ],
        "recoveryPlan": wire_plan([wire_wave("a")]),
    }

    # WHEN / THEN
    with pytest.raises(ValidationError) as exc:
        PlanDocument.model_validate(document)
    assert "protectionGroups: duplicate ids: pg-db" in str(exc.value)


def test_check_groups_accepts_known_groups():
    # GIVEN
    plan = RecoveryPlan.model_validate(wire_plan([wire_wave("a", groups=["pg-db", "pg-web"])]))

    # WHEN / THEN no error
    plan.check_groups({"pg-db", "pg-web", "pg-unused"})
