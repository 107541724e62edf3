"""Protection groups and recovery plans: what an operator defines before any execution."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictInt, StringConstraints, field_validator, model_validator

from drwave.models import limits
from drwave.models.base import Model
from drwave.models.launch import LaunchSettings
from drwave.models.limits import Name, OptionalName, TagKey, TagValue, Text, duplicates, listing

SOURCE_SERVER_ID = re.compile(r"^s-[0-9a-zA-Z]{17}$")
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
# An AWS Region name: partition prefix, direction, number (us-east-1, eu-central-2, us-gov-west-1, ap-southeast-7).
REGION_PATTERN = (
    r"^(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov|us-iso|us-isob|us-isof|eu-isoe|eusc)-"
    r"(north|south|east|west|central|northeast|southeast|northwest|southwest|de)(-east|-west)?-[1-9]\d?$"
)
Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]


class ImpactLevel(StrEnum):
    """How a server's launch failure affects its wave."""

    CRITICAL = "CRITICAL"
    OPTIONAL = "OPTIONAL"


class FailurePolicy(StrEnum):
    """What a failure does to the rest of the execution."""

    STOP = "STOP"
    CONTINUE = "CONTINUE"


class ActionType(StrEnum):
    """Kind of SSM document a wave action runs."""

    COMMAND = "COMMAND"
    AUTOMATION = "AUTOMATION"


class ServerSelectionTag(Model):
    """One tag condition; all conditions of a group must match (AND)."""

    key: TagKey
    value: TagValue


def normalise_tag(text: str) -> str:
    """Tag keys and values compare case-insensitively and whitespace-trimmed."""
    return text.strip().casefold()


class ProtectionGroup(Model):
    """A named set of DRS source servers, by explicit ids or by tag selector."""

    id: Identifier
    name: Name
    account_id: AccountId | None = None
    region: Region = "us-east-1"
    assume_role_name: str | None = Field(default=None, pattern=r"^[\w+=,.@-]{1,64}$")
    source_server_ids: list[str] | None = Field(default=None, max_length=limits.MAX_GROUP_SERVERS)
    server_selection_tags: list[ServerSelectionTag] | None = Field(default=None, max_length=limits.MAX_SELECTION_TAGS)
    launch_settings: LaunchSettings | None = None  # defaults for every server of the group
    server_launch_overrides: dict[str, LaunchSettings] = Field(
        default_factory=dict, max_length=limits.MAX_GROUP_SERVERS
    )  # per source server id

    @field_validator("source_server_ids")
    @classmethod
    def _valid_server_ids(cls, ids: list[str] | None) -> list[str] | None:
        if ids is None:
            return None
        if not ids:
            raise ValueError("must list at least one source server id")
        bad = [i for i in ids if not SOURCE_SERVER_ID.match(i)]
        if bad:
            raise ValueError(f"not DRS source server ids (s- + 17 alphanumerics): {listing(bad)}")
        dupes = duplicates(ids)
        if dupes:
            raise ValueError(f"duplicate source server ids: {listing(dupes)}")
        return ids

    @model_validator(mode="after")
    def _exactly_one_selection(self) -> ProtectionGroup:
        has_ids = self.source_server_ids is not None
        has_tags = bool(self.server_selection_tags)
        if has_ids == has_tags:
            raise ValueError("set exactly one of sourceServerIds or serverSelectionTags")
        bad = [k for k in self.server_launch_overrides if not SOURCE_SERVER_ID.match(k)]
        if bad:
            raise ValueError(f"serverLaunchOverrides: keys must be source server ids: {listing(bad)}")
        if self.source_server_ids is not None:
            members = set(self.source_server_ids)
            strangers = [k for k in self.server_launch_overrides if k not in members]
            if strangers:
                raise ValueError(f"serverLaunchOverrides: servers not in sourceServerIds: {listing(strangers)}")
        return self

    def has_launch_settings(self) -> bool:
        """True when the group sets anything to apply before launch."""
        return bool(self.launch_settings and not self.launch_settings.is_empty()) or any(
            not o.is_empty() for o in self.server_launch_overrides.values()
        )

    def selects(self, tags: dict[str, str]) -> bool:
        """True when a server with these tags matches every selector (AND, case-insensitive, trimmed)."""
        have = {normalise_tag(k): normalise_tag(v) for k, v in tags.items()}
        return all(have.get(normalise_tag(t.key)) == normalise_tag(t.value) for t in self.server_selection_tags or [])


class WaveAction(Model):
    """A pre- or post-wave SSM document run on the wave's recovered instances (or standalone)."""

    name: Identifier
    document_name: str = Field(min_length=3, max_length=128)
    type: ActionType = ActionType.COMMAND
    parameters: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=128)],
        Annotated[
            list[Annotated[str, StringConstraints(max_length=limits.MAX_PARAMETER_VALUE)]],
            Field(max_length=limits.MAX_ACTION_PARAMETERS),
        ],
    ] = Field(default_factory=dict, max_length=limits.MAX_ACTION_PARAMETERS)
    timeout_seconds: StrictInt = Field(default=600, ge=30, le=172800)
    on_failure: FailurePolicy = FailurePolicy.STOP


class ApprovalGate(Model):
    """Pause before a wave until an operator approves, or time out."""

    timeout_minutes: StrictInt = Field(default=60, ge=1, le=10080)
    message: Text = ""


