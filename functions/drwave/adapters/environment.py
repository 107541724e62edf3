"""The real AWS adapters, built once from the Lambda environment (the only place that creates AWS clients)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from drwave.adapters import aws
from drwave.adapters.cleanup_store import CleanupStore
from drwave.adapters.publisher import EventPublisher
from drwave.adapters.sessions import AccountSessions, Credentials
from drwave.adapters.store import DynamoStore

if TYPE_CHECKING:  # cold start: the adapters a function may never use are imported when first asked for
    from drwave.adapters.drs import DrsGateway
    from drwave.adapters.launch_settings import Ec2LaunchTemplates
    from drwave.adapters.notifier import SnsNotifier
    from drwave.adapters.reports import ReportArchive
    from drwave.adapters.ssm import SsmActionRunner
    from drwave.adapters.workflow import WorkflowClient


@dataclass(frozen=True)
class EnvironmentAdapters:
    """Every adapter a function may be given, with cross-account clients built per (account, region)."""

    store: DynamoStore
    publisher: EventPublisher
    drs_for: Callable[[str, str], DrsGateway]
    ssm_for: Callable[[str, str], SsmActionRunner]
    ec2_for: Callable[[str, str], Ec2LaunchTemplates]
    notifier: SnsNotifier | None
    workflow: WorkflowClient | None
    cleanups: CleanupStore
    reports: ReportArchive | None


class _OnFirstUse:
    """A client made when first used: only cross-account work assumes a role, so most functions never need STS."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)


def _drs(client: Any) -> DrsGateway:
    from drwave.adapters.drs import DrsGateway  # noqa: PLC0415 - cold start: first use

    return DrsGateway(client)


def _ssm(client: Any) -> SsmActionRunner:
    from drwave.adapters.ssm import SsmActionRunner  # noqa: PLC0415 - cold start: first use

    return SsmActionRunner(client)


def _ec2(client: Any) -> Ec2LaunchTemplates:
    from drwave.adapters.launch_settings import Ec2LaunchTemplates  # noqa: PLC0415 - cold start: first use

    return Ec2LaunchTemplates(client)


def _publisher(bus: str | None) -> EventPublisher:
    # Only the functions that publish are given the bus (and events:PutEvents): the others build no client for it.
    return EventPublisher(aws.client("events"), bus) if bus else EventPublisher.unconfigured()


def _notifier(topic: str | None) -> SnsNotifier | None:
    if not topic:
        return None
    from drwave.adapters.notifier import SnsNotifier  # noqa: PLC0415 - only the functions given a topic

    return SnsNotifier(aws.client("sns"), topic)


def _workflow(state_machine: str | None) -> WorkflowClient | None:
    if not state_machine:
        return None
    from drwave.adapters.workflow import WorkflowClient  # noqa: PLC0415 - only the function given the machine

    return WorkflowClient(aws.client("stepfunctions"), state_machine)


def _reports(bucket: str | None) -> ReportArchive | None:
    if not bucket:
        return None
    from drwave.adapters.reports import ReportArchive  # noqa: PLC0415 - only the functions that write reports

    return ReportArchive(aws.client("s3"), bucket)


def adapters_from_environment() -> EnvironmentAdapters:
    """Botocore clients for the stack's table, bus, topic, state machine and report bucket (one session and one client
    per service for the container), and assumed-role clients per account."""
    from botocore.config import Config  # noqa: PLC0415 - kept out of module import for cold start

    session = aws.session()
    # Throttling is retried by the gateway's own backoff; botocore keeps its default for other errors.
    drs_config = Config(retries={"mode": "standard", "max_attempts": 1})
    table = os.environ["STATE_TABLE"]
    store = DynamoStore(aws.client("dynamodb"), table)

    def make_client(service: str, region: str, credentials: Credentials | None, config: Any) -> Any:
        # One session for every account: an assumed role's client shares the loaded models, not the credentials.
        if credentials is None:
            return session.create_client(service, region_name=region, config=config)
        return session.create_client(
            service,
            region_name=region,
            config=config,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
        )

    sessions = AccountSessions(
        _OnFirstUse(lambda: aws.client("sts")),
        home_account_id=os.environ["ACCOUNT_ID"],
        lookup=store.get_target_account,
        default_role_name=os.environ.get("CROSS_ACCOUNT_ROLE_NAME") or "drwave-drs-execution",
        make_client=make_client,
        now=lambda: datetime.now(UTC),
        partition=session.get_partition_for_region(aws.region()),
    )
    return EnvironmentAdapters(
        store=store,
        publisher=_publisher(os.environ.get("EVENT_BUS_NAME")),
        drs_for=lambda account, region: _drs(sessions.client("drs", account, region, drs_config)),
        ssm_for=lambda account, region: _ssm(sessions.client("ssm", account, region)),
        ec2_for=lambda account, region: _ec2(sessions.client("ec2", account, region)),
        notifier=_notifier(os.environ.get("NOTIFICATION_TOPIC_ARN")),
        workflow=_workflow(os.environ.get("STATE_MACHINE_ARN")),
        cleanups=CleanupStore(aws.client("dynamodb"), table),  # the store's client: one table, one client
        reports=_reports(os.environ.get("REPORT_BUCKET")),
    )
