"""What a handler needs from the outside world, built from the environment on AWS and injected locally."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from drwave.adapters.drs import DrsGateway
from drwave.adapters.launch_settings import Ec2LaunchTemplates
from drwave.adapters.notifier import SnsNotifier
from drwave.adapters.publisher import EventPublisher
from drwave.adapters.sessions import AccountSessions, Credentials
from drwave.adapters.ssm import SsmActionRunner
from drwave.adapters.store import DynamoStore
from drwave.adapters.workflow import WorkflowClient
from drwave.core.capacity import DrsLimits


def utc_now() -> datetime:
    """The real clock, used only on AWS."""
    return datetime.now(UTC)


@dataclass
class Dependencies:
    """Ports of the handlers: adapters plus the clock."""

    store: DynamoStore
    publisher: EventPublisher
    # (account id, region) -> adapter: another account's through an assumed role (else AccountAccessError)
    drs_for: Callable[[str, str], DrsGateway]
    ssm_for: Callable[[str, str], SsmActionRunner]
    now: Callable[[], datetime]
    limits: DrsLimits
    account_id: str
    poll_tick_seconds: int = 60
    region: str = "us-east-1"  # the stack's own region: the default of groups and inventory queries
    ec2_for: Callable[[str, str], Ec2LaunchTemplates] | None = None  # launch templates; None: EC2 settings fail
    notifier: SnsNotifier | None = None  # only the notify function is given a topic
    workflow: WorkflowClient | None = None  # only the sync-workflow function is given the state machine

    @classmethod
    def from_environment(cls) -> Dependencies:
        """Real boto3 clients configured from the Lambda environment."""
        import boto3  # noqa: PLC0415 - adapters only; kept out of module import for cold start
        from botocore.config import Config  # noqa: PLC0415

        session = boto3.Session()
        # Throttling is retried by the gateway's own backoff; botocore keeps its default for other errors.
        drs_config = Config(retries={"mode": "standard", "max_attempts": 1})
        store = DynamoStore(session.client("dynamodb"), os.environ["STATE_TABLE"])

        def make_client(service: str, region: str, credentials: Credentials | None, config: Any) -> Any:
            if credentials is None:
                return session.client(service, region_name=region, config=config)  # type: ignore[call-overload]
            return boto3.Session(
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
            ).client(service, region_name=region, config=config)  # type: ignore[call-overload]

        sessions = AccountSessions(
            session.client("sts"),
            home_account_id=os.environ["ACCOUNT_ID"],
            lookup=store.get_target_account,
            default_role_name=os.environ.get("CROSS_ACCOUNT_ROLE_NAME") or "drwave-drs-execution",
            make_client=make_client,
            now=utc_now,
            partition=session.get_partition_for_region(session.region_name or "us-east-1"),
        )
        return cls(
            store=store,
            publisher=EventPublisher(session.client("events"), os.environ["EVENT_BUS_NAME"]),
            drs_for=lambda account, region: DrsGateway(sessions.client("drs", account, region, drs_config)),
            ssm_for=lambda account, region: SsmActionRunner(sessions.client("ssm", account, region)),
            ec2_for=lambda account, region: Ec2LaunchTemplates(sessions.client("ec2", account, region)),
            now=utc_now,
            limits=DrsLimits(
                active_jobs=int(os.environ.get("DRS_MAX_ACTIVE_JOBS", "20")),
                servers_in_active_jobs=int(os.environ.get("DRS_MAX_SERVERS_IN_ACTIVE_JOBS", "500")),
            ),
            account_id=os.environ["ACCOUNT_ID"],
            poll_tick_seconds=int(os.environ.get("POLL_TICK_SECONDS", "60")),
            region=os.environ.get("AWS_REGION", "us-east-1"),
            notifier=(
                SnsNotifier(session.client("sns"), topic)
                if (topic := os.environ.get("NOTIFICATION_TOPIC_ARN"))
                else None
            ),
            workflow=(
                WorkflowClient(session.client("stepfunctions"), arn)
                if (arn := os.environ.get("STATE_MACHINE_ARN"))
                else None
            ),
        )


_cached: Dependencies | None = None


def default_dependencies() -> Dependencies:
    """Built once per Lambda container, on first use rather than at import."""
    global _cached  # noqa: PLW0603 - one set of clients per warm container is the point
    if _cached is None:
        _cached = Dependencies.from_environment()
    return _cached
