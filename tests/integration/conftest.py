"""Integration fixtures: moto-backed AWS clients, the state table built from the SAM template, and a harness
that runs the real handlers inside the local runtime one event at a time.

This directory is not a package, so test modules get everything through fixtures. Nothing here sleeps or
touches the network: moto answers AWS, the DRS simulator answers `drs`, and time is the runtime's virtual clock.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from drwave.adapters.store import DynamoStore
from drwave.models.events import EventDetail, ExecutionRequested, WaveStartRequested
from drwave.models.execution import Execution, ExecutionType
from drwave.models.plan import PlanDocument
from drwave_local.runtime.embedded import LocalRuntime
from drwave_local.runtime.template import load_template
from drwave_local.simulators.environment import Environment

REGION = "us-east-1"
ACCOUNT = "111122223333"
TABLE = "drwave-it-state"
HANDLERS = "drwave.handlers"
# With no jitter a job has ended this long after StartRecovery: 5 s start delay + 60 + 240 + 120 s of phases.
JOB_SECONDS = 5 + 60 + 240 + 120


def server_id(n: int) -> str:
    """A valid DRS source server id (s- + 17 digits)."""
    return f"s-{n:017d}"


def create_table_kwargs(table_name: str) -> dict[str, Any]:
    """CreateTable arguments derived from the SAM template's table properties (as the local runtime does)."""
    return load_template().create_table_kwargs(table_name)


# --- plain AWS (moto) ---------------------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A boto3 session whose every call moto answers."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


@pytest.fixture
def dynamodb(aws: boto3.Session) -> Any:
    """A DynamoDB client with the state table created from the template."""
    client = aws.client("dynamodb")
    client.create_table(**create_table_kwargs(TABLE))
    return client


@pytest.fixture
def store(dynamodb: Any) -> DynamoStore:
    return DynamoStore(dynamodb, TABLE)


# --- handlers in the local runtime --------------------------------------------------------------------------


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str
    aws_request_id: str = "req-0001"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:drwave-it"


@dataclass
class RecordingBus:
    """Stands in for EventBridge delivery: keeps every event put on a bus instead of invoking targets,
    so a test decides which handler sees which event, and when."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def put(self, bus: str, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of(self, detail_type: str) -> list[dict[str, Any]]:
        """Details of the recorded events of one detail-type, oldest first, without their outbox event id
        (it depends on the saved version; `event_ids` and the outbox tests check it)."""
        return [
            {k: v for k, v in e["detail"].items() if k != "eventId"}
            for e in self.events
            if e["detail-type"] == detail_type
        ]

    def event_ids(self, detail_type: str) -> list[str | None]:
        """The outbox event ids of one detail-type's recorded events, oldest first."""
        return [e["detail"].get("eventId") for e in self.events if e["detail-type"] == detail_type]

    def raw(self, detail_type: str) -> list[dict[str, Any]]:
        """Whole envelopes of one detail-type, oldest first."""
        return [e for e in self.events if e["detail-type"] == detail_type]

    def detail_types(self) -> list[str]:
        return [e["detail-type"] for e in self.events]

    def clear(self) -> None:
        self.events.clear()


class HandlerCrashed(RuntimeError):
    """The Lambda running start_wave died (timeout, out of memory) at an awkward moment."""


class DyingGateway:
    """The real DRS gateway, except that its Lambda dies just before or just after StartRecovery."""

    def __init__(self, real: Any, *, after_start: bool) -> None:
        self._real = real
        self._after_start = after_start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def start_recovery(self, server_ids: list[str], *, is_drill: bool, tags: dict[str, str], **more: Any) -> Any:
        if self._after_start:
            self._real.start_recovery(server_ids, is_drill=is_drill, tags=tags, **more)
        raise HandlerCrashed("died around StartRecovery, before the job was recorded")


