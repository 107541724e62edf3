"""Who may do what: the role/permission matrix and how a role is read from Cognito groups."""

from __future__ import annotations

import pytest

from drwave.control.errors import Forbidden
from drwave.control.roles import Caller, Permission, Role, role_from_groups

READ_ONLY = {Permission.READ}
OPERATOR = {Permission.READ, Permission.START_DRILL, Permission.CONTROL, Permission.TERMINATE_DRILL}
ALLOWED: dict[Role, set[Permission]] = {Role.VIEWER: READ_ONLY, Role.OPERATOR: OPERATOR, Role.ADMIN: set(Permission)}
MATRIX = [(role, permission) for role in Role for permission in Permission]


@pytest.mark.parametrize(("role", "permission"), MATRIX, ids=[f"{r.value}-{p.name}" for r, p in MATRIX])
def test_each_role_is_granted_exactly_its_permissions(role: Role, permission: Permission) -> None:
    # GIVEN a caller with the role
    caller = Caller("someone@example.com", role)
    # WHEN asking whether it may act / requiring the permission
    allowed = permission in ALLOWED[role]
    # THEN `may` and `require` agree with the matrix
    assert caller.may(permission) is allowed
    if allowed:
        caller.require(permission)
    else:
        with pytest.raises(Forbidden):
            caller.require(permission)


@pytest.mark.parametrize(
    "permission",
    [Permission.START_RECOVERY, Permission.FORCE, Permission.MANAGE, Permission.TERMINATE_RECOVERY],
)
def test_operator_may_not_start_a_recovery_force_manage_or_terminate_a_recovery(permission: Permission) -> None:
    # GIVEN an operator WHEN it requires a recovery-grade permission THEN it is refused
    with pytest.raises(Forbidden):
        Caller("op@example.com", Role.OPERATOR).require(permission)


def test_viewer_reads_only() -> None:
    # GIVEN a viewer THEN reading is its only permission
    viewer = Caller("v@example.com", Role.VIEWER)
    assert [p for p in Permission if viewer.may(p)] == [Permission.READ]


def test_refusal_names_the_role_and_what_it_may_not_do() -> None:
    # GIVEN a viewer WHEN it tries to start a drill
    with pytest.raises(Forbidden) as refused:
        Caller("v@example.com", Role.VIEWER).require(Permission.START_DRILL)
    # THEN the 403 envelope says who and what
    assert refused.value.status == 403
    assert refused.value.body() == {"error": "FORBIDDEN", "message": "role 'viewer' may not start a DRILL"}


@pytest.mark.parametrize(
    ("groups", "role"),
    [
        (["Admin"], Role.ADMIN),
        (["OPERATOR"], Role.OPERATOR),
        ([" viewer "], Role.VIEWER),
        (["viewer", "operator"], Role.OPERATOR),
        (["viewer", "ADMIN", "operator"], Role.ADMIN),
        (["auditors", "viewer"], Role.VIEWER),
    ],
)
def test_role_from_groups_is_case_insensitive_and_the_highest_wins(groups: list[str], role: Role) -> None:
    # GIVEN a user's Cognito groups WHEN reading the role THEN the most privileged known group decides
    assert role_from_groups(groups) is role


@pytest.mark.parametrize("groups", [[], ["auditors"], ["administrators", "ops"], [""]])
def test_role_from_groups_without_a_known_group_is_none(groups: list[str]) -> None:
    # GIVEN only unknown groups WHEN reading the role THEN there is none
    assert role_from_groups(groups) is None
