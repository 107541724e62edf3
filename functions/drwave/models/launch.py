"""Launch settings: how DRS launches a recovered server (DRS launch configuration + EC2 launch template fields)."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictBool, StringConstraints, field_validator

from drwave.models import limits
from drwave.models.base import Model

SubnetId = Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$")]
SecurityGroupId = Annotated[str, StringConstraints(pattern=r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$")]
# EC2 instance types are family[generation][attributes].size, e.g. m5.large, c7gn.16xlarge, u-6tb1.metal.
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
# Fields written with DRS UpdateLaunchConfiguration; the rest go into the EC2 launch template.
DRS_FIELDS = (
    "launch_disposition",
    "target_instance_type_right_sizing_method",
    "copy_private_ip",
    "copy_tags",
    "licensing",
    "post_launch_enabled",
    "recovery_mode",
)
EC2_FIELDS = ("subnet_id", "security_group_ids", "instance_type", "private_ip_address", "tags")


class LaunchDisposition(StrEnum):
    """DRS LaunchDisposition: whether the recovered instance is left running."""

    STOPPED = "STOPPED"
    STARTED = "STARTED"


class RightSizingMethod(StrEnum):
    """DRS TargetInstanceTypeRightSizingMethod; only NONE lets the launch template's instance type stand."""

    NONE = "NONE"
    BASIC = "BASIC"
    IN_AWS = "IN_AWS"


class RecoveryMode(StrEnum):
    """DRS RecoveryMode."""

    FAST = "FAST"
    OPTIMAL = "OPTIMAL"


class Licensing(Model):
    """DRS Licensing: bring your own OS licence."""

    os_byol: StrictBool


class LaunchSettings(Model):
    """Launch settings of a group (defaults) or of one server (override); unset fields leave AWS's value alone."""

    # DRS UpdateLaunchConfiguration (names and enums from the botocore `drs` model)
    launch_disposition: LaunchDisposition | None = None
    target_instance_type_right_sizing_method: RightSizingMethod | None = None
    copy_private_ip: StrictBool | None = None
    copy_tags: StrictBool | None = None
    licensing: Licensing | None = None
    post_launch_enabled: StrictBool | None = None
    recovery_mode: RecoveryMode | None = None
    # EC2 launch template of the source server (DRS launches from its default version)
    subnet_id: SubnetId | None = None
    security_group_ids: list[SecurityGroupId] | None = Field(default=None, max_length=5)
    instance_type: str | None = Field(default=None, max_length=64)
    private_ip_address: str | None = Field(default=None, max_length=15)
    tags: dict[str, str] | None = Field(default=None, max_length=limits.MAX_TAGS)

    @field_validator("security_group_ids")
    @classmethod
    def _distinct_groups(cls, ids: list[str] | None) -> list[str] | None:
        if ids is not None and not ids:
            raise ValueError("must list at least one security group id (omit the field to keep the template's)")
        if ids and len(set(ids)) != len(ids):
            raise ValueError("lists the same security group twice")
        return ids

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str | None) -> str | None:
        if value is not None and not INSTANCE_TYPE.match(value):
            raise ValueError(f"not an EC2 instance type (e.g. m5.large): {value!r}")
        return value

    @field_validator("private_ip_address")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError(f"not an IPv4 address: {value!r}") from None
        return value

    @field_validator("tags")
    @classmethod
    def _ec2_tags(cls, tags: dict[str, str] | None) -> dict[str, str] | None:
        for key, value in (tags or {}).items():
            if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r} must be 1-128 characters and not start with 'aws:'")
            if len(value) > 256:
                raise ValueError(f"tag {key!r}: value longer than 256 characters")
        return tags

    def is_empty(self) -> bool:
        """True when no field is set: nothing to apply."""
        return not self.model_dump(exclude_none=True)

    def drs_fields(self) -> dict[str, object]:
        """The set DRS launch-configuration fields, by python name."""
        return {f: getattr(self, f) for f in DRS_FIELDS if getattr(self, f) is not None}

    def ec2_fields(self) -> dict[str, object]:
        """The set EC2 launch-template fields, by python name."""
        return {f: getattr(self, f) for f in EC2_FIELDS if getattr(self, f) is not None}
