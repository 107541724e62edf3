"""The Step Functions wrapper, executed for real by moto's ASL interpreter, kept in step with the virtual clock.

moto runs each state machine execution (and each Map iteration) in threads of its own. Two things make that
deterministic here:
- the wrapper's `events:putEvents.waitForTaskToken` calls are captured instead of reaching moto's EventBridge, and
  handed to the router in a fixed order once the wrapper has settled;
- every call that moves the wrapper on (StartExecution, SendTaskSuccess, SendTaskFailure) returns only once every
  running wrapper execution has settled: each of its live branches waits on a token whose event was captured, or
  the execution has ended. Settling is read from the execution history moto records (woken by every history
  event, never by polling), so the virtual clock resumes only when the wrapper is quiet.
"""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_events
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

from drwave_local.runtime.router import EventRouter
from drwave_local.runtime.template import DRWAVE_BUS, Template

STATE_MACHINE_TYPE = "AWS::Serverless::StateMachine"
SETTLE_TIMEOUT_SECONDS = 30.0  # a guard against a wrapper that never settles (a bug), not a wait for progress
STEP_ORDER = {"gate": 0, "wave": 1, "finish": 2}
ENDED = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
TASK_CLOSED = {"TaskSucceeded", "TaskFailed", "TaskTimedOut"}
ITERATION_ENDED = {"MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"}
MAP_ENDED = {"MapStateSucceeded", "MapStateFailed", "MapStateAborted"}


class WorkflowDidNotSettle(RuntimeError):
    """A wrapper execution kept running without waiting on a token: the ASL or the bridge is wrong."""


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def state_machine_definition(template: Template, template_dir: Path, refs: dict[str, str]) -> tuple[str, str]:
    """(logical id, ASL text) of the template's one state machine, DefinitionSubstitutions applied."""
    name, resource = next((n, r) for n, r in template.resources.items() if r.get("Type") == STATE_MACHINE_TYPE)
    props = resource["Properties"]
    text = (template_dir / props["DefinitionUri"]).read_text(encoding="utf-8")
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        resolved = refs[value["Ref"]] if isinstance(value, dict) else str(value)
        text = text.replace("${" + key + "}", resolved)
    return name, text


