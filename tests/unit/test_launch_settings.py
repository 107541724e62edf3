"""Launch settings and target accounts, pure: models, merging, pre-flight validation, and the changes to write."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drwave.core.launch import (
    effective_launch_settings,
    group_for_server,
    launch_configuration_changes,
    launch_template_changes,
    validate_launch_settings,
)
from drwave.models.accounts import TargetAccount
from drwave.models.launch import LaunchSettings
from drwave.models.plan import ProtectionGroup

S1, S2, S3 = "s-00000000000000001", "s-00000000000000002", "s-00000000000000003"
SUBNET = "subnet-0123456789abcdef0"
SG = "sg-0123456789abcdef0"


def group(
    defaults: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None, **kw: Any
) -> ProtectionGroup:
    doc: dict[str, Any] = {"id": "pg-web", "name": "Web", "sourceServerIds": [S1, S2, S3], **kw}
    if defaults is not None:
        doc["launchSettings"] = defaults
    if overrides is not None:
        doc["serverLaunchOverrides"] = overrides
    return ProtectionGroup.model_validate(doc)


def problem_fields(err: ValidationError) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in err.errors()]


# --- models ----------------------------------------------------------------------------------------------------


def test_group_reads_launch_settings_and_overrides_in_camel_case_and_writes_them_back():
    # GIVEN a group document with defaults and one override
    g = group(
        {"copyPrivateIp": False, "licensing": {"osByol": True}, "subnetId": SUBNET}, {S1: {"instanceType": "m5.large"}}
    )
    # THEN they round-trip under their camelCase names
    wire = g.to_wire()
    assert wire["launchSettings"] == {"copyPrivateIp": False, "licensing": {"osByol": True}, "subnetId": SUBNET}
    assert wire["serverLaunchOverrides"] == {S1: {"instanceType": "m5.large"}}


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"subnetId": "subnet-xyz"}, "subnetId"),
        ({"securityGroupIds": ["sg-12"]}, "securityGroupIds"),
        ({"securityGroupIds": [SG, SG]}, "securityGroupIds"),
        ({"instanceType": "large"}, "instanceType"),
        ({"privateIpAddress": "10.0.0.300"}, "privateIpAddress"),
        ({"launchDisposition": "RUNNING"}, "launchDisposition"),
        ({"targetInstanceTypeRightSizingMethod": "SMART"}, "targetInstanceTypeRightSizingMethod"),
        ({"tags": {"aws:reserved": "x"}}, "tags"),
        ({"copyPrivateIP": True}, "copyPrivateIP"),
    ],
)
def test_malformed_launch_settings_are_rejected_naming_the_field(settings, field):
    # WHEN a group carries a malformed setting THEN validation fails and the error names that field
    with pytest.raises(ValidationError) as err:
        group(settings)
    assert any(field in p for p in problem_fields(err.value)), problem_fields(err.value)


def test_overrides_must_be_keyed_by_servers_the_group_lists():
    # WHEN an override names a server that is not in sourceServerIds, or no server id at all
    with pytest.raises(ValidationError, match=r"serverLaunchOverrides: servers not in sourceServerIds: s-0{16}9"):
        group(None, {"s-00000000000000009": {"copyTags": True}})
    with pytest.raises(ValidationError, match=r"serverLaunchOverrides: keys must be source server ids: web-01"):
        group(None, {"web-01": {"copyTags": True}})


def test_a_tag_selected_group_may_override_any_well_formed_server_id():
    # GIVEN a tag-selected group: its servers are known only at run time
    g = ProtectionGroup.model_validate(
        {
            "id": "pg-app",
            "name": "App",
            "serverSelectionTags": [{"key": "Tier", "value": "app"}],
            "serverLaunchOverrides": {S3: {"copyTags": True}},
        }
    )
    # THEN the override is accepted
    assert g.server_launch_overrides[S3].copy_tags is True


# --- merging ---------------------------------------------------------------------------------------------------


def test_override_fields_win_over_group_defaults_and_tags_merge_key_by_key():
    # GIVEN group defaults and an override for S1
    g = group(
        {"copyTags": True, "instanceType": "m5.large", "subnetId": SUBNET, "tags": {"tier": "web", "owner": "ops"}},
        {S1: {"instanceType": "m5.xlarge", "copyTags": False, "tags": {"owner": "dba"}}},
    )
    # WHEN the effective settings are computed
    s1, s2 = effective_launch_settings(g, S1), effective_launch_settings(g, S2)
    # THEN S1 gets its override's values, keeps the defaults it does not override, and merged tags
    assert (s1.instance_type, s1.copy_tags, s1.subnet_id) == ("m5.xlarge", False, SUBNET)
    assert s1.tags == {"tier": "web", "owner": "dba"}
    # AND a server without override gets the defaults unchanged
    assert (s2.instance_type, s2.copy_tags, s2.tags) == ("m5.large", True, {"tier": "web", "owner": "ops"})


def test_a_group_without_settings_yields_empty_settings():
    assert effective_launch_settings(group(), S1).is_empty()
    assert not group().has_launch_settings()


def test_a_server_belongs_to_the_first_group_that_lists_or_selects_it():
    # GIVEN a tag-selected group listed before an explicit one that also holds S1
    tagged = ProtectionGroup.model_validate(
        {"id": "pg-tag", "name": "T", "serverSelectionTags": [{"key": "Tier", "value": "web"}]}
    )
    explicit = group({"copyTags": True})
    # THEN the tags decide: a matching server is the tag group's, another one the explicit group's
    assert group_for_server([tagged, explicit], S1, {"tier": " WEB "}) is tagged
    assert group_for_server([tagged, explicit], S1, {"tier": "db"}) is explicit
    assert group_for_server([tagged, explicit], "s-00000000000000042", {}) is None


# --- pre-flight validation ---------------------------------------------------------------------------------------


def test_valid_settings_have_no_problems():
    g = group(
        {"subnetId": SUBNET, "securityGroupIds": [SG], "instanceType": "c6i.large"}
        | {"targetInstanceTypeRightSizingMethod": "NONE"},
        {S1: {"privateIpAddress": "10.0.1.10"}, S2: {"privateIpAddress": "10.0.1.11"}},
    )
    assert validate_launch_settings(g, [S1, S2, S3]) == []


def test_validation_reports_every_problem_with_the_fields_and_servers_involved():
    # GIVEN defaults that give every server one private IP, security groups without a subnet, and an instance
    # type that DRS right-sizing would override; and an override for a server the group will not launch
    g = ProtectionGroup.model_validate(
        {
            "id": "pg-app",
            "name": "App",
            "serverSelectionTags": [{"key": "Tier", "value": "app"}],
            "launchSettings": {"securityGroupIds": [SG], "privateIpAddress": "10.0.0.5", "instanceType": "m5.large"},
            "serverLaunchOverrides": {"s-00000000000000009": {"copyTags": True}},
        }
    )
    # WHEN it is validated for the servers the selector matches
    problems = validate_launch_settings(g, [S1, S2])
    # THEN each problem is listed once, naming the field and the servers
    assert problems == [
        "serverLaunchOverrides: not servers of group pg-app: s-00000000000000009",
        f"securityGroupIds: set without subnetId (security groups belong to the subnet's VPC) (servers: {S1}, {S2})",
        f"privateIpAddress: set without subnetId (the address must lie in a known subnet) (servers: {S1}, {S2})",
        "instanceType: needs targetInstanceTypeRightSizingMethod NONE (DRS right-sizing otherwise picks the type)"
        f" (servers: {S1}, {S2})",
        f"privateIpAddress: 10.0.0.5 is set for more than one server: {S1}, {S2}",
    ]


def test_a_private_ip_with_copy_private_ip_is_a_conflict():
    g = group({"subnetId": SUBNET, "copyPrivateIp": True}, {S1: {"privateIpAddress": "10.0.0.5"}})
    assert validate_launch_settings(g, [S1, S2, S3]) == [
        f"privateIpAddress: conflicts with copyPrivateIp (DRS would copy the source server's IP) (servers: {S1})"
    ]


# --- what to write -----------------------------------------------------------------------------------------------

CURRENT_CONFIG = {
    "sourceServerID": S1,
    "ec2LaunchTemplateID": "lt-00000000000000001",
    "launchDisposition": "STARTED",
    "targetInstanceTypeRightSizingMethod": "BASIC",
    "copyPrivateIp": False,
    "copyTags": False,
    "licensing": {"osByol": True},
    "postLaunchEnabled": False,
}


def test_only_drs_fields_that_differ_are_updated():
    settings = LaunchSettings.model_validate(
        {"copyPrivateIp": False, "copyTags": True, "licensing": {"osByol": False}, "subnetId": SUBNET}
    )
    assert launch_configuration_changes(CURRENT_CONFIG, settings) == {"copyTags": True, "licensing": {"osByol": False}}
    assert (
        launch_configuration_changes({**CURRENT_CONFIG, "copyTags": True, "licensing": {"osByol": False}}, settings)
        == {}
    )


def test_launch_template_changes_keep_the_rest_of_the_primary_interface_and_other_tags():
    # GIVEN a template whose primary interface and instance tags already carry other values
    current = {
        "InstanceType": "t3.small",
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": False, "PrivateIpAddresses": [{}]}],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "keep", "Value": "me"}]}],
    }
    settings = LaunchSettings.model_validate(
        {"subnetId": SUBNET, "securityGroupIds": [SG], "privateIpAddress": "10.0.0.5", "instanceType": "m5.large"}
        | {"tags": {"dr": "yes"}}
    )
    # WHEN the changes are computed
    changes = launch_template_changes(current, settings)
    # THEN the interface keeps its other fields, uses one private-address form, and tags are merged
    assert changes == {
        "InstanceType": "m5.large",
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "AssociatePublicIpAddress": False,
                "SubnetId": SUBNET,
                "Groups": [SG],
                "PrivateIpAddress": "10.0.0.5",
            }
        ],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": "keep", "Value": "me"}, {"Key": "dr", "Value": "yes"}]}
        ],
    }
    # AND a template already as wanted needs no new version
    assert launch_template_changes({**current, **changes}, settings) == {}


# --- target accounts ---------------------------------------------------------------------------------------------


def test_target_account_role_defaults_to_the_stack_role_name_in_that_account():
    account = TargetAccount.model_validate({"accountId": "222233334444", "name": "Prod", "regions": ["us-east-1"]})
    assert account.role("drwave-drs-execution") == "arn:aws:iam::222233334444:role/drwave-drs-execution"
    named = account.model_copy(update={"role_name": "dr-role"})
    assert named.role("drwave-drs-execution") == "arn:aws:iam::222233334444:role/dr-role"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"accountId": "2222"}, "accountId"),
        ({"regions": []}, "regions"),
        ({"regions": ["us-east-1", "us-east-1"]}, "regions"),
        ({"roleName": "bad role"}, "roleName"),
        ({"roleArn": "arn:aws:iam::999988887777:role/x"}, "roleArn: names account 999988887777"),
        ({"roleName": "a", "roleArn": "arn:aws:iam::222233334444:role/a"}, "roleName, roleArn"),
        ({"externalId": "x"}, "externalId"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_target_accounts_are_rejected_naming_the_field(doc, expected):
    base = {"accountId": "222233334444", "name": "Prod", "regions": ["us-east-1"]}
    with pytest.raises(ValidationError) as err:
        TargetAccount.model_validate(base | doc)
    assert any(expected in p for p in problem_fields(err.value)), problem_fields(err.value)
