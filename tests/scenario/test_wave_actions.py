"""Pre/post-wave SSM actions: a failing or hanging document and its onFailure policy.

The SSM simulator runs each document on the virtual clock and reports its end as AWS's aws.ssm
status-change event; a "Hang" document never reports, so only drwave's own timeout can end it.
"""

from __future__ import annotations

import boto3
import pytest

from drwave.models.execution import ActionStatus, ExecutionStatus, LaunchStatus, WaveStatus

TICK_SECONDS = 60  # the template's poll tick: timeouts are noticed on the first tick after they expire


def command_targets(rt, command_id: str) -> list[str]:
    """The instance ids a Run Command was sent to, as moto's SSM recorded it (inside the runtime's mock)."""
    ssm = boto3.client("ssm", region_name=rt.env.region)
    (command,) = ssm.list_commands(CommandId=command_id)["Commands"]
    return sorted(command["InstanceIds"])


def recovered_instances(execution, wave_id: str) -> list[str]:
    """The recovery instance ids a wave's servers launched."""
    return sorted(s.recovery_instance_id or "" for s in execution.waves[wave_id].servers.values())


def gated_by_action(scenario, *, outcome: str, on_failure: str, timeout_seconds: int = 600, kind: str = "AUTOMATION"):
    """db -> app -> web, where app runs one pre-action "prepare-app" (document DR-PrepareApp) first."""
    scenario.action("DR-PrepareApp", outcome=outcome, duration_seconds=45)
    scenario.plan(
        "actions",
        {"id": "db", "servers": 2},
        {
            "id": "app",
            "servers": 2,
            "dependsOn": ["db"],
            "preActions": [
                {
                    "name": "prepare-app",
                    "documentName": "DR-PrepareApp",
                    "type": kind,
                    "parameters": {"Environment": ["dr"]},
                    "timeoutSeconds": timeout_seconds,
                    "onFailure": on_failure,
                }
            ],
        },
        {"id": "web", "servers": 1, "dependsOn": ["app"]},
    )


def test_pre_action_that_fails_with_stop_fails_the_wave_before_it_launches_anything(scenario, kit):
    # GIVEN app's pre-action document ends "Failed" and its onFailure is STOP
    gated_by_action(scenario, outcome="Failed", on_failure="STOP")
    with scenario.run() as rt:
        # WHEN the plan runs
        exe_id = rt.request_execution("actions")
        rt.run()
        exe = rt.execution(exe_id)

        # THEN the action is recorded FAILED and the wave FAILED naming it
        app = exe.waves["app"]
        assert app.pre_actions["prepare-app"].status is ActionStatus.FAILED
        assert app.status is WaveStatus.FAILED
        assert app.reason == "pre-action prepare-app FAILED"
        # AND app never launched: no DRS job for it, and nothing after it ran
        assert {j.wave_id for j in kit.launch_jobs(rt, exe_id)} == {"db"}
        assert kit.statuses(exe) == {"db": WaveStatus.COMPLETED, "app": WaveStatus.FAILED, "web": WaveStatus.SKIPPED}
        assert exe.status is ExecutionStatus.FAILED
        assert kit.invariant_violations(rt, exe_id) == []


def test_pre_action_that_fails_with_continue_lets_the_wave_complete_with_warnings(scenario, kit):
    # GIVEN app's pre-action is a Run Command on db's recovered instances, ends "Failed", onFailure CONTINUE
    gated_by_action(scenario, outcome="Failed", on_failure="CONTINUE", kind="COMMAND")
    with scenario.run() as rt:
        # WHEN the plan runs
        exe_id = rt.request_execution("actions")
        rt.run()
        exe = rt.execution(exe_id)

        # THEN the command ran against the instances db recovered
        app = exe.waves["app"]
        run = app.pre_actions["prepare-app"]
        assert run.status is ActionStatus.FAILED
        sent = rt.ssm.runs[run.command_id]
        assert sent["document"] == "DR-PrepareApp" and not sent["automation"]
        assert command_targets(rt, run.command_id) == recovered_instances(exe, "db")
        # AND the wave still launched and completed, with a warning naming the action
        assert all(s.launch_status is LaunchStatus.LAUNCHED for s in app.servers.values())
        assert any("prepare-app" in w and "CONTINUE" in w for w in app.warnings), app.warnings
        assert kit.statuses(exe) == {
            "db": WaveStatus.COMPLETED,
            "app": WaveStatus.COMPLETED_WITH_WARNINGS,
            "web": WaveStatus.COMPLETED,
        }
        # AND the launch waited for the action's outcome
        assert run.ended_at is not None and all(
            j.created >= run.ended_at for j in kit.launch_jobs(rt, exe_id) if j.wave_id == "app"
        )
        assert exe.status is ExecutionStatus.COMPLETED_WITH_WARNINGS
        assert kit.invariant_violations(rt, exe_id) == []


