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
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from moto import mock_aws

from drwave.adapters.cleanup_store import CleanupStore
from drwave.adapters.drs import DrsGateway
from drwave.adapters.launch_settings import Ec2LaunchTemplates
from drwave.adapters.notifier import SnsNotifier
from drwave.adapters.publisher import EventPublisher
from drwave.adapters.reports import ReportArchive
from drwave.adapters.sessions import AccountSessions, Credentials
from drwave.adapters.ssm import SsmActionRunner
from drwave.adapters.store import DynamoStore
from drwave.adapters.workflow import WorkflowClient
from drwave.core.capacity import DrsLimits
from drwave.engine.log import logger as handler_logger
from drwave.engine.ports import Dependencies
from drwave.models.events import (
    ExecutionCancelRequested,
    ExecutionPauseRequested,
    ExecutionRequested,
    ExecutionResumeRequested,
    WaveGateApproved,
)
from drwave.models.execution import Execution, ExecutionType
from drwave.models.plan import PlanDocument
from drwave.models.recovery import RecoveryPoint
from drwave_local.runtime.clock import TimerHandle, VirtualClock
from drwave_local.runtime.fast_dynamodb import dynamodb_choice, fast_dynamodb
from drwave_local.runtime.moto_patches import fast_queries, fast_transactions, stream_drainer
from drwave_local.runtime.router import EventMatcher, EventRouter, Faults, load_handler
from drwave_local.runtime.scheduler import LocalTriggers
from drwave_local.runtime.template import DEFAULT_TEMPLATE, Route, StreamRoute, load_template
from drwave_local.runtime.workflow_bridge import WorkflowBridge, state_machine_definition
from drwave_local.simulators.drs import (
    PIT_SNAPSHOT_TIMER_LABEL,
    DrsSimulator,
    ServerTimeline,
    SimulatedSourceServer,
)
from drwave_local.simulators.environment import Environment, Snapshots, Timeline
from drwave_local.simulators.snapshots import SnapshotCadence
from drwave_local.simulators.ssm import ActionBehaviour, SsmSimulator

TABLE_NAME = "drwave-local-state"
# Timers that never keep the runtime busy on their own: the tick, and DRS announcing PIT snapshots.
IDLE_TIMERS = frozenset({"tick", PIT_SNAPSHOT_TIMER_LABEL})
WORKFLOW_FUNCTION = "SyncWorkflowFunction"  # mirrors executions into the Step Functions wrapper
DEFAULT_CROSS_ACCOUNT_ROLE = "drwave-drs-execution"  # the template's CrossAccountRoleName default
BUS_NAME = "drwave-local"
TOPIC_NAME = "drwave-local-notifications"  # the template's NotificationTopic
REPORT_BUCKET = "drwave-local-reports"  # the template's ReportBucket
# Seconds between retries of a stream batch that failed (Lambda retries a shard's batch right away, with backoff).
STREAM_RETRY_SECONDS = 1.0
# Retries of a failing stream batch when the template says -1 (forever): finite, so run() still terminates.
STREAM_MAX_LOCAL_RETRIES = 10


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


def _cadence(s: Snapshots) -> SnapshotCadence:
    return SnapshotCadence(s.cadence_minutes, s.history_minutes)


