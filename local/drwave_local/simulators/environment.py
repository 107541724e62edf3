"""The simulated AWS environment a local run happens in: source servers, DRS timings, failures, SSM behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from drwave.models.plan import PlanDocument

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
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Timeline(_Env):
    """Seconds each phase of a server's launch takes."""

    snapshot_seconds: float = Field(default=60, ge=0)
    conversion_seconds: float = Field(default=240, ge=0)
    launch_seconds: float = Field(default=120, ge=0)


class SourceServerSpec(_Env):
    """One simulated DRS source server."""

    id: ServerId
    hostname: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    replication_state: ReplicationState = "CONTINUOUS"
    timeline: Timeline | None = None
    fail_at: Literal["SNAPSHOT", "CONVERSION", "LAUNCH"] | None = None


class ActionSpec(_Env):
    """How a simulated SSM document behaves."""

    duration_seconds: float = Field(default=30, ge=0)
    outcome: Literal["Success", "Failed", "TimedOut", "Hang"] = "Success"


class Environment(_Env):
    """A simulated account+region."""

    account_id: Annotated[str, StringConstraints(pattern=r"^\d{12}$")] = "123456789012"
    region: str = "us-east-1"
    seed: int = 7
    jitter: float = Field(default=0.15, ge=0, lt=1)
    job_start_delay_seconds: float = Field(default=5, ge=0)
    default_timeline: Timeline = Field(default_factory=Timeline)
    source_servers: list[SourceServerSpec]
    actions: dict[str, ActionSpec] = Field(default_factory=dict)

    @field_validator("source_servers")
    @classmethod
    def _unique_ids(cls, servers: list[SourceServerSpec]) -> list[SourceServerSpec]:
        ids = [s.id for s in servers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"source server ids listed more than once: {', '.join(dupes)}")
        return servers


class InputFileError(Exception):
    """A plan or environment file is unreadable or invalid; the message names file, field and reason."""


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputFileError(f"{path}: cannot read: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path}: not UTF-8 text: {err.reason} at byte {err.start}") from err
    except yaml.YAMLError as err:
        raise InputFileError(f"{path}: not valid YAML/JSON: {err}") from err


def _explain(path: Path, err: ValidationError) -> InputFileError:
    lines = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        got = problem.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
        lines.append(f"{path}: {where}: {problem['msg']}{shown}")
    return InputFileError("\n".join(lines))


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
