"""run_wave_actions handler in the local runtime: pre/post SSM documents, claimed once, ended by aws.ssm events."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from drwave.handlers.common import InvalidEvent
from drwave.models.events import WaveActionsRequested
from drwave.models.execution import ActionStatus, WaveStatus

ACTIONS_REQUESTED = "Wave Actions Requested"
AUTOMATION_STATUS = "EC2 Automation Execution Status-change Notification"
COMMAND_STATUS = "EC2 Command Status-change Notification"

FENCE = {
    "name": "fence",
    "documentName": "DR-FencePrimary",
    "type": "AUTOMATION",
    "parameters": {"Region": ["us-west-2"]},
    "timeoutSeconds": 900,
}
CHECK = {"name": "check", "documentName": "AWS-RunShellScript", "parameters": {"commands": ["/opt/dr/check.sh"]}}
BEHAVIOURS = {
    "DR-FencePrimary": {"durationSeconds": 30, "outcome": "Success"},
    "AWS-RunShellScript": {"durationSeconds": 20, "outcome": "Success"},
}


def with_actions(h_factory: Any, plan: dict[str, Any], behaviours: dict[str, Any] | None = None, **kw: Any) -> Any:
    h = h_factory(plan, actions=behaviours or BEHAVIOURS, **kw)
    h.request("exe-0001")
    return h


def ssm_commands(h: Any) -> list[dict[str, Any]]:
    """Run Commands moto's SSM holds (the runtime's mock is active while the harness is)."""
    client = boto3.client("ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    commands: list[dict[str, Any]] = client.list_commands()["Commands"]
    return commands


def test_pre_action_runs_once_and_its_success_opens_the_launch(harness, one_wave, sid):
    # GIVEN a wave with an Automation pre-action: the execution asks for the wave's pre-actions
    h = with_actions(harness, one_wave([sid(1)], preActions=[FENCE]))
    assert h.execution("exe-0001").waves["app"].status is WaveStatus.PRE_ACTIONS
    assert h.bus.of(ACTIONS_REQUESTED) == [
        {"schemaVersion": "1", "executionId": "exe-0001", "waveId": "app", "phase": "pre"}
    ]
    # WHEN run_wave_actions handles the request
    h.deliver_new(ACTIONS_REQUESTED, "run_wave_actions")
    # THEN one automation runs, recorded on the wave and indexed for its status events
    (run_id,) = h.rt.ssm.runs
    assert h.rt.ssm.runs[run_id]["document"] == "DR-FencePrimary"
    run = h.execution("exe-0001").waves["app"].pre_actions["fence"]
    assert (run.status, run.command_id) == (ActionStatus.RUNNING, run_id)
    assert h.rt.deps.store.get_owner("ACTION", run_id) == {"executionId": "exe-0001", "waveId": "app", "phase": "pre"}
    # WHEN SSM reports its success
    h.advance(30)
    assert h.deliver_new(AUTOMATION_STATUS, "run_wave_actions") == 1
    # THEN the action SUCCEEDED and the wave moves on to launching
    wave = h.execution("exe-0001").waves["app"]
    assert wave.pre_actions["fence"].status is ActionStatus.SUCCEEDED
    assert wave.status is WaveStatus.LAUNCHING
    assert h.bus.of("Wave Start Requested") == [{"schemaVersion": "1", "executionId": "exe-0001", "waveId": "app"}]


def test_post_action_targets_the_waves_recovered_instances(harness, one_wave, sid):
    # GIVEN a wave with a Run Command post-action whose two servers launched
    h = with_actions(harness, one_wave([sid(1), sid(2)], postActions=[CHECK]))
    h.run_wave("exe-0001", "app")
    wave = h.execution("exe-0001").waves["app"]
    assert wave.status is WaveStatus.POST_ACTIONS
    instances = sorted(s.recovery_instance_id for s in wave.servers.values())
    # WHEN the post-actions are requested
    h.deliver_new(ACTIONS_REQUESTED, "run_wave_actions")
    # THEN the command targets exactly the recovered instances, with the document's parameters
    (command,) = ssm_commands(h)
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert sorted(command["InstanceIds"]) == instances
    assert command["Parameters"] == {"commands": ["/opt/dr/check.sh"]}
    assert command["Comment"] == "drwave exe-0001 app"
    # AND its success completes the wave
    h.advance(20)
    h.deliver_new(COMMAND_STATUS, "run_wave_actions")
    assert h.execution("exe-0001").waves["app"].status is WaveStatus.COMPLETED


def test_duplicate_actions_request_starts_nothing_more(harness, one_wave, sid):
    # GIVEN the pre-actions were already claimed and started
    h = with_actions(harness, one_wave([sid(1)], preActions=[FENCE]))
    h.deliver_new(ACTIONS_REQUESTED, "run_wave_actions")
    before = h.stored("exe-0001")
    # WHEN the request is delivered again
    h.send("run_wave_actions", WaveActionsRequested(execution_id="exe-0001", wave_id="app", phase="pre"))
    # THEN no second automation runs and nothing is written
    assert len(h.rt.ssm.runs) == 1
    assert h.stored("exe-0001") == before


def test_duplicate_status_change_is_a_no_op(harness, one_wave, sid):
    # GIVEN an action whose success was already recorded
    h = with_actions(harness, one_wave([sid(1)], preActions=[FENCE]))
    h.deliver_new(ACTIONS_REQUESTED, "run_wave_actions")
    h.advance(30)
    h.deliver_new(AUTOMATION_STATUS, "run_wave_actions")
    before = h.stored("exe-0001")
    published = len(h.bus.events)
    # WHEN SSM's event is delivered again THEN nothing is written or published
    (event,) = h.bus.raw(AUTOMATION_STATUS)
    h.invoke("run_wave_actions", event)
    assert h.stored("exe-0001") == before
    assert len(h.bus.events) == published


def test_status_of_a_run_drwave_did_not_start_or_not_yet_final_is_ignored(harness, one_wave, sid):
    # GIVEN a running pre-action
    h = with_actions(harness, one_wave([sid(1)], preActions=[FENCE]))
    h.deliver_new(ACTIONS_REQUESTED, "run_wave_actions")
    (run_id,) = h.rt.ssm.runs
    before = h.stored("exe-0001")
    # WHEN SSM reports on someone else's command, and an in-progress status of ours
    foreign = {"command-id": "11111111-2222-3333-4444-555555555555", "status": "Failed"}
    h.invoke("run_wave_actions", h.envelope("aws.ssm", COMMAND_STATUS, foreign))
    h.invoke(
        "run_wave_actions", h.envelope("aws.ssm", AUTOMATION_STATUS, {"ExecutionId": run_id, "Status": "InProgress"})
    )
    # THEN nothing changes
    assert h.stored("exe-0001") == before


def test_a_failed_pre_action_with_stop_fails_the_wave_before_any_launch(harness, one_wave, sid):
    # GIVEN a pre-action that fails and the default onFailure STOP
    h = with_actions(
        harness,
        one_wave([sid(1)], preActions=[FENCE]),
        {"DR-FencePrimary": {"durationSeconds": 5, "outcome": "Failed"}},
    )
    h.deliver_new(ACTIONS_REQUESTED, "run_wave_actions")
    # WHEN its failure is reported
    h.advance(5)
    h.deliver_new(AUTOMATION_STATUS, "run_wave_actions")
    # THEN the wave FAILED naming the action, and no DRS job was started
    wave = h.execution("exe-0001").waves["app"]
    assert wave.pre_actions["fence"].status is ActionStatus.FAILED
    assert wave.status is WaveStatus.FAILED
    assert wave.reason == "pre-action fence FAILED"
    assert h.drs_calls["StartRecovery"] == 0


def test_a_failed_pre_action_with_continue_launches_with_a_warning(harness, one_wave, sid):
    # GIVEN a failing pre-action marked onFailure CONTINUE
    h = with_actions(
        harness,
        one_wave([sid(1)], preActions=[{**FENCE, "onFailure": "CONTINUE"}]),
        {"DR-FencePrimary": {"durationSeconds": 5, "outcome": "TimedOut"}},
    )
    h.deliver_new(ACTIONS_REQUESTED, "run_wave_actions")
    # WHEN its timeout is reported THEN the wave launches anyway and remembers the warning
    h.advance(5)
    h.deliver_new(AUTOMATION_STATUS, "run_wave_actions")
    wave = h.execution("exe-0001").waves["app"]
    assert wave.pre_actions["fence"].status is ActionStatus.TIMED_OUT
    assert wave.status is WaveStatus.LAUNCHING
    assert wave.warnings == ["pre-action fence TIMED_OUT (onFailure CONTINUE)"]


def test_run_command_pre_action_of_a_first_wave_has_no_instances_and_fails_the_wave(harness, one_wave, sid):
    # GIVEN the first wave has a Run Command pre-action (no earlier wave recovered any instance)
    h = with_actions(harness, one_wave([sid(1)], preActions=[CHECK]))
    # WHEN the pre-actions are requested
    h.deliver_new(ACTIONS_REQUESTED, "run_wave_actions")
    # THEN nothing is sent to SSM, the run FAILED with the reason, and the wave fails
    assert ssm_commands(h) == []
    wave = h.execution("exe-0001").waves["app"]
    run = wave.pre_actions["check"]
    assert run.status is ActionStatus.FAILED
    assert "needs recovered instances" in (run.error or "")
    assert wave.status is WaveStatus.FAILED


def test_actions_requested_for_an_unknown_execution_are_ignored(harness, one_wave, sid):
    # GIVEN no execution "exe-ghost" WHEN its actions are requested THEN nothing runs and nothing is stored
    h = harness(one_wave([sid(1)], preActions=[FENCE]), actions=BEHAVIOURS)
    h.send("run_wave_actions", WaveActionsRequested(execution_id="exe-ghost", wave_id="app", phase="pre"))
    assert h.rt.ssm.runs == {}
    assert h.rt.deps.store.load_execution("exe-ghost") is None


@pytest.mark.parametrize(
    ("detail", "field"),
    [
        ({"executionId": "exe-0001", "waveId": "app", "phase": "middle"}, "phase"),
        ({"executionId": "exe-0001", "phase": "pre"}, "waveId"),
    ],
)
def test_invalid_actions_request_raises_naming_the_field_and_changes_nothing(harness, one_wave, sid, detail, field):
    # GIVEN a wave waiting for its pre-actions
    h = with_actions(harness, one_wave([sid(1)], preActions=[FENCE]))
    before = h.stored("exe-0001")
    # WHEN a request breaking the contract arrives THEN ValidationError names the field and nothing runs
    with pytest.raises(ValidationError) as error:
        h.send("run_wave_actions", detail, ACTIONS_REQUESTED)
    assert field in str(error.value)
    assert h.rt.ssm.runs == {}
    assert h.stored("exe-0001") == before


@pytest.mark.parametrize(
    "detail", [{"command-id": "c-1"}, {"status": "Success"}, {"ExecutionId": "", "Status": "Success"}]
)
def test_malformed_ssm_status_is_an_invalid_event_and_changes_nothing(harness, one_wave, sid, detail):
    # GIVEN a running pre-action
    h = with_actions(harness, one_wave([sid(1)], preActions=[FENCE]))
    h.deliver_new(ACTIONS_REQUESTED, "run_wave_actions")
    before = h.stored("exe-0001")
    # WHEN an aws.ssm event lacks its id or status THEN InvalidEvent names the fields and nothing changes
    with pytest.raises(InvalidEvent, match=r"command-id/ExecutionId and detail\.status/Status are required"):
        h.invoke("run_wave_actions", h.envelope("aws.ssm", COMMAND_STATUS, detail))
    assert h.stored("exe-0001") == before