@dataclass
class _Batch:
    """Stream records gathering for one consumer's next invocation."""

    route: StreamRoute
    records: list[dict[str, Any]] = field(default_factory=list)
    timer: TimerHandle | None = None


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
        drs_event_delay_seconds: float = 0.0,
        drs_event_loss: float = 0.0,
        template_path: Path = DEFAULT_TEMPLATE,
        log_path: Path | None = None,
        workflow: bool = False,
        dynamodb: str | None = None,
    ) -> None:
        self.env = environment
        # "moto": boto3 clients over moto's HTTP mock; "fast": the same moto backend called in-process (see
        # fast_dynamodb). Unset: $DRWAVE_LOCAL_DYNAMODB, else moto. The CLI and the bench ask for fast.
        self.dynamodb_kind = dynamodb_choice(dynamodb, default="moto")
        self.clock = VirtualClock()
        self.template = load_template(template_path)
        self._template_dir = template_path.parent
        self.workflow: WorkflowBridge | None = None
        self._workflow_enabled = workflow
        if not workflow:  # the wrapper is optional: without it, nothing is delivered to its function
            self.template.routes = [r for r in self.template.routes if r.function != WORKFLOW_FUNCTION]
        self.faults = faults or Faults()
        self._fault_rng = random.Random(self.faults.seed + 1)
        self._ids = random.Random(environment.seed)  # reproducible, unique execution ids per runtime
        self._limits = limits or DrsLimits()
        self._hop_latency = hop_latency
        self._lose = lose_launch_results
        # aws.drs events reach the bus late and not always (EventBridge delivers AWS service events best effort):
        # each is delayed by a seeded exponential draw of this mean (capped at 10x), on top of the hop, so events
        # overtake one another; a seeded fraction never arrives (the engine's poll tick must find those out).
        self._drs_delay = drs_event_delay_seconds
        self._drs_loss = drs_event_loss
        self._drs_rng = random.Random(environment.seed + 2)
        self.drs_events_lost = 0
        self._log_path = log_path
        # moto's ASL interpreter really executes the wrapper (in threads of its own: see WorkflowBridge).
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": workflow}})
        self._tick_pending = False
        self.backoff_seconds: list[float] = []
        self.crashes = 0
        self._in_handler = False

    # --- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> LocalRuntime:
        self._mock.start()
        self._undo_fast_transactions = fast_transactions()
        self._undo_fast_queries = fast_queries()
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
            emit_event=self._emit_drs_event,
            lose_launch_results=self._lose,
            launch_template_for=self._launch_template_for,
            snapshot_cadence=_cadence(env.snapshots),
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
                    snapshots=_cadence(spec.snapshots) if spec.snapshots else None,
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
        dynamodb = self.dynamodb = (
            fast_dynamodb(session) if self.dynamodb_kind == "fast" else session.client("dynamodb")
        )
        dynamodb.create_table(**self.template.create_table_kwargs(TABLE_NAME))
        self._open_streams()
        sns = session.client("sns")
        self.notification_topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        # The template's ReportBucket: versioned, like the deployed one, so re-written reports keep their history.
        self.s3 = session.client("s3")
        self.s3.create_bucket(Bucket=REPORT_BUCKET)
        self.s3.put_bucket_versioning(Bucket=REPORT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        events = session.client("events")
        events.meta.events.register("before-send.events.PutEvents", self._put_events)  # type: ignore[arg-type]
        drs_client = session.client("drs", config=Config(retries={"total_max_attempts": 1}))
        self.drs.attach(drs_client)
        drs_client.meta.events.register("after-call.drs.StartRecovery", self._maybe_crash)
        ssm_client = session.client("ssm")
        self.ssm.attach(ssm_client)
        self._uninstall_automation = self.ssm.install_automation()
        gateway = DrsGateway(drs_client, sleep=self.backoff_seconds.append, rng=random.Random(env.seed))
        self._ec2 = session.client("ec2")
        store = DynamoStore(dynamodb, TABLE_NAME)
        # Other accounts go through real (moto) STS AssumeRole, so registration, external ids and refusals behave
        # as deployed; their DRS and SSM calls reach the same simulators, signed with the assumed credentials.
        self.sts = session.client("sts")
        self.sessions = AccountSessions(
            self.sts,
            home_account_id=env.account_id,
            lookup=store.get_target_account,
            default_role_name=DEFAULT_CROSS_ACCOUNT_ROLE,
            make_client=self._client,
            now=self.clock.now,
        )
        home = env.account_id
        schedule = self.template.schedules[0]
        self.deps = Dependencies(
            store=store,
            publisher=EventPublisher(events, BUS_NAME),
            drs_for=lambda account, region: (
                gateway
                if account == home
                else DrsGateway(self.sessions.client("drs", account, region), sleep=self.backoff_seconds.append)
            ),
            ssm_for=lambda account, region: SsmActionRunner(
                ssm_client if account == home else self.sessions.client("ssm", account, region)
            ),
            ec2_for=lambda account, region: Ec2LaunchTemplates(
                self._ec2 if account == home else self.sessions.client("ec2", account, region)
            ),
            now=self.clock.now,
            limits=self._limits,
            account_id=env.account_id,
            region=env.region,
            poll_tick_seconds=schedule.rate_seconds,
            notifier=SnsNotifier(sns, self.notification_topic_arn),
            reports=ReportArchive(self.s3, REPORT_BUCKET),
            cleanups=CleanupStore(dynamodb, TABLE_NAME),
        )
        self._tick_route = Route(schedule.function, schedule.handler, schedule.rule, "default", {})
        self.triggers = LocalTriggers(self, session, TABLE_NAME)  # Scheduler, alarms and the trigger tick
        if self._workflow_enabled:
            self._start_workflow(session)

    def _start_workflow(self, session: boto3.Session) -> None:
        """Create the template's state machine in moto; its callback events go through the router."""
        name, definition = state_machine_definition(self.template, self._template_dir, {"EventBus": BUS_NAME})
        self.workflow = WorkflowBridge(session, definition, name, self.env.account_id).__enter__()
        self.workflow.attach(self.router)
        self.deps.workflow = WorkflowClient(self.workflow.client, self.workflow.state_machine_arn)

    def _emit_drs_event(self, event: dict[str, Any]) -> None:
        """An event DRS publishes, on its way to the default bus: maybe late, maybe lost."""
        if self._drs_loss and self._drs_rng.random() < self._drs_loss:
            self.drs_events_lost += 1
            return
        if not self._drs_delay:
            self.router.put("default", event)
            return
        delay = min(self._drs_rng.expovariate(1 / self._drs_delay), 10 * self._drs_delay)
        self.clock.call_later(delay, partial(self.router.put, "default", event), label="aws.drs")

    def _client(self, service: str, region: str, credentials: Credentials | None, config: Any) -> Any:
        """A client signed with an assumed role's credentials, wired to the simulators like the home ones."""
        session = boto3.Session(
            aws_access_key_id=credentials.access_key_id if credentials else "testing",
            aws_secret_access_key=credentials.secret_access_key if credentials else "testing",
            aws_session_token=credentials.session_token if credentials else None,
            region_name=region,
        )
        client = session.client(service, config=config)  # type: ignore[call-overload]
        if service == "drs":
            self.drs.attach(client)
            client.meta.events.register("after-call.drs.StartRecovery", self._maybe_crash)
        elif service == "ssm":
            self.ssm.attach(client)
        return client

    def _launch_template_for(self, source_server_id: str, access_key_id: str | None) -> str:
        """The EC2 launch template DRS keeps per source server, made in the caller's (moto) account."""
        ec2 = (
            self._ec2
            if access_key_id in (None, "testing")
            else boto3.client(
                "ec2", region_name=self.env.region, aws_access_key_id=access_key_id, aws_secret_access_key="unused"
            )
        )
        created = ec2.create_launch_template(
            LaunchTemplateName=f"drs-{source_server_id}",
            LaunchTemplateData={"InstanceType": "t3.small", "NetworkInterfaces": [{"DeviceIndex": 0}]},
        )
        template_id: str = created["LaunchTemplate"]["LaunchTemplateId"]
        return template_id

    def __exit__(self, *exc: object) -> None:
        if self.workflow is not None:
            self.workflow.__exit__()
        self._uninstall_automation()
        self._undo_fast_queries()
        self._undo_fast_transactions()
        self._mock.stop()

    # --- operator actions ---------------------------------------------------------------------------------

    def install(self, document: PlanDocument) -> None:
        """Store the plan file's protection groups and recovery plan."""
        for group in document.protection_groups:
            self.deps.store.put_group(group)
        self.deps.store.put_plan(document.recovery_plan)
        self._poll_streams()

    def request_execution(
        self,
        plan_id: str,
        execution_type: ExecutionType = ExecutionType.DRILL,
        execution_id: str | None = None,
        recovery_point: RecoveryPoint | None = None,
    ) -> str:
        """Publish "Execution Requested", as the API or a schedule would; returns the execution id."""
        execution_id = execution_id or f"exec-{self._ids.getrandbits(48):012x}"
        self.deps.publisher.publish(
            [
                ExecutionRequested(
                    execution_id=execution_id,
                    plan_id=plan_id,
                    execution_type=execution_type,
                    started_by="local-cli",
                    recovery_point=recovery_point,
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
        self.deps.publisher.publish(
            [
                ExecutionPauseRequested(
                    execution_id=execution_id, requested_by=requested_by, requested_at=self.clock.now()
                )
            ]
        )

    def resume(self, execution_id: str, requested_by: str = "local-operator") -> None:
        """Lift a pause."""
        self.deps.publisher.publish(
            [
                ExecutionResumeRequested(
                    execution_id=execution_id, requested_by=requested_by, requested_at=self.clock.now()
                )
            ]
        )

    def execution(self, execution_id: str) -> Execution:
        """The stored execution, with its whole audit trail."""
        execution = self.deps.store.load_execution(execution_id, timeline=True)
        if execution is None:
            raise KeyError(execution_id)
        return execution

    @property
    def in_handler(self) -> bool:
        """Whether a handler is running now (the runtime's own bookkeeping calls happen outside one)."""
        return self._in_handler

    # --- the loop -----------------------------------------------------------------------------------------

    def run(self, max_virtual: timedelta = timedelta(days=2)) -> None:
        """Advance virtual time until every execution is terminal and nothing is scheduled."""
        deadline = self.clock.now() + max_virtual
        self._ensure_tick()
        self._poll_streams()
        while self.clock.step():
            if self.clock.now() > deadline:
                active = self.deps.store.active_execution_ids()
                raise RuntimeStalled(f"still active after {max_virtual} of simulated time: {', '.join(active)}")

    def settle(self) -> None:
        """After a call from outside the handlers (the served API): feed stream consumers, keep the tick alive."""
        self._poll_streams()
        if self.clock.pending(ignore_labels=IDLE_TIMERS):
            self._ensure_tick()

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
        # AWS's schedule never stops; locally it pauses only when nothing is active and nothing else is scheduled
        # (an execution request still in flight at this instant must find the tick running when it lands).
        # The clock first: it answers without a query, and while a rehearsal runs it has timers nearly always.
        store = self.deps.store
        if (
            self.clock.pending(ignore_labels=IDLE_TIMERS)
            or store.active_execution_ids()
            or store.pending_outbox()
            or self.deps.cleanup_store.pending()  # a drill's TTL is still running: the tick terminates it
        ):
            self._ensure_tick()

    def _invoke(self, route: Route | StreamRoute, event: dict[str, Any]) -> Any:
        context = _LambdaContext(route.function, str(uuid.uuid4()))
        self._in_handler = True
        try:
            return load_handler(route.handler)(event, context, self.deps)
        finally:
            self._in_handler = False
            self._poll_streams()  # what the handler wrote (even if it then failed) flows to stream consumers

    # --- DynamoDB streams (moto records them but never invokes consumers) ------------------------------------

    def _open_streams(self) -> None:
        self._stream_routes = [(route, [EventMatcher(p) for p in route.filters]) for route in self.template.streams]
        self._open_batches: dict[str, _Batch] = {}
        self._drain_stream: Callable[[], list[dict[str, Any]]] | None = None
        if not self._stream_routes:
            return
        self._stream_arn = self.dynamodb.describe_table(TableName=TABLE_NAME)["Table"]["LatestStreamArn"]
        self._drain_stream = stream_drainer(TABLE_NAME, self.env.region, self._stream_prefilter())

    def _stream_prefilter(self) -> Callable[[dict[str, Any]], bool] | None:
        """Whether some consumer takes a record, judged on its event name and keys; None when a filter looks further
        (or a consumer has none), so that every record is made."""
        routes = [patterns for _, patterns in self._stream_routes]
        if any(not patterns for patterns in routes) or not all(
            set(p.pattern) <= {"eventName", "dynamodb"} and set(p.pattern.get("dynamodb", {})) <= {"Keys"}
            for patterns in routes
            for p in patterns
        ):
            return None
        return lambda light: any(p.matches(light) for patterns in routes for p in patterns)

    def _poll_streams(self) -> None:
        """Take the stream records written since the last poll and schedule them, in order, for the consumers."""
        if self._drain_stream is None:
            return
        # What has been read is scheduled for the consumers (and retried from these copies): moto forgets it.
        records = [self._stream_record(r) for r in self._drain_stream()]
        if not records:
            return
        for route, patterns in self._stream_routes:
            matched = [r for r in records if not patterns or any(p.matches(r) for p in patterns)]
            if matched:
                self._gather(route, matched)

    def _gather(self, route: StreamRoute, records: list[dict[str, Any]]) -> None:
        """Records join the consumer's open batch, as Lambda's poller gathers them: a batch goes when its batching
        window (MaximumBatchingWindowInSeconds, at least one hop) has passed since its first record, or at once
        when it holds BatchSize records."""
        for record in records:
            batch = self._open_batches.get(route.function)
            if batch is None:
                batch = self._open_batches[route.function] = _Batch(route)
                wait = max(self.router.hop_latency, route.batching_window_seconds)
                batch.timer = self.clock.call_later(wait, partial(self._send_batch, batch), label=route.function)
            batch.records.append(record)
            if len(batch.records) >= route.batch_size:
                if batch.timer is not None:
                    batch.timer.cancel()
                del self._open_batches[route.function]
                self.clock.call_later(self.router.hop_latency, partial(self._send_batch, batch), label=route.function)

    def _send_batch(self, batch: _Batch) -> None:
        if self._open_batches.get(batch.route.function) is batch:
            del self._open_batches[batch.route.function]
        self._deliver_stream(batch.route, batch.records, 0)

    def _stream_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """A stream record as Lambda hands it to a function (epoch creation time, the stream's ARN)."""
        dynamodb = {**record["dynamodb"], "ApproximateCreationDateTime": self.clock.now().timestamp()}
        return {**record, "eventVersion": "1.1", "dynamodb": dynamodb, "eventSourceARN": self._stream_arn}

    def _deliver_stream(self, route: StreamRoute, records: list[dict[str, Any]], attempt: int) -> None:
        """One batch to the stream consumer; on failure retry from the first failed record, then give up."""
        stats = self.router.stats
        stats.invocations[route.function] += 1
        try:
            response = self._invoke(route, {"Records": records})
        except Exception as err:
            failed_from, error = 0, repr(err)
            stats.failures[route.function] += 1
            stats.errors.append(f"{route.function} (stream batch of {len(records)}): {error}")
        else:
            failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures") or []}
            if not failed:
                return
            failed_from = next(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] in failed)
            error = f"batchItemFailures: {sorted(failed)}"
        retries = route.maximum_retry_attempts
        if attempt < (retries if retries >= 0 else STREAM_MAX_LOCAL_RETRIES):
            retry = partial(self._deliver_stream, route, records[failed_from:], attempt + 1)
            self.clock.call_later(STREAM_RETRY_SECONDS, retry, label=route.function)
        else:
            stats.dead_lettered.append(
                {"function": route.function, "event": {"Records": records[failed_from:]}, "error": error}
            )

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
