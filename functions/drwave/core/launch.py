"""Launch settings, pure: merging group defaults with per-server overrides, checking them, and working out
what must change in DRS's launch configuration and the EC2 launch template (no boto3, no I/O)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from drwave.models.launch import LaunchSettings, Licensing, RightSizingMethod
from drwave.models.plan import ProtectionGroup

# python field name -> UpdateLaunchConfiguration member name (botocore `drs` model)
_DRS_WIRE = {
    "launch_disposition": "launchDisposition",
    "target_instance_type_right_sizing_method": "targetInstanceTypeRightSizingMethod",
    "copy_private_ip": "copyPrivateIp",
    "copy_tags": "copyTags",
    "licensing": "licensing",
    "post_launch_enabled": "postLaunchEnabled",
    "recovery_mode": "recoveryMode",
}


def effective_launch_settings(group: ProtectionGroup, server_id: str) -> LaunchSettings:
    """The settings one server launches with: its override's set fields win over the group defaults.

    `tags` merge key by key (the override's value wins); every other field is replaced as a whole.
    The result is empty (`is_empty()`) when neither the group nor the server sets anything.
    """
    merged = group.launch_settings.model_dump(exclude_none=True) if group.launch_settings else {}
    override = group.server_launch_overrides.get(server_id)
    if override is not None:
        for name, value in override.model_dump(exclude_none=True).items():
            merged[name] = {**merged.get(name, {}), **value} if name == "tags" else value
    return LaunchSettings.model_validate(merged)


def validate_launch_settings(group: ProtectionGroup, server_ids: Sequence[str]) -> list[str]:
    """Every problem with a group's launch settings for the servers it will launch (empty list: fine).

    `server_ids` are the group's source servers: its `sourceServerIds`, or for a tag-selected group the
    servers the selector matches now. Field formats are already checked by the model; this checks what
    only shows once settings are merged per server. Each message names the field and the servers.
    """
    problems: list[str] = []
    members = set(server_ids)
    strangers = [s for s in group.server_launch_overrides if s not in members]
    if strangers:
        problems.append(f"serverLaunchOverrides: not servers of group {group.id}: {', '.join(sorted(strangers))}")
    by_problem: dict[str, list[str]] = defaultdict(list)
    by_ip: dict[str, list[str]] = defaultdict(list)
    for sid in server_ids:
        settings = effective_launch_settings(group, sid)
        for problem in _server_problems(settings):
            by_problem[problem].append(sid)
        if settings.private_ip_address:
            by_ip[settings.private_ip_address].append(sid)
    problems.extend(f"{problem} (servers: {_listed(sids)})" for problem, sids in by_problem.items())
    problems.extend(
        f"privateIpAddress: {ip} is set for more than one server: {_listed(sids)}"
        for ip, sids in by_ip.items()
        if len(sids) > 1
    )
    return problems


def _server_problems(settings: LaunchSettings) -> list[str]:
    problems = []
    if settings.security_group_ids and not settings.subnet_id:
        problems.append("securityGroupIds: set without subnetId (security groups belong to the subnet's VPC)")
    if settings.private_ip_address and not settings.subnet_id:
        problems.append("privateIpAddress: set without subnetId (the address must lie in a known subnet)")
    if settings.private_ip_address and settings.copy_private_ip:
        problems.append("privateIpAddress: conflicts with copyPrivateIp (DRS would copy the source server's IP)")
    if settings.instance_type and settings.target_instance_type_right_sizing_method is not RightSizingMethod.NONE:
        problems.append(
            "instanceType: needs targetInstanceTypeRightSizingMethod NONE (DRS right-sizing otherwise picks the type)"
        )
    return problems


def _listed(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return f"{shown} and {len(ids) - limit} more" if len(ids) > limit else shown


def group_for_server(
    groups: Sequence[ProtectionGroup], server_id: str, tags: Mapping[str, str] | None
) -> ProtectionGroup | None:
    """The first group (in plan order, as servers are resolved) that holds this server; tags for selectors."""
    for group in groups:
        if group.source_server_ids is not None:
            if server_id in group.source_server_ids:
                return group
        elif tags is not None and group.selects(dict(tags)):
            return group
    return None


def launch_configuration_changes(current: Mapping[str, Any], settings: LaunchSettings) -> dict[str, Any]:
    """UpdateLaunchConfiguration members (wire names) whose wanted value differs from GetLaunchConfiguration's."""
    changes: dict[str, Any] = {}
    for name, value in settings.drs_fields().items():
        wire = _DRS_WIRE[name]
        wanted = value.model_dump(by_alias=True) if isinstance(value, Licensing) else value
        if current.get(wire) != wanted:
            changes[wire] = wanted
    return changes


def launch_template_changes(current: Mapping[str, Any], settings: LaunchSettings) -> dict[str, Any]:
    """LaunchTemplateData keys to write in a new version (each whole, as EC2 replaces top-level keys); {} if none.

    `current` is the LaunchTemplateData of the template's default version.
    """
    changes: dict[str, Any] = {}
    if settings.instance_type and current.get("InstanceType") != settings.instance_type:
        changes["InstanceType"] = settings.instance_type
    interfaces = [dict(i) for i in current.get("NetworkInterfaces") or []]
    primary = next((i for i in interfaces if i.get("DeviceIndex", 0) == 0), None)
    wanted = dict(primary) if primary else {"DeviceIndex": 0}
    if settings.subnet_id:
        wanted["SubnetId"] = settings.subnet_id
    if settings.security_group_ids:
        wanted["Groups"] = list(settings.security_group_ids)
    if settings.private_ip_address:
        wanted.pop("PrivateIpAddresses", None)  # EC2 refuses both forms on one interface
        wanted["PrivateIpAddress"] = settings.private_ip_address
    if wanted != (primary or {"DeviceIndex": 0}):
        others = [i for i in interfaces if i is not primary]
        changes["NetworkInterfaces"] = [wanted, *others]
    if settings.tags:
        specs = [dict(s) for s in current.get("TagSpecifications") or []]
        instance = next((s for s in specs if s.get("ResourceType") == "instance"), None)
        have = {t["Key"]: t["Value"] for t in (instance or {}).get("Tags", [])}
        merged = {**have, **settings.tags}
        if merged != have:
            spec = {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in merged.items()]}
            changes["TagSpecifications"] = [spec, *(s for s in specs if s is not instance)]
    return changes