class Harness:
    """The real handlers, their real adapters (moto + simulators) and a virtual clock, driven by hand."""

    def __init__(self, runtime: LocalRuntime, bus: RecordingBus) -> None:
        self.rt = runtime
        self.bus = bus
        self._delivered: set[tuple[str, int]] = set()

    # --- invoking handlers ---

    def invoke(self, handler: str, event: dict[str, Any]) -> Any:
        """Call `drwave.handlers.<handler>.handler` with an event, a context and the runtime's dependencies."""
        module = importlib.import_module(f"{HANDLERS}.{handler}")
        return module.handler(event, FakeLambdaContext(function_name=handler), self.rt.deps)

    def envelope(
        self, source: str, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None
    ) -> dict[str, Any]:
        return self.rt.router.envelope(source, detail_type, detail, resources or [])

    def send(self, handler: str, detail: EventDetail | dict[str, Any], detail_type: str | None = None) -> Any:
        """Deliver one drwave event (a contract model, or a raw detail dict with its detail-type)."""
        if isinstance(detail, EventDetail):
            detail_type = detail.DETAIL_TYPE
            detail = detail.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert detail_type is not None
        return self.invoke(handler, self.envelope("drwave", detail_type, detail))

    def tick(self) -> Any:
        """One poll tick of the reconciler."""
        return self.invoke("reconcile", self.envelope("aws.events", "Scheduled Event", {}, ["rule/PollTick"]))

    # --- state and time ---

    def execution(self, execution_id: str) -> Execution:
        return self.rt.execution(execution_id)

    def stored(self, execution_id: str) -> str:
        """The stored execution as JSON, version included: equal strings mean nothing was written."""
        execution = self.rt.execution(execution_id)
        return f"{execution.version}:{execution.model_dump_json()}"

    def advance(self, seconds: float) -> None:
        """Move virtual time on; DRS and SSM simulators emit their events onto the recording bus."""
        self.rt.clock.advance_to(self.rt.clock.now() + timedelta(seconds=seconds))

    def advance_by(self, delta: timedelta) -> None:
        self.rt.clock.advance_to(self.rt.clock.now() + delta)

    @property
    def drs_calls(self) -> Any:
        return self.rt.drs.calls

    # --- common story steps ---

    def request(self, execution_id: str = "exe-0001", plan_id: str = "plan-it", kind: str = "DRILL") -> Any:
        return self.send(
            "start_execution",
            ExecutionRequested(
                execution_id=execution_id, plan_id=plan_id, execution_type=ExecutionType(kind), started_by="it"
            ),
        )

    def start_wave(self, execution_id: str, wave_id: str) -> Any:
        return self.send("start_wave", WaveStartRequested(execution_id=execution_id, wave_id=wave_id))

    def launch_dies(self, execution_id: str, wave_id: str, *, after_start_recovery: bool) -> None:
        """Deliver "Wave Start Requested" to a start_wave whose Lambda dies around StartRecovery."""
        real = self.rt.deps.drs_for
        self.rt.deps.drs_for = lambda a, r: DyingGateway(real(a, r), after_start=after_start_recovery)
        try:
            with pytest.raises(HandlerCrashed):
                self.start_wave(execution_id, wave_id)
        finally:
            self.rt.deps.drs_for = real

    def launch_results(self) -> list[dict[str, Any]]:
        """Every aws.drs launch-result event emitted so far."""
        return self.bus.raw("DRS Source Server Launch Result")

    def deliver_new(self, detail_type: str, handler: str) -> int:
        """Deliver to `handler` every recorded event of this detail-type it has not been given yet; the count."""
        fresh = [e for e in self.bus.raw(detail_type) if (handler, id(e)) not in self._delivered]
        for event in fresh:
            self._delivered.add((handler, id(event)))
            self.invoke(handler, event)
        return len(fresh)

    def run_wave(self, execution_id: str, wave_id: str) -> None:
        """Launch a wave, let DRS finish its jobs, and deliver DRS's launch results to track_launch."""
        self.start_wave(execution_id, wave_id)
        self.advance(JOB_SECONDS)
        self.deliver_new("DRS Source Server Launch Result", "track_launch")


def one_wave_plan(servers: list[str], **wave: Any) -> dict[str, Any]:
    """A plan document (wire format) with one protection group and one wave over it."""
    return {
        "protectionGroups": [{"id": "pg-app", "name": "App", "sourceServerIds": servers}],
        "recoveryPlan": {
            "id": "plan-it",
            "name": "Integration plan",
            "waves": [{"id": "app", "protectionGroupIds": ["pg-app"], **wave}],
        },
    }


def two_wave_plan(db: list[str], app: list[str], **app_wave: Any) -> dict[str, Any]:
    """db first, then app (which depends on db)."""
    return {
        "protectionGroups": [
            {"id": "pg-db", "name": "Databases", "sourceServerIds": db},
            {"id": "pg-app", "name": "App", "sourceServerIds": app},
        ],
        "recoveryPlan": {
            "id": "plan-it",
            "name": "Integration plan",
            "waves": [
                {"id": "db", "protectionGroupIds": ["pg-db"]},
                {"id": "app", "protectionGroupIds": ["pg-app"], "dependsOn": ["db"], **app_wave},
            ],
        },
    }


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Harness]]:
    """`harness(plan_document, servers=3, fail_at={}, tags={}, actions={})`: a started runtime with the plan
    installed; source servers are server_id(1..servers), `fail_at` and `tags` are keyed by server id."""
    opened: list[LocalRuntime] = []

    def build(
        plan: dict[str, Any],
        servers: int = 3,
        fail_at: dict[str, str] | None = None,
        tags: dict[str, dict[str, str]] | None = None,
        actions: dict[str, dict[str, Any]] | None = None,
    ) -> Harness:
        fail_at, tags = fail_at or {}, tags or {}
        environment = Environment.model_validate(
            {
                "accountId": ACCOUNT,
                "region": REGION,
                "seed": 11,
                "jitter": 0,
                "jobStartDelaySeconds": 5,
                "sourceServers": [
                    {
                        "id": server_id(n),
                        "hostname": f"host-{n}",
                        "failAt": fail_at.get(server_id(n)),
                        "tags": tags.get(server_id(n), {}),
                    }
                    for n in range(1, servers + 1)
                ],
                "actions": actions or {},
            }
        )
        runtime = LocalRuntime(environment)
        runtime.__enter__()
        opened.append(runtime)
        bus = RecordingBus()
        monkeypatch.setattr(runtime.router, "put", bus.put)
        runtime.install(PlanDocument.model_validate(plan))
        return Harness(runtime, bus)

    yield build
    for runtime in reversed(opened):
        runtime.__exit__(None, None, None)


@pytest.fixture(scope="session")
def sid() -> Callable[[int], str]:
    return server_id


@pytest.fixture(scope="session")
def one_wave() -> Callable[..., dict[str, Any]]:
    return one_wave_plan


@pytest.fixture(scope="session")
def two_waves() -> Callable[..., dict[str, Any]]:
    return two_wave_plan


@pytest.fixture(scope="session")
def job_seconds() -> int:
    return JOB_SECONDS
