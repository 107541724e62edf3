"""The embedded local runtime: moto + the DRS and SSM simulators + the template-driven router + a virtual clock.

The deployed handler code runs unchanged; only its clients and clock come from here.
"""

from __future__ import annotations

import io
import json
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from moto import mock_aws

from drwave.adapters.drs import DrsGateway
from drwave.adapters.publisher import EventPublisher
from drwave.adapters.ssm import SsmActionRunner
from drwave.adapters.store import DynamoStore
from drwave.core.capacity import DrsLimits
from drwave.handlers.common import logger as handler_logger
from drwave.handlers.deps import Dependencies
from drwave.models.events import (
    ExecutionCancelRequested,
    ExecutionPauseRequested,
    ExecutionRequested,
    ExecutionResumeRequested,
    WaveGateApproved,
)
from drwave.models.execution import Execution, ExecutionType
from drwave.models.plan import PlanDocument
from drwave_local.clock import VirtualClock
from drwave_local.drs_simulator import DrsSimulator, ServerTimeline, SimulatedSourceServer
from drwave_local.environment import Environment, Timeline
from drwave_local.moto_patches import fast_transactions
from drwave_local.router import EventRouter, Faults, load_handler
from drwave_local.ssm_simulator import ActionBehaviour, SsmSimulator
from drwave_local.template import DEFAULT_TEMPLATE, Route, load_template

TABLE_NAME = "drwave-local-state"
BUS_NAME = "drwave-local"


class RuntimeStalled(RuntimeError):
    """The simulation ran past its virtual-time budget with executions still active."""


@dataclass
class _LambdaContext:
    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = ""


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def _timeline(t: Timeline | None) -> ServerTimeline | None:
    return None if t is None else ServerTimeline(t.snapshot_seconds, t.conversion_seconds, t.launch_seconds)