class WorkflowBridge:
    """Creates the wrapper in moto and settles it after each call; use as a context manager."""

    def __init__(self, session: boto3.Session, definition: str, name: str, account_id: str) -> None:
        self._sfn = session.client("stepfunctions")
        self._session = session
        self._changed = threading.Condition()
        self._captured: list[dict[str, Any]] = []
        self._open_tokens: set[str] = set()
        self._expected_closed = 0
        self.executions: dict[str, str] = {}  # name -> execution ARN
        self._router: EventRouter | None = None
        self._definition, self._name, self._account = definition, name, account_id
        self.state_machine_arn = ""

    def __enter__(self) -> WorkflowBridge:
        self._undo = [self._patch_boto_client_for(), self._patch_history()]
        self.state_machine_arn = self._sfn.create_state_machine(
            name=self._name,
            definition=self._definition,
            roleArn=f"arn:aws:iam::{self._account}:role/{self._name}Role",
            type="STANDARD",
            tracingConfiguration={"enabled": True},
        )["stateMachineArn"]
        return self

    def __exit__(self, *exc: object) -> None:
        for arn in self.executions.values():
            if self._sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                self._sfn.stop_execution(executionArn=arn, error="LocalRuntimeClosed")  # frees moto's threads
        for undo in reversed(self._undo):
            undo()

    def attach(self, router: EventRouter) -> None:
        """Deliver the wrapper's events through this router (with its delivery faults, as EventBridge would)."""
        self._router = router

    @property
    def client(self) -> Any:
        """A Step Functions client for the sync-workflow adapter: each call returns once the wrapper settled."""
        return _SettlingClient(self)

    # --- what the adapter's calls do ------------------------------------------------------------------------

    def call(self, operation: str, **kwargs: Any) -> Any:
        """One call that may move the wrapper on: make it, wait for its effect, then deliver the wrapper's events."""
        try:
            response = getattr(self._sfn, operation)(**kwargs)
        except ClientError:
            self._settle()
            raise
        if operation == "start_execution":
            self.executions[kwargs["name"]] = response["executionArn"]
        elif kwargs["taskToken"] in self._open_tokens:
            self._open_tokens.discard(kwargs["taskToken"])
            self._expected_closed += 1  # the first answer to a waiting task: its outcome must show in the history
        self._settle()
        return response

    def _settle(self) -> None:
        with self._changed:
            if not self._changed.wait_for(self._settled, timeout=SETTLE_TIMEOUT_SECONDS):
                raise WorkflowDidNotSettle(f"wrapper still busy after {SETTLE_TIMEOUT_SECONDS}s: {self.executions}")
            entries, self._captured = self._captured, []
        for entry in entries:
            self._open_tokens.add(json.loads(entry["Detail"])["taskToken"])
        if self._router is not None:
            # PutEvents already succeeded for the wrapper, so only delivery faults apply (no publish failure).
            for entry in sorted(entries, key=_entry_order):
                detail = json.loads(entry["Detail"])
                self._router.put(DRWAVE_BUS, self._router.envelope(entry["Source"], entry["DetailType"], detail, []))

    def _settled(self) -> bool:
        closed = 0
        for arn in self.executions.values():
            types, length = self._history(arn)
            closed += sum(types[t] for t in TASK_CLOSED)
            if not _execution_settled(types, length):
                return False
        return closed >= self._expected_closed

    def _history(self, execution_arn: str) -> tuple[Counter[str], int | None]:
        types: Counter[str] = Counter()
        length = None
        for page in self._sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            for event in page["events"]:
                types[event["type"]] += 1
                if event["type"] == "MapStateStarted":
                    length = event["mapStateStartedEventDetails"]["length"]
        return types, length

    # --- moto hooks (called on moto's execution threads) ------------------------------------------------------

    def _capture(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        entries = json.loads(request.body or b"{}")["Entries"]  # type: ignore[arg-type]
        with self._changed:
            self._captured.extend(entries)
            self._changed.notify_all()
        body = json.dumps({"FailedEntryCount": 0, "Entries": [{"EventId": f"wf-{id(e)}"} for e in entries]})
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.1"}, _Body(body.encode()))  # type: ignore[arg-type]

    def _patch_boto_client_for(self) -> Callable[[], None]:
        original = state_task_service_events.boto_client_for

        def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            client = original(region=region, service=service, state_credentials=state_credentials)
            client.meta.events.register("before-send.events.PutEvents", self._capture)  # type: ignore[arg-type]
            return client

        state_task_service_events.boto_client_for = client_for
        return lambda: setattr(state_task_service_events, "boto_client_for", original)

    def _patch_history(self) -> Callable[[], None]:
        original = EventManager.add_event
        changed = self._changed

        def add_event(manager: EventManager, *args: Any, **kwargs: Any) -> int:
            event_id = original(manager, *args, **kwargs)
            with changed:
                changed.notify_all()
            return event_id

        EventManager.add_event = add_event  # type: ignore[method-assign,assignment]
        return lambda: setattr(EventManager, "add_event", original)


def _execution_settled(types: Counter[str], length: int | None) -> bool:
    """Ended, or every live branch of the wrapper waits on a submitted task (the ASL's only waiting points)."""
    if not types or ENDED & set(types):
        return bool(types)
    waiting = types["TaskSubmitted"] - sum(types[t] for t in TASK_CLOSED)
    if types["MapStateStarted"] and not MAP_ENDED & set(types):
        live = types["MapIterationStarted"] - sum(types[t] for t in ITERATION_ENDED)
        return types["MapIterationStarted"] == length and waiting == live > 0
    return bool(types["MapStateStarted"]) and waiting == 1  # the Map is done: only Finalise may wait


def _entry_order(entry: dict[str, Any]) -> tuple[str, int, str]:
    detail = json.loads(entry["Detail"])
    return detail.get("executionId", ""), STEP_ORDER.get(detail.get("step", ""), 9), detail.get("waveId", "")


class _SettlingClient:
    """The Step Functions calls the adapter makes, each settled by the bridge."""

    def __init__(self, bridge: WorkflowBridge) -> None:
        self._bridge = bridge

    def start_execution(self, **kwargs: Any) -> Any:
        return self._bridge.call("start_execution", **kwargs)

    def send_task_success(self, **kwargs: Any) -> Any:
        return self._bridge.call("send_task_success", **kwargs)

    def send_task_failure(self, **kwargs: Any) -> Any:
        return self._bridge.call("send_task_failure", **kwargs)
