"""Who may do what: three roles, checked on every route and operation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from drwave.control.errors import Forbidden


class Role(StrEnum):
    """Roles, from least to most privileged (Cognito groups of the same names on AWS)."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


class Permission(StrEnum):
    """What an operation needs."""

    READ = "read"
    START_DRILL = "start a DRILL"
    CONTROL = "pause, resume, cancel or approve an execution"
    TERMINATE_DRILL = "terminate a DRILL's recovery instances"
    START_RECOVERY = "start a RECOVERY"
    TERMINATE_RECOVERY = "terminate a RECOVERY's recovery instances"
    FORCE = "force an execution past a failing pre-flight check"
    MANAGE = "create, change or delete groups, plans and target accounts"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.START_DRILL, Permission.CONTROL, Permission.TERMINATE_DRILL}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Caller:
    """The authenticated identity behind a request and its role."""

    identity: str
    role: Role

    def may(self, permission: Permission) -> bool:
        """True if the caller's role grants the permission."""
        return permission in GRANTS[self.role]

    def require(self, permission: Permission) -> None:
        """Raise Forbidden naming the role and what it may not do."""
        if not self.may(permission):
            raise Forbidden(f"role {self.role.value!r} may not {permission.value}")


def role_from_groups(groups: Iterable[str]) -> Role | None:
    """The most privileged role among a user's groups (names compared case-insensitively), or None."""
    known = {g.strip().casefold() for g in groups}
    return next((r for r in (Role.ADMIN, Role.OPERATOR, Role.VIEWER) if r.value in known), None)
