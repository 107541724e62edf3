"""Launch settings in a whole execution: the demo's retail plan, whose web group sets defaults and one override."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drwave.models.execution import ExecutionStatus
from drwave_local.runtime.embedded import LocalRuntime
from drwave_local.runtime.router import Faults
from drwave_local.simulators.environment import load_environment, load_plan_document

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WEB = ["s-0a1b2c3d4e5f60015", "s-0a1b2c3d4e5f60016", "s-0a1b2c3d4e5f60017", "s-0a1b2c3d4e5f60018"]


def approve_gates(rt: LocalRuntime) -> None:
    """An operator who approves every gate as soon as it opens."""

    def observe(_bus: str, event: dict[str, Any]) -> None:
        if event["detail-type"] == "Wave Gate Waiting":
            detail = event["detail"]
            rt.clock.call_later(60, lambda: rt.approve(detail["executionId"], detail["waveId"]), label="operator")

    rt.router.observers.append(observe)


def default_template_data(rt: LocalRuntime, server: str) -> dict[str, Any]:
    template_id = rt.drs.launch_configurations[server]["ec2LaunchTemplateID"]
    response = rt._ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])
    data: dict[str, Any] = response["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    return data


@pytest.mark.parametrize(
    "faults",
    [Faults(), Faults(duplicate=0.5, max_delay_seconds=20, seed=3)],
    ids=["clean", "duplicates-and-reordering"],
)
def test_the_demo_drill_applies_the_web_groups_launch_settings_once_before_its_job(faults):
    # GIVEN the demo plan and environment (only pg-web has launch settings), under the given delivery faults
    document = load_plan_document(EXAMPLES / "retail-plan.yaml")
    with LocalRuntime(load_environment(EXAMPLES / "retail-environment.yaml"), faults=faults) as rt:
        rt.install(document)
        approve_gates(rt)
        # WHEN it is rehearsed as a DRILL
        execution_id = rt.request_execution(document.recovery_plan.id)
        rt.run()
        execution = rt.execution(execution_id)
        # THEN it finished as the demo does, and its timeline shows the settings applied to the 4 web servers,
        # once, before the web wave's DRS job started
        assert execution.status is ExecutionStatus.COMPLETED_WITH_WARNINGS
        web = [(e.event, e.detail) for e in execution.timeline if e.wave_id == "web"]
        applied = [detail for event, detail in web if event == "LAUNCH_SETTINGS_APPLIED"]
        assert applied == ["chunk 0: 4 servers (4 changed, 0 already as wanted)"]
        kinds = [event for event, _ in web]
        assert kinds.index("LAUNCH_SETTINGS_APPLIED") < kinds.index("DRS_JOB_STARTED")
        # AND DRS and EC2 hold the merged settings, written once per server
        assert rt.drs.calls["UpdateLaunchConfiguration"] == len(WEB)
        assert sorted(u["sourceServerID"] for u in rt.drs.launch_configuration_updates) == WEB
        assert {rt.drs.launch_configurations[s]["copyTags"] for s in WEB} == {True}
        override, plain = default_template_data(rt, WEB[0]), default_template_data(rt, WEB[1])
        assert (override["InstanceType"], override["NetworkInterfaces"][0]["PrivateIpAddress"]) == (
            "c6i.xlarge",
            "10.20.1.15",
        )
        assert plain["InstanceType"] == "c6i.large"
        assert plain["NetworkInterfaces"][0]["SubnetId"] == "subnet-0a1b2c3d4e5f60789"
        assert {"Key": "dr-role", "Value": "primary"} in override["TagSpecifications"][0]["Tags"]
