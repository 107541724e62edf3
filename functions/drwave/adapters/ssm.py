"""SSM runner for pre/post-wave actions (Run Command and Automation documents)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from drwave.models.plan import ActionType, WaveAction


class ActionStartError(Exception):
    """SSM refused to start an action."""


class SsmActionRunner:
    """Starts SSM documents; their outcome arrives later as aws.ssm status-change events."""

    def __init__(self, client: Any) -> None:
        self._ssm = client

    def start(self, action: WaveAction, instance_ids: list[str], comment: str) -> str:
        """Start one action and return its command id or automation execution id."""
        try:
            if action.type is ActionType.AUTOMATION:
                response = self._ssm.start_automation_execution(
                    DocumentName=action.document_name, Parameters=action.parameters
                )
                return str(response["AutomationExecutionId"])
            if not instance_ids:
                raise ActionStartError(f"{action.name}: a Run Command action needs recovered instances to target")
            response = self._ssm.send_command(
                DocumentName=action.document_name,
                InstanceIds=instance_ids,
                Parameters=action.parameters,
                TimeoutSeconds=action.timeout_seconds,
                Comment=comment[:100],
            )
            return str(response["Command"]["CommandId"])
        except ClientError as err:
            raise ActionStartError(f"{action.name}: {err.response['Error']['Code']}") from err

    def status(self, action_type: ActionType, run_id: str) -> str | None:
        """SSM's current status of a run (e.g. InProgress, Success, Failed), or None if SSM does not know it."""
        try:
            if action_type is ActionType.AUTOMATION:
                response = self._ssm.get_automation_execution(AutomationExecutionId=run_id)
                return str(response["AutomationExecution"]["AutomationExecutionStatus"])
            commands = self._ssm.list_commands(CommandId=run_id)["Commands"]
        except ClientError as err:
            if err.response["Error"]["Code"] in ("AutomationExecutionNotFoundException", "InvalidCommandId"):
                return None
            raise
        return str(commands[0]["Status"]) if commands else None
