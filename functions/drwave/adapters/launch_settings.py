"""Applying launch settings before a launch: DRS UpdateLaunchConfiguration and a new default EC2 launch-template
version, each only when something differs, so a retried (at-least-once) attempt changes nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from drwave.adapters.drs import DrsGateway
from drwave.core.launch import launch_configuration_changes, launch_template_changes
from drwave.models.launch import LaunchSettings

EC2_RETRYABLE = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException", "InternalError", "Unavailable"})


class LaunchTemplateError(Exception):
    """EC2 refused a launch-template request; `code` is EC2's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Ec2LaunchTemplates:
    """The EC2 launch-template calls drwave makes (the templates DRS launches recovery instances from)."""

    def __init__(self, client: Any) -> None:
        self._ec2 = client

    def default_version(self, template_id: str) -> tuple[int, dict[str, Any]]:
        """(version number, LaunchTemplateData) of the template's default version."""
        response = self._call(
            self._ec2.describe_launch_template_versions, LaunchTemplateId=template_id, Versions=["$Default"]
        )
        (version,) = response["LaunchTemplateVersions"]
        return version["VersionNumber"], version.get("LaunchTemplateData") or {}

    def create_default_version(self, template_id: str, source_version: int, data: dict[str, Any], note: str) -> int:
        """A new version from `source_version` with `data` replacing its top-level keys, made the default."""
        created = self._call(
            self._ec2.create_launch_template_version,
            LaunchTemplateId=template_id,
            SourceVersion=str(source_version),
            VersionDescription=note[:255],
            LaunchTemplateData=data,
        )
        number: int = created["LaunchTemplateVersion"]["VersionNumber"]
        self._call(self._ec2.modify_launch_template, LaunchTemplateId=template_id, DefaultVersion=str(number))
        return number

    @staticmethod
    def _call(method: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = method(**kwargs)
        except ClientError as err:
            error = err.response["Error"]
            raise LaunchTemplateError(error.get("Code", "Unknown"), error.get("Message", "")) from err
        return response


@dataclass(frozen=True)
class Applied:
    """What applying one server's settings changed."""

    source_server_id: str
    launch_configuration: list[str]  # DRS members updated
    launch_template_version: int | None  # the new default version, if one was created

    @property
    def changed(self) -> bool:
        """True when anything was written."""
        return bool(self.launch_configuration) or self.launch_template_version is not None


class LaunchSettingsApplier:
    """Writes one server's effective launch settings into DRS and its EC2 launch template."""

    def __init__(self, drs: DrsGateway, ec2: Ec2LaunchTemplates | None) -> None:
        self._drs = drs
        self._ec2 = ec2

    def apply(self, source_server_id: str, settings: LaunchSettings, note: str = "drwave") -> Applied:
        """Bring DRS and the launch template in line with `settings`; raises DrsError or LaunchTemplateError."""
        current = self._drs.get_launch_configuration(source_server_id)
        changes = launch_configuration_changes(current, settings)
        if changes:
            self._drs.update_launch_configuration(source_server_id, changes)
        version = None
        if settings.ec2_fields():
            template_id = current.get("ec2LaunchTemplateID")
            if not template_id:
                raise LaunchTemplateError("NoLaunchTemplate", f"DRS has no EC2 launch template for {source_server_id}")
            if self._ec2 is None:
                raise LaunchTemplateError("NoEc2Client", "EC2 launch-template access is not configured")
            default, data = self._ec2.default_version(template_id)
            wanted = launch_template_changes(data, settings)
            if wanted:
                version = self._ec2.create_default_version(template_id, default, wanted, note)
        return Applied(source_server_id, sorted(changes), version)
