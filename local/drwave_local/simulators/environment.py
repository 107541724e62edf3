"""The simulated AWS environment a local run happens in: source servers, DRS timings, failures, SSM behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

from drwave.core.launch import validate_launch_settings
from drwave.models.limits import MAX_INT_DIGITS, MAX_JSON_DEPTH, SHOWN, duplicates, listing
from drwave.models.plan import PlanDocument, Region

ServerId = Annotated[str, StringConstraints(pattern=r"^s-[0-9a-zA-Z]{17}$")]
ReplicationState = Literal[
    "STOPPED",
    "INITIATING",
    "INITIAL_SYNC",
    "BACKLOG",
    "CREATING_SNAPSHOT",
    "CONTINUOUS",
    "PAUSED",
    "RESCAN",
    "STALLED",
    "DISCONNECTED",
]


class _Env(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", allow_inf_nan=False)


class Timeline(_Env):
    """Seconds each phase of a server's launch takes."""

    snapshot_seconds: float = Field(default=60, ge=0)
    conversion_seconds: float = Field(default=240, ge=0)
    launch_seconds: float = Field(default=120, ge=0)


class Snapshots(_Env):
    """A server's point-in-time snapshot cadence (DRS keeps PIT snapshots of continuously replicated servers)."""

    cadence_minutes: float = Field(default=10, gt=0, le=1440)
    # How far before the simulation's start the snapshots reach; 0: the server has none before the start.
    history_minutes: float = Field(default=1440, ge=0, le=7 * 1440)


class SourceServerSpec(_Env):
    """One simulated DRS source server."""

    id: ServerId
    hostname: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    replication_state: ReplicationState = "CONTINUOUS"
    timeline: Timeline | None = None
    fail_at: Literal["SNAPSHOT", "CONVERSION", "LAUNCH"] | None = None
    snapshots: Snapshots | None = None  # None: the environment's


class ActionSpec(_Env):
    """How a simulated SSM document behaves."""

    duration_seconds: float = Field(default=30, ge=0)
    outcome: Literal["Success", "Failed", "TimedOut", "Hang"] = "Success"


class Environment(_Env):
    """A simulated account+region."""

    account_id: Annotated[str, StringConstraints(pattern=r"^\d{12}$")] = "123456789012"
    region: Region = "us-east-1"
    seed: StrictInt = 7
    jitter: float = Field(default=0.15, ge=0, lt=1)
    job_start_delay_seconds: float = Field(default=5, ge=0)
    default_timeline: Timeline = Field(default_factory=Timeline)
    snapshots: Snapshots = Field(default_factory=Snapshots)
    source_servers: list[SourceServerSpec]
    actions: dict[str, ActionSpec] = Field(default_factory=dict)

    @field_validator("source_servers")
    @classmethod
    def _unique_ids(cls, servers: list[SourceServerSpec]) -> list[SourceServerSpec]:
        dupes = duplicates(s.id for s in servers)
        if dupes:
            raise ValueError(f"source server ids listed more than once: {listing(dupes)}")
        return servers


class InputFileError(Exception):
    """A plan or environment file is unreadable or invalid; the message names file, field and reason."""


class StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses what a definition never needs: duplicate keys (the last would silently win),
    integers of more than MAX_INT_DIGITS digits and nesting deeper than MAX_JSON_DEPTH levels."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Count the nesting as the composer descends (it recurses once per level)."""
        self._depth += 1
        try:
            if self._depth > MAX_JSON_DEPTH:
                mark = self.peek_event().start_mark
                raise ConstructorError(None, None, f"nests more than {MAX_JSON_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A mapping, refusing a key written twice (merge keys `<<` may still be overridden)."""
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    duplicate = f"duplicate key {key_node.value!r}"
                    raise ConstructorError("while reading a mapping", node.start_mark, duplicate, key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _bounded_int(loader: StrictLoader, node: ScalarNode) -> Any:
    digits = str(node.value).replace("_", "").lstrip("+-")
    if len(digits) > MAX_INT_DIGITS:
        raise ConstructorError(None, None, f"an integer of {len(digits)} digits is out of range", node.start_mark)
    return loader.construct_yaml_int(node)


StrictLoader.add_constructor("tag:yaml.org,2002:int", _bounded_int)


def load_yaml_text(text: str) -> Any:
    """YAML or JSON text through StrictLoader (yaml.YAMLError when it is not acceptable)."""
    return yaml.load(text, Loader=StrictLoader)


def _load_yaml(path: Path) -> Any:
    try:
        return load_yaml_text(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputFileError(f"{path}: cannot read: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path}: not UTF-8 text: {err.reason} at byte {err.start}") from err
    except yaml.YAMLError as err:
        raise InputFileError(f"{path}: not valid YAML/JSON: {err}") from err


def _explain(path: Path, err: ValidationError) -> InputFileError:
    lines = []
    problems = err.errors()
    for problem in problems[:SHOWN]:  # one screen: the first ten and a count
        where = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        got = problem.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
        lines.append(f"{path}: {where}: {str(problem['msg']).removeprefix('Value error, ')}{shown[:200]}")
    if len(problems) > SHOWN:
        lines.append(f"{path}: and {len(problems) - SHOWN} more problems")
    return InputFileError("\n".join(lines))


def problems_before_run(path: Path, document: PlanDocument, environment: Environment) -> InputFileError | None:
    """What would only show once the rehearsal runs, found before it: plan servers the environment does not
    simulate (an empty console otherwise) and launch settings that cannot apply to the servers they select."""
    known = {s.id for s in environment.source_servers}
    lines = []
    for index, group in enumerate(document.protection_groups):
        where = f"{path}: protectionGroups.{index}"
        if "region" in group.model_fields_set and group.region != environment.region:
            lines.append(
                f"{where}.region: {group.region} is not the simulated environment's region {environment.region}"
            )
        if group.source_server_ids is not None:
            members = group.source_server_ids
            missing = [s for s in members if s not in known]
            if missing:
                lines.append(f"{where}.sourceServerIds: not in the environment: {listing(missing)}")
        else:
            members = [s.id for s in environment.source_servers if group.selects(s.tags)]
            if not members:
                lines.append(f"{where}.serverSelectionTags: select no server of the environment")
        if group.has_launch_settings():
            lines.extend(f"{where}.{problem}" for problem in validate_launch_settings(group, members))
    if not lines:
        return None
    more = [f"{path}: and {len(lines) - SHOWN} more problems"] if len(lines) > SHOWN else []
    return InputFileError("\n".join(lines[:SHOWN] + more))


def assume_environment_region(document: PlanDocument, environment: Environment) -> list[str]:
    """Groups that name no region run in the environment's: set it, and say so (one line per group)."""
    notes = []
    for group in document.protection_groups:
        if "region" not in group.model_fields_set:
            group.region = environment.region
            notes.append(f"protection group {group.id}: no region given; using the environment's {environment.region}")
    return notes


def load_plan_document(path: Path) -> PlanDocument:
    """Read and validate a plan file (protection groups + recovery plan)."""
    try:
        return PlanDocument.model_validate(_load_yaml(path))
    except ValidationError as err:
        raise _explain(path, err) from None


def load_environment(path: Path) -> Environment:
    """Read and validate a simulated environment file."""
    try:
        return Environment.model_validate(_load_yaml(path))
    except ValidationError as err:
        raise _explain(path, err) from None
