"""Target accounts: other AWS accounts whose DRS source servers drwave may recover, and how to act in them."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from drwave.models import limits
from drwave.models.base import Model
from drwave.models.limits import Name, duplicates, listing
from drwave.models.plan import AccountId, Region

ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


class TargetAccount(Model):
    """A registered target account: the role drwave assumes there (name or full ARN) and the regions it may use."""

    account_id: AccountId
    name: Name
    role_name: str | None = Field(default=None, max_length=64)  # None (and no roleArn): the stack's default
    role_arn: str | None = Field(default=None, max_length=limits.MAX_ARN)
    external_id: str | None = Field(default=None, max_length=1224)
    regions: list[Region] = Field(min_length=1, max_length=limits.MAX_REGIONS)

    @field_validator("role_name")
    @classmethod
    def _role_name(cls, value: str | None) -> str | None:
        if value is not None and not ROLE_NAME.match(value):
            raise ValueError(f"not an IAM role name (1-64 of letters, digits, +=,.@_-): {value!r}")
        return value

    @field_validator("external_id")
    @classmethod
    def _external_id(cls, value: str | None) -> str | None:
        if value is not None and not EXTERNAL_ID.match(value):
            raise ValueError("must be 2-1224 characters of letters, digits and +=,.@:/-_")
        return value

    @field_validator("regions")
    @classmethod
    def _distinct_regions(cls, regions: list[str]) -> list[str]:
        dupes = duplicates(regions)
        if dupes:
            raise ValueError(f"duplicate regions: {listing(dupes)}")
        return regions

    @model_validator(mode="after")
    def _one_role(self) -> TargetAccount:
        if self.role_name is not None and self.role_arn is not None:
            raise ValueError("roleName, roleArn: set at most one of them")
        if self.role_arn is not None:
            match = ROLE_ARN.match(self.role_arn)
            if match is None:
                raise ValueError(f"roleArn: not an IAM role ARN: {self.role_arn!r}")
            if match.group(1) != self.account_id:
                raise ValueError(f"roleArn: names account {match.group(1)}, not accountId {self.account_id}")
        return self

    def role(self, default_role_name: str, partition: str = "aws") -> str:
        """The ARN of the role to assume: roleArn, else roleName or the stack default in this account."""
        if self.role_arn:
            return self.role_arn
        return f"arn:{partition}:iam::{self.account_id}:role/{self.role_name or default_role_name}"
