"""What moto's SSM lacks: Automation executions and the aws.ssm status-change events, on the virtual clock."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult
from moto.ssm.responses import SimpleSystemManagerResponse

from drwave_local.clock import VirtualClock

COMMAND_EVENT = "EC2 Command Status-change Notification"
AUTOMATION_EVENT = "EC2 Automation Execution Status-change Notification"


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
        """Watch moto's SendCommand to time its outcome; serve StartAutomationExecution ourselves."""
        client.meta.events.register("after-call.ssm.SendCommand", self._command_sent)

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

        SimpleSystemManagerResponse.start_automation_execution = start_automation_execution  # type: ignore[attr-defined]
        return lambda: delattr(SimpleSystemManagerResponse, "start_automation_execution")

    def _behaviour(self, document: str) -> ActionBehaviour:
        return self.behaviours.get(document, ActionBehaviour())

    def _command_sent(self, parsed: dict[str, Any], **_: Any) -> None:
        command = parsed.get("Command") or {}
        if command.get("CommandId"):
            self._finish_later(command["DocumentName"], command["CommandId"], automation=False)

    def _finish_later(self, document: str, run_id: str, automation: bool) -> None:
        behaviour = self._behaviour(document)
        self.runs[run_id] = {"document": document, "automation": automation, "outcome": behaviour.outcome}
        if behaviour.outcome == "Hang":
            return

        def finish() -> None:
            if automation:
                detail = {"ExecutionId": run_id, "Definition": document, "Status": behaviour.outcome}
                self._emit(AUTOMATION_EVENT, detail, [])
            else:
                detail = {"command-id": run_id, "document-name": document, "status": behaviour.outcome}
                self._emit(COMMAND_EVENT, detail, [])

        self._clock.call_later(behaviour.duration_seconds, finish, label="ssm")
