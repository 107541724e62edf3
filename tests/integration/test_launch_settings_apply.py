"""Launch settings applied by start_wave before StartRecovery: DRS launch configuration (simulator) and a new
default EC2 launch-template version (moto), once per server per execution, failing the chunk rather than
launching with wrong settings."""

from __future__ import annotations

from typing import Any

from drwave.core.decide import LAUNCH_LEASE
from drwave.models.execution import ChunkStatus, LaunchStatus, WaveStatus

SUBNET = "subnet-0123456789abcdef0"
SG = "sg-0123456789abcdef0"
DEFAULTS = {
    "targetInstanceTypeRightSizingMethod": "NONE",
    "copyTags": True,
    "licensing": {"osByol": False},
    "subnetId": SUBNET,
    "securityGroupIds": [SG],
    "instanceType": "c6i.large",
}


def plan(servers: list[str], defaults: dict[str, Any] | None, overrides: dict[str, Any] | None = None) -> dict:
    group: dict[str, Any] = {"id": "pg-web", "name": "Web", "sourceServerIds": servers}
    if defaults is not None:
        group["launchSettings"] = defaults
    if overrides:
        group["serverLaunchOverrides"] = overrides
    return {
        "protectionGroups": [group],
        "recoveryPlan": {"id": "plan-it", "name": "Web", "waves": [{"id": "web", "protectionGroupIds": ["pg-web"]}]},
    }


def default_template(h: Any, server: str) -> dict[str, Any]:
    """The default version of the server's EC2 launch template, as moto holds it."""
    template_id = h.rt.drs.launch_configurations[server]["ec2LaunchTemplateID"]
    (version,) = h.rt._ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
        "LaunchTemplateVersions"
    ]
    return version


