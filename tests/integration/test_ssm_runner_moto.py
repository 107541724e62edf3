"""SsmActionRunner against moto SSM (Run Command), with Automation taught to moto by the local SSM simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from drwave.adapters.ssm import ActionStartError, SsmActionRunner
from drwave.models.plan import ActionType, WaveAction
from drwave_local.runtime.clock import VirtualClock
from drwave_local.simulators.ssm import SsmSimulator

INSTANCES = ["i-0123456789abcdef0", "i-0fedcba9876543210"]


@pytest.fixture
def ssm(aws) -> Any:
    return aws.client("ssm")


@pytest.fixture
def automation_events() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def automation(automation_events) -> Iterator[SsmSimulator]:
    """moto lacks StartAutomationExecution: the local SSM simulator adds it for the duration of a test."""
    simulator = SsmSimulator(VirtualClock(), lambda dt, detail, _: automation_events.append((dt, detail)))
    uninstall = simulator.install_automation()
    yield simulator
    uninstall()


def command(**fields: Any) -> WaveAction:
    return WaveAction(
        name="check-db",
        document_name="AWS-RunShellScript",
        parameters={"commands": ["/opt/dr/check-db.sh"]},
        timeout_seconds=900,
        **fields,
    )


def test_run_command_targets_the_instances_with_the_documents_parameters(ssm):
    # GIVEN a Run Command action and two recovered instances
    runner = SsmActionRunner(ssm)
    # WHEN it is started
    command_id = runner.start(command(), INSTANCES, comment="drwave exe-0001 databases")
    # THEN SSM has that command with our document, targets, parameters, timeout and comment
    (sent,) = ssm.list_commands(CommandId=command_id)["Commands"]
    assert sent["DocumentName"] == "AWS-RunShellScript"
    assert sorted(sent["InstanceIds"]) == sorted(INSTANCES)
    assert sent["Parameters"] == {"commands": ["/opt/dr/check-db.sh"]}
    assert sent["Comment"] == "drwave exe-0001 databases"
    assert sent["TimeoutSeconds"] == 900


def test_a_long_comment_is_cut_to_the_100_characters_ssm_allows(ssm):
    # GIVEN a comment longer than SSM accepts WHEN the command is sent THEN the first 100 characters are kept
    runner = SsmActionRunner(ssm)
    command_id = runner.start(command(), INSTANCES, comment="x" * 150)
    (sent,) = ssm.list_commands(CommandId=command_id)["Commands"]
    assert sent["Comment"] == "x" * 100


def test_run_command_without_instances_fails_to_start_naming_the_action(ssm):
    # GIVEN no recovered instances to target
    runner = SsmActionRunner(ssm)
    # WHEN a Run Command action is started THEN ActionStartError names the action and nothing is sent
    with pytest.raises(ActionStartError, match="check-db: a Run Command action needs recovered instances"):
        runner.start(command(), [], comment="drwave")
    assert ssm.list_commands()["Commands"] == []


def test_automation_starts_without_instances_and_returns_its_execution_id(ssm, automation):
    # GIVEN an Automation action (it runs standalone, no instances needed)
    action = WaveAction(
        name="fence-primary",
        document_name="DR-FencePrimaryDatabases",
        type=ActionType.AUTOMATION,
        parameters={"Region": ["us-west-2"]},
    )
    # WHEN it is started
    execution_id = SsmActionRunner(ssm).start(action, [], comment="drwave")
    # THEN the automation execution id is returned and the document is the one that runs
    assert automation.runs[execution_id]["document"] == "DR-FencePrimaryDatabases"
    assert automation.runs[execution_id]["automation"] is True


def test_ssm_refusing_a_command_is_an_action_start_error_with_its_code(ssm):
    # GIVEN SSM refuses the document
    runner = SsmActionRunner(ssm)
    with Stubber(ssm) as stub:
        stub.add_client_error("send_command", service_error_code="InvalidDocument", http_status_code=400)
        # WHEN the action is started THEN ActionStartError names the action and SSM's code
        with pytest.raises(ActionStartError, match="check-db: InvalidDocument"):
            runner.start(command(), INSTANCES, comment="drwave")


def test_ssm_refusing_an_automation_is_an_action_start_error_with_its_code(ssm):
    # GIVEN SSM refuses an automation document
    action = WaveAction(name="fence", document_name="DR-Missing", type=ActionType.AUTOMATION)
    with Stubber(ssm) as stub:
        stub.add_client_error("start_automation_execution", service_error_code="AutomationDefinitionNotFoundException")
        # WHEN it is started THEN ActionStartError carries the code
        with pytest.raises(ActionStartError, match="fence: AutomationDefinitionNotFoundException"):
            SsmActionRunner(ssm).start(action, [], comment="drwave")


def test_an_automation_reports_in_progress_until_the_simulated_clock_ends_it(ssm, automation):
    # GIVEN a started Automation action (the simulator runs it for 30 virtual seconds by default)
    runner = SsmActionRunner(ssm)
    execution_id = runner.start(command(type=ActionType.AUTOMATION), [], comment="drwave")
    # WHEN SSM is asked before and after it ends  THEN it says InProgress, then Success
    assert runner.status(ActionType.AUTOMATION, execution_id) == "InProgress"
    automation._clock.advance_to(automation._clock.now() + timedelta(seconds=31))
    assert runner.status(ActionType.AUTOMATION, execution_id) == "Success"


def test_a_command_reports_the_simulated_status_not_motos(ssm, automation):
    # GIVEN a Run Command action SSM (moto) marks finished at once, on a runtime that times it on its clock
    automation.attach(ssm)
    runner = SsmActionRunner(ssm)
    command_id = runner.start(command(), INSTANCES, comment="drwave")
    # WHEN SSM is asked before and after the simulated run ends  THEN the status follows the virtual clock
    assert runner.status(ActionType.COMMAND, command_id) == "InProgress"
    automation._clock.advance_to(automation._clock.now() + timedelta(seconds=31))
    assert runner.status(ActionType.COMMAND, command_id) == "Success"


def test_runs_ssm_does_not_know_have_no_status(ssm, automation):
    # GIVEN ids SSM never issued  WHEN asked  THEN no status rather than an error
    runner = SsmActionRunner(ssm)
    assert runner.status(ActionType.AUTOMATION, "00000000-0000-0000-0000-000000000000") is None
    assert runner.status(ActionType.COMMAND, "00000000-0000-0000-0000-000000000000") is None