@pytest.mark.parametrize(
    ("on_failure", "app_status", "web_status", "final"),
    [
        ("STOP", WaveStatus.FAILED, WaveStatus.SKIPPED, ExecutionStatus.FAILED),
        ("CONTINUE", WaveStatus.COMPLETED_WITH_WARNINGS, WaveStatus.COMPLETED, ExecutionStatus.COMPLETED_WITH_WARNINGS),
    ],
    ids=["stop", "continue"],
)
def test_pre_action_that_hangs_times_out_after_its_timeout_seconds(
    scenario, kit, on_failure, app_status, web_status, final
):
    # GIVEN app's pre-action never reports back and has a 120 s timeout
    gated_by_action(scenario, outcome="Hang", on_failure=on_failure, timeout_seconds=120)
    with scenario.run() as rt:
        # WHEN the plan runs
        exe_id = rt.request_execution("actions")
        rt.run()
        exe = rt.execution(exe_id)

        # THEN the action was ended TIMED_OUT by drwave, 120 s after it started (to within a poll tick)
        app = exe.waves["app"]
        run = app.pre_actions["prepare-app"]
        assert run.status is ActionStatus.TIMED_OUT
        assert run.started_at is not None and run.ended_at is not None
        assert 120 <= (run.ended_at - run.started_at).total_seconds() <= 120 + TICK_SECONDS + 1
        assert kit.timeline(exe, "ACTION_TIMED_OUT", "app")
        # AND the onFailure policy decided the wave and the execution
        assert kit.statuses(exe) == {"db": WaveStatus.COMPLETED, "app": app_status, "web": web_status}
        if on_failure == "STOP":
            assert app.reason == "pre-action prepare-app TIMED_OUT"
            assert {j.wave_id for j in kit.launch_jobs(rt, exe_id)} == {"db"}
        else:
            assert any("prepare-app" in w for w in app.warnings), app.warnings
        assert exe.status is final
        assert kit.invariant_violations(rt, exe_id) == []


def test_post_action_runs_on_the_waves_recovered_instances_before_dependants_start(scenario, kit):
    # GIVEN db has a post-action health check (Run Command) and app depends on db
    scenario.action("DR-CheckDatabase", outcome="Success", duration_seconds=90)
    scenario.plan(
        "post",
        {
            "id": "db",
            "servers": 2,
            "postActions": [{"name": "check-db", "documentName": "DR-CheckDatabase", "parameters": {}}],
        },
        {"id": "app", "servers": 1, "dependsOn": ["db"]},
    )
    with scenario.run() as rt:
        # WHEN the plan runs
        exe_id = rt.request_execution("post")
        rt.run()
        exe = rt.execution(exe_id)

        # THEN the check succeeded after db's servers launched, and app only started after it
        db = exe.waves["db"]
        run = db.post_actions["check-db"]
        assert run.status is ActionStatus.SUCCEEDED
        assert command_targets(rt, run.command_id) == recovered_instances(exe, "db")
        db_jobs = [j for j in kit.launch_jobs(rt, exe_id) if j.wave_id == "db"]
        assert run.started_at is not None and run.started_at >= max(j.ended for j in db_jobs)
        assert exe.waves["app"].started_at is not None and exe.waves["app"].started_at >= run.ended_at
        assert kit.statuses(exe) == {"db": WaveStatus.COMPLETED, "app": WaveStatus.COMPLETED}
        assert exe.status is ExecutionStatus.COMPLETED
        assert kit.invariant_violations(rt, exe_id) == []