class LocalRuntime:
    """One simulated account+region running the real handlers; use as a context manager."""

    def __init__(
        self,
        environment: Environment,
        *,
        faults: Faults | None = None,
        hop_latency: float = 0.25,
        limits: DrsLimits | None = None,
        lose_launch_results: float = 0.0,
        template_path: Path = DEFAULT_TEMPLATE,
        log_path: Path | None = None,
    ) -> None:
        self.env = environment
        self.clock = VirtualClock()
        self.template = load_template(template_path)
        self.faults = faults or Faults()
        self._fault_rng = random.Random(self.faults.seed + 1)
        self._ids = random.Random(environment.seed)  # reproducible, unique execution ids per runtime
        self._limits = limits or DrsLimits()
        self._hop_latency = hop_latency
        self._lose = lose_launch_results
        self._log_path = log_path
        self._mock = mock_aws()
        self._tick_pending = False
        self.backoff_seconds: list[float] = []
        self.crashes = 0
        self._in_handler = False

    # --- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> LocalRuntime:
        self._mock.start()
        self._undo_fast_transactions = fast_transactions()
        self._uninstall_automation: Callable[[], None] = lambda: None
        try:
            self._start()
        except BaseException:
            # A half-started runtime must not leak moto's patching into the next one.
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        self._configure_logging()
        env = self.env
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=env.region)
        self.router = EventRouter(
            self.clock,
            self.template,
            self._invoke,
            account_id=env.account_id,
            region=env.region,
            hop_latency=self._hop_latency,
            faults=self.faults,
        )
        self.drs = DrsSimulator(
            self.clock,
            account_id=env.account_id,
            region=env.region,
            seed=env.seed,
            default_timeline=_timeline(env.default_timeline),
            jitter=env.jitter,
            job_start_delay_seconds=env.job_start_delay_seconds,
            emit_event=lambda event: self.router.put("default", event),
            lose_launch_results=self._lose,
        )
        for spec in env.source_servers:
            self.drs.add_source_server(
                SimulatedSourceServer(
                    spec.id,
                    spec.hostname,
                    dict(spec.tags),
                    spec.replication_state,
                    _timeline(spec.timeline),
                    spec.fail_at,
                )
            )
        self.ssm = SsmSimulator(
            self.clock,
            lambda detail_type, detail, resources: self.router.put(
                "default", self.router.envelope("aws.ssm", detail_type, detail, resources)
            ),
            {name: ActionBehaviour(a.duration_seconds, a.outcome) for name, a in env.actions.items()},
            seed=env.seed,
        )
        dynamodb = self.dynamodb = session.client("dynamodb")
        dynamodb.create_table(**self.template.create_table_kwargs(TABLE_NAME))
        events = session.client("events")
        events.meta.events.register("before-send.events.PutEvents", self._put_events)  # type: ignore[arg-type]
        drs_client = session.client("drs", config=Config(retries={"total_max_attempts": 1}))
        self.drs.attach(drs_client)
        drs_client.meta.events.register("after-call.drs.StartRecovery", self._maybe_crash)
        ssm_client = session.client("ssm")
        self.ssm.attach(ssm_client)
        self._uninstall_automation = self.ssm.install_automation()
        gateway = DrsGateway(drs_client, sleep=self.backoff_seconds.append, rng=random.Random(env.seed))
        schedule = self.template.schedules[0]
        self.deps = Dependencies(
            store=DynamoStore(dynamodb, TABLE_NAME),
            publisher=EventPublisher(events, BUS_NAME),
            drs_for=lambda _account, _region: gateway,
            ssm_for=lambda _account, _region: SsmActionRunner(ssm_client),
            now=self.clock.now,
            limits=self._limits,
            account_id=env.account_id,
            poll_tick_seconds=schedule.rate_seconds,
        )
        self._tick_route = Route(schedule.function, schedule.handler, schedule.rule, "default", {})

    def __exit__(self, *exc: object) -> None:
        self._uninstall_automation()
        self._undo_fast_transactions()
        self._mock.stop()

    # --- operator actions ---------------------------------------------------------------------------------

    def install(self, document: PlanDocument) -> None:
        """Store the plan file's protection groups and recovery plan."""
        for group in document.protection_groups:
            self.deps.store.put_group(group)
        self.deps.store.put_plan(document.recovery_plan)

    def request_execution(
        self, plan_id: str, execution_type: ExecutionType = ExecutionType.DRILL, execution_id: str | None = None
    ) -> str:
        """Publish "Execution Requested", as the API or a schedule would; returns the execution id."""
        execution_id = execution_id or f"exec-{self._ids.getrandbits(48):012x}"
        self.deps.publisher.publish(
            [
                ExecutionRequested(
                    execution_id=execution_id, plan_id=plan_id, execution_type=execution_type, started_by="local-cli"
                )
            ]
        )
        self._ensure_tick()
        return execution_id

    def approve(self, execution_id: str, wave_id: str, approved_by: str = "local-operator") -> None:
        """Approve a waiting gate."""
        self.deps.publisher.publish(
            [WaveGateApproved(execution_id=execution_id, wave_id=wave_id, approved_by=approved_by)]
        )

    def cancel(self, execution_id: str, requested_by: str = "local-operator") -> None:
        """Request cancellation."""
        self.deps.publisher.publish([ExecutionCancelRequested(execution_id=execution_id, requested_by=requested_by)])

    def pause(self, execution_id: str, requested_by: str = "local-operator") -> None:
        """Hold the execution: in-flight work finishes, no new wave opens."""
        self.deps.publisher.publish([ExecutionPauseRequested(execution_id=execution_id, requested_by=requested_by)])

    def resume(self, execution_id: str, requested_by: str = "local-operator") -> None:
        """Lift a pause."""
        self.deps.publisher.publish([ExecutionResumeRequested(execution_id=execution_id, requested_by=requested_by)])

    def execution(self, execution_id: str) -> Execution:
        """The stored execution."""
        execution = self.deps.store.load_execution(execution_id)
        if execution is None:
            raise KeyError(execution_id)
        return execution

    # --- the loop -----------------------------------------------------------------------------------------

    def run(self, max_virtual: timedelta = timedelta(days=2)) -> None:
        """Advance virtual time until every execution is terminal and nothing is scheduled."""
        deadline = self.clock.now() + max_virtual
        self._ensure_tick()
        while self.clock.step():
            if self.clock.now() > deadline:
                active = self.deps.store.active_execution_ids()
                raise RuntimeStalled(f"still active after {max_virtual} of simulated time: {', '.join(active)}")

    def _ensure_tick(self) -> None:
        if not self._tick_pending:
            self._tick_pending = True
            self.clock.call_later(self.deps.poll_tick_seconds, self._tick, label="tick")

    def _tick(self) -> None:
        self._tick_pending = False
        event = self.router.envelope("aws.events", "Scheduled Event", {}, [f"rule/{self._tick_route.rule}"])
        self.router.stats.invocations[self._tick_route.function] += 1
        try:
            self._invoke(self._tick_route, event)
        except Exception:
            self.router.stats.failures[self._tick_route.function] += 1
        if self.deps.store.active_execution_ids():
            self._ensure_tick()

    def _invoke(self, route: Route, event: dict[str, Any]) -> None:
        context = _LambdaContext(route.function, str(uuid.uuid4()))
        self._in_handler = True
        try:
            load_handler(route.handler)(event, context, self.deps)
        finally:
            self._in_handler = False

    def _crash_now(self) -> bool:
        """Whether to inject a handler crash at this point (only inside handlers, never in the operator's calls)."""
        if (
            self._in_handler
            and self.faults.crash_after_save
            and self._fault_rng.random() < self.faults.crash_after_save
        ):
            self.crashes += 1
            return True
        return False

    # --- AWS plumbing -------------------------------------------------------------------------------------

    def _put_events(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        """PutEvents lands on the router (moto's EventBridge never invokes Lambda targets)."""
        if self._crash_now():
            raise RuntimeError("injected crash: handler died after saving, before publishing")
        entries = json.loads(request.body or b"{}")["Entries"]  # type: ignore[arg-type]
        accepted = self.router.put_entries(entries)
        result = [
            {"EventId": str(uuid.uuid4())} if ok else {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}
            for ok in accepted
        ]
        payload = json.dumps({"FailedEntryCount": accepted.count(False), "Entries": result}).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.1"}, _Body(payload))  # type: ignore[arg-type]

    def _maybe_crash(self, **_: Any) -> None:
        """Fault: StartRecovery succeeded in DRS but the handler died before recording the job."""
        if self._crash_now():
            raise RuntimeError("injected crash: handler died after StartRecovery, before saving the job")

    def _configure_logging(self) -> None:
        """Handler logs go to a file (or are quietened) so the console shows progress, not JSON."""
        handler = handler_logger.registered_handler
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            handler.setStream(self._log_path.open("w", encoding="utf-8"))  # type: ignore[attr-defined]
        else:
            handler_logger.setLevel(logging.ERROR)