def versions(h: Any, server: str) -> int:
    template_id = h.rt.drs.launch_configurations[server]["ec2LaunchTemplateID"]
    return len(h.rt._ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"])


def events(h: Any, execution_id: str = "exe-0001") -> list[tuple[str, str]]:
    return [(e.event, e.detail) for e in h.execution(execution_id).timeline]


def test_a_wave_applies_group_defaults_and_overrides_before_starting_its_job(harness, sid):
    # GIVEN a group with launch defaults and an override for its first server
    h = harness(
        plan([sid(1), sid(2)], DEFAULTS, {sid(1): {"instanceType": "c6i.xlarge", "privateIpAddress": "10.0.1.5"}})
    )
    h.request("exe-0001")
    # WHEN the wave starts
    h.start_wave("exe-0001", "web")
    # THEN each server's DRS launch configuration holds the DRS fields
    for server in (sid(1), sid(2)):
        config = h.rt.drs.launch_configurations[server]
        assert config["copyTags"] is True
        assert config["licensing"] == {"osByol": False}
        assert config["targetInstanceTypeRightSizingMethod"] == "NONE"
    # AND each launch template has a new default version with the network and instance type (override winning)
    first, second = default_template(h, sid(1)), default_template(h, sid(2))
    assert first["VersionNumber"] == 2 and first["DefaultVersion"] is True
    assert first["LaunchTemplateData"]["InstanceType"] == "c6i.xlarge"
    assert first["LaunchTemplateData"]["NetworkInterfaces"][0] == {
        "DeviceIndex": 0,
        "SubnetId": SUBNET,
        "Groups": [SG],
        "PrivateIpAddress": "10.0.1.5",
    }
    assert second["LaunchTemplateData"]["InstanceType"] == "c6i.large"
    assert "PrivateIpAddress" not in second["LaunchTemplateData"]["NetworkInterfaces"][0]
    # AND the timeline shows the settings applied before the DRS job started
    kinds = [kind for kind, _ in events(h)]
    assert kinds.index("LAUNCH_SETTINGS_APPLIED") < kinds.index("DRS_JOB_STARTED")
    assert ("LAUNCH_SETTINGS_APPLIED", "chunk 0: 2 servers (2 changed, 0 already as wanted)") in events(h)
    assert h.drs_calls["StartRecovery"] == 1


def test_settings_are_applied_once_per_server_under_duplicate_deliveries_and_a_crash_before_start(harness, sid):
    # GIVEN a wave whose first launch attempt dies around StartRecovery, after the settings were applied
    h = harness(plan([sid(1), sid(2)], DEFAULTS))
    h.request("exe-0001")
    h.launch_dies("exe-0001", "web", after_start_recovery=False)
    # WHEN "Wave Start Requested" is delivered again, before and after the launch lease lapsed
    h.start_wave("exe-0001", "web")
    h.advance_by(LAUNCH_LEASE)
    h.start_wave("exe-0001", "web")
    h.start_wave("exe-0001", "web")
    # THEN the job started once, and no server's settings were written twice
    assert h.execution("exe-0001").waves["web"].chunks[0].status is ChunkStatus.STARTED
    assert h.drs_calls["StartRecovery"] == 1
    assert h.drs_calls["UpdateLaunchConfiguration"] == 2
    assert h.drs_calls["GetLaunchConfiguration"] == 2
    assert (versions(h, sid(1)), versions(h, sid(2))) == (2, 2)
    assert [kind for kind, _ in events(h)].count("LAUNCH_SETTINGS_APPLIED") == 1


def test_settings_already_in_place_are_not_written_again(harness, sid):
    # GIVEN a server whose launch configuration and template already match (an earlier execution applied them)
    h = harness(plan([sid(1)], DEFAULTS))
    h.request("exe-0001")
    h.start_wave("exe-0001", "web")
    h.request("exe-0002")
    # WHEN a second execution launches it
    h.start_wave("exe-0002", "web")
    # THEN nothing is updated and no template version is added, but the check is on the timeline
    assert h.drs_calls["UpdateLaunchConfiguration"] == 1
    assert versions(h, sid(1)) == 2
    assert ("LAUNCH_SETTINGS_APPLIED", "chunk 0: 1 servers (0 changed, 1 already as wanted)") in events(h, "exe-0002")


def test_a_wave_without_launch_settings_makes_no_launch_configuration_calls(harness, sid):
    h = harness(plan([sid(1)], None))
    h.request("exe-0001")
    h.start_wave("exe-0001", "web")
    assert h.drs_calls["GetLaunchConfiguration"] == 0
    assert "LAUNCH_SETTINGS_APPLIED" not in [kind for kind, _ in events(h)]
    assert h.drs_calls["StartRecovery"] == 1


def test_a_refused_update_fails_the_chunk_with_the_reason_instead_of_launching(harness, sid):
    # GIVEN DRS refuses the launch-configuration update
    h = harness(plan([sid(1), sid(2)], DEFAULTS))
    h.request("exe-0001")
    h.rt.drs.inject_error("UpdateLaunchConfiguration", "ValidationException")
    # WHEN the wave starts
    h.start_wave("exe-0001", "web")
    # THEN no job started; its servers failed with the reason, and so did the wave
    wave = h.execution("exe-0001").waves["web"]
    assert h.drs_calls["StartRecovery"] == 0
    reason = f"{sid(1)}: ValidationException: injected ValidationException for UpdateLaunchConfiguration"
    assert wave.chunks[0].status is ChunkStatus.ABANDONED
    assert {s.launch_status for s in wave.servers.values()} == {LaunchStatus.FAILED}
    assert wave.servers[sid(2)].error == f"launch settings not applied: {reason}"
    assert ("LAUNCH_SETTINGS_FAILED", f"chunk 0: {reason}") in events(h)
    assert wave.status is WaveStatus.FAILED


def test_settings_that_fail_validation_are_not_applied_at_all(harness, sid):
    # GIVEN defaults that would give both servers the same private IP
    h = harness(plan([sid(1), sid(2)], DEFAULTS | {"privateIpAddress": "10.0.1.5"}))
    h.request("exe-0001")
    # WHEN the wave starts
    h.start_wave("exe-0001", "web")
    # THEN nothing was written or launched, and the timeline says which field and servers
    assert (h.drs_calls["UpdateLaunchConfiguration"], h.drs_calls["StartRecovery"]) == (0, 0)
    ((kind, detail),) = [e for e in events(h) if e[0].startswith("LAUNCH_SETTINGS")]
    assert kind == "LAUNCH_SETTINGS_FAILED"
    assert f"privateIpAddress: 10.0.1.5 is set for more than one server: {sid(1)}, {sid(2)}" in detail


def test_throttling_while_applying_defers_the_chunk_and_a_later_attempt_applies_and_launches(harness, sid):
    # GIVEN DRS throttles every retry of the gateway's backoff once
    h = harness(plan([sid(1)], DEFAULTS))
    h.request("exe-0001")
    h.rt.drs.inject_throttling("GetLaunchConfiguration", 6)
    # WHEN the wave starts THEN the chunk waits, nothing launched
    h.start_wave("exe-0001", "web")
    chunk = h.execution("exe-0001").waves["web"].chunks[0]
    assert (chunk.status, chunk.launch_settings_applied) == (ChunkStatus.WAITING, False)
    assert h.drs_calls["StartRecovery"] == 0
    # WHEN the wave is asked to start again (the tick does so) THEN settings are applied and the job starts
    h.start_wave("exe-0001", "web")
    assert h.execution("exe-0001").waves["web"].chunks[0].status is ChunkStatus.STARTED
    assert h.rt.drs.launch_configurations[sid(1)]["copyTags"] is True