class Wave(Model):
    """A set of protection groups launched together once its dependencies have completed."""

    id: Identifier
    name: OptionalName = ""
    protection_group_ids: list[Identifier] = Field(max_length=limits.MAX_WAVE_GROUPS)
    depends_on: list[Identifier] = Field(default_factory=list, max_length=90)
    pause_before_wave: ApprovalGate | None = None
    pre_actions: list[WaveAction] = Field(default_factory=list, max_length=limits.MAX_WAVE_ACTIONS)
    post_actions: list[WaveAction] = Field(default_factory=list, max_length=limits.MAX_WAVE_ACTIONS)
    default_impact: ImpactLevel = ImpactLevel.CRITICAL
    server_impact: dict[str, ImpactLevel] = Field(default_factory=dict, max_length=limits.MAX_GROUP_SERVERS)
    timeout_minutes: StrictInt = Field(default=240, ge=1, le=10080)
    failure_policy: FailurePolicy = FailurePolicy.STOP
    target_rto_minutes: StrictInt | None = Field(default=None, ge=1, le=10080)  # wave start to end

    @field_validator("protection_group_ids")
    @classmethod
    def _non_empty(cls, ids: list[str]) -> list[str]:
        if not ids:
            raise ValueError("a wave needs at least one protection group")
        if len(set(ids)) != len(ids):
            raise ValueError("lists the same protection group twice")
        return ids

    @field_validator("server_impact")
    @classmethod
    def _impact_keys_are_servers(cls, impact: dict[str, ImpactLevel]) -> dict[str, ImpactLevel]:
        bad = [k for k in impact if not SOURCE_SERVER_ID.match(k)]
        if bad:
            raise ValueError(f"keys must be source server ids: {listing(bad)}")
        return impact

    def impact_of(self, source_server_id: str) -> ImpactLevel:
        """The impact level of one server in this wave."""
        return self.server_impact.get(source_server_id, self.default_impact)

    def actions(self, phase: str) -> list[WaveAction]:
        """The actions of a phase ("pre" or "post")."""
        return self.pre_actions if phase == "pre" else self.post_actions


class RecoveryPlan(Model):
    """Waves forming an acyclic dependency graph."""

    id: Identifier
    name: Name
    description: Text = ""
    # One save writes the header and every changed wave in one DynamoDB transaction (<= 100 items).
    waves: list[Wave] = Field(max_length=90)
    target_rto_minutes: StrictInt | None = Field(default=None, ge=1, le=10080)  # execution start to end
    target_rpo_minutes: StrictInt | None = Field(default=None, ge=0, le=10080)  # data-loss window per server
    # DRILL instances are terminated this long after the drill ends (None: never automatically).
    drill_ttl_minutes: StrictInt | None = Field(default=None, ge=0, le=525600)
    drill_cleanup_notice_minutes: StrictInt | None = Field(default=None, ge=0, le=10080)  # warning before the TTL
    # Drill freshness: a successful DRILL at least this often, else "Drill Overdue" (see docs/events.md).
    drill_every_days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _valid_graph(self) -> RecoveryPlan:
        if not self.waves:
            raise ValueError("waves: a plan needs at least one wave")
        ids = [w.id for w in self.waves]
        dupes = duplicates(ids)
        if dupes:
            raise ValueError(f"waves: duplicate wave ids: {listing(dupes)}")
        known = set(ids)
        for index, wave in enumerate(self.waves):
            unknown = [d for d in wave.depends_on if d not in known]
            if unknown:
                raise ValueError(f"waves[{index}].dependsOn: unknown wave ids: {', '.join(unknown)}")
            if wave.id in wave.depends_on:
                raise ValueError(f"waves[{index}].dependsOn: wave '{wave.id}' depends on itself")
        cycle = find_cycle({w.id: w.depends_on for w in self.waves})
        if cycle:
            raise ValueError(f"waves: dependency cycle: {' -> '.join(cycle)}")
        return self

    def wave(self, wave_id: str) -> Wave:
        """The wave with this id."""
        return next(w for w in self.waves if w.id == wave_id)

    def check_groups(self, group_ids: set[str]) -> None:
        """Raise ValueError naming the first wave that references an unknown protection group."""
        for index, wave in enumerate(self.waves):
            unknown = [g for g in wave.protection_group_ids if g not in group_ids]
            if unknown:
                raise ValueError(f"waves[{index}].protectionGroupIds: unknown protection groups: {', '.join(unknown)}")


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """Return one dependency cycle as a path (first node repeated at the end), or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for dep in edges.get(node, []):
            if colour.get(dep) == grey:
                return [*stack[stack.index(dep) :], dep]
            if colour.get(dep) == white and (found := visit(dep)):
                return found
        stack.pop()
        colour[node] = black
        return None

    for start in edges:
        if colour[start] == white and (found := visit(start)):
            return found
    return None


class PlanDocument(Model):
    """A plan file: the protection groups and the recovery plan that uses them."""

    protection_groups: list[ProtectionGroup] = Field(max_length=limits.MAX_DOCUMENT_GROUPS)
    recovery_plan: RecoveryPlan

    @model_validator(mode="after")
    def _groups_resolve(self) -> PlanDocument:
        ids = [g.id for g in self.protection_groups]
        dupes = duplicates(ids)
        if dupes:
            raise ValueError(f"protectionGroups: duplicate ids: {listing(dupes)}")
        try:
            self.recovery_plan.check_groups(set(ids))
        except ValueError as err:
            raise ValueError(f"recoveryPlan.{err}") from None
        return self
