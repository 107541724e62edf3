"""What moto's SSM lacks: Automation executions and the aws.ssm status-change events, on the virtual clock."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.ssm.responses import SimpleSystemManagerResponse

from drwave_local.runtime.clock import VirtualClock

COMMAND_EVENT = "EC2 Command Status-change Notification"
AUTOMATION_EVENT = "EC2 Automation Execution Status-change Notification"


class AutomationExecutionNotFound(JsonRESTError):
    """SSM's answer for an automation execution id it does not know."""

    def __init__(self, execution_id: str) -> None:
        super().__init__("AutomationExecutionNotFoundException", f"Automation execution {execution_id} not found")


@dataclass(frozen=True)
class ActionBehaviour:
    """How a simulated SSM document behaves: how long it runs and how it ends."""

    duration_seconds: float = 30.0
    outcome: str = "Success"  # Success | Failed | TimedOut | Hang (never reports)


class SsmSimulator:
    """Runs SSM documents on the virtual clock and emits AWS's aws.ssm status-change events."""

    def __init__(
        self,
        clock: VirtualClock,
        emit: Callable[[str, dict[str, Any], list[str]], None],
        behaviours: dict[str, ActionBehaviour] | None = None,
        seed: int = 0,
    ) -> None:
        self._clock = clock
        self._emit = emit
        self.behaviours = behaviours or {}
        self._rng = random.Random(seed)
        self.runs: dict[str, dict[str, Any]] = {}

    def attach(self, client: Any) -> None:
        """Watch moto's SendCommand to time its outcome, and answer ListCommands with the simulated status."""
        client.meta.events.register("after-call.ssm.SendCommand", self._command_sent)
        client.meta.events.register("after-call.ssm.ListCommands", self._commands_listed)

    def status(self, run_id: str) -> str | None:
        """A run's status as SSM reports it: InProgress until its outcome (a Hang stays InProgress)."""
        run = self.runs.get(run_id)
        return None if run is None else str(run["status"])

    def install_automation(self) -> Callable[[], None]:
        """Teach moto's SSM responder StartAutomationExecution (moto raises NotImplementedError for it).

        moto's request hook runs for every client, so the operation is added to its responder class;
        the returned function removes it again.
        """
        simulator = self

        def start_automation_execution(responder: Any) -> ActionResult:
            execution_id = str(uuid.UUID(int=simulator._rng.getrandbits(128)))
            simulator._finish_later(responder._get_param("DocumentName"), execution_id, automation=True)
            return ActionResult({"AutomationExecutionId": execution_id})

        def get_automation_execution(responder: Any) -> ActionResult:
            execution_id = responder._get_param("AutomationExecutionId")
            run = simulator.runs.get(execution_id)
            if run is None or not run["automation"]:
                raise AutomationExecutionNotFound(execution_id)
            execution = {"AutomationExecutionId": execution_id, "DocumentName": run["document"]}
            return ActionResult({"AutomationExecution": execution | {"AutomationExecutionStatus": run["status"]}})

        SimpleSystemManagerResponse.start_automation_execution = start_automation_execution  # type: ignore[attr-defined]
        SimpleSystemManagerResponse.get_automation_execution = get_automation_execution  # type: ignore[attr-defined]

        def uninstall() -> None:
            delattr(SimpleSystemManagerResponse, "start_automation_execution")
            delattr(SimpleSystemManagerResponse, "get_automation_execution")

        return uninstall

    def start(self, document: str, automation: bool) -> str:
        """Send a document without moto (the prediction harness): its run id; it ends as its behaviour says."""
        run_id = str(uuid.UUID(int=self._rng.getrandbits(128)))
        self._finish_later(document, run_id, automation)
        return run_id

    def _behaviour(self, document: str) -> ActionBehaviour:
        return self.behaviours.get(document, ActionBehaviour())

    def _commands_listed(self, parsed: dict[str, Any], **_: Any) -> None:
        # moto marks a command finished at once; the simulated status is the one that follows the virtual clock.
        for command in parsed.get("Commands") or []:
            if (status := self.status(command.get("CommandId", ""))) is not None:
                command["Status"] = status
                command["StatusDetails"] = status

    def _command_sent(self, parsed: dict[str, Any], **_: Any) -> None:
        command = parsed.get("Command") or {}
        if command.get("CommandId"):
            self._finish_later(command["DocumentName"], command["CommandId"], automation=False)

    def _finish_later(self, document: str, run_id: str, automation: bool) -> None:
        behaviour = self._behaviour(document)
        self.runs[run_id] = {
            "document": document,
            "automation": automation,
            "outcome": behaviour.outcome,  # the ground truth tests compare with
            "status": "InProgress",  # what SSM reports now
        }
        if behaviour.outcome == "Hang":
            return

        def finish() -> None:
            self.runs[run_id]["status"] = behaviour.outcome
            if automation:
                detail = {"ExecutionId": run_id, "Definition": document, "Status": behaviour.outcome}
                self._emit(AUTOMATION_EVENT, detail, [])
            else:
                detail = {"command-id": run_id, "document-name": document, "status": behaviour.outcome}
                self._emit(COMMAND_EVENT, detail, [])

        self._clock.call_later(behaviour.duration_seconds, finish, label="ssm")
