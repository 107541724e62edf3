"""Shared pydantic configuration: camelCase on the wire, strict about unknown fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a timezone (ISO 8601 ending in Z)")
    return to_millis(value.astimezone(UTC))


def to_millis(value: datetime) -> datetime:
    """The instant as stored: whole milliseconds, so a model in memory equals the same model read back."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def iso_z(value: datetime) -> str:
    """Format a timestamp the way AWS does: ISO 8601, UTC, ending in Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# Every timestamp we store or publish is UTC and serialised with a trailing Z.
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc), PlainSerializer(iso_z, return_type=str)]


class Model(BaseModel):
    """Base for every drwave model: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        allow_inf_nan=False,  # NaN and Infinity are never a meaningful duration, count or probability
        validate_assignment=False,
        frozen=False,
        # Cold start: a model's validator and serializer are built when it is first used, not at import, so a
        # function pays only for the models it touches (JSON Schema generation builds them the same way).
        defer_build=True,
    )

    def to_wire(self) -> dict:
        """JSON-compatible dict with camelCase keys."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
