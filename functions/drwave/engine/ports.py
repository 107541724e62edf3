"""The ports of the engine: what a handler or the control plane needs from outside, injected locally."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from drwave.core.capacity import DrsLimits

if TYPE_CHECKING:  # cold start: a function imports the adapters it uses, not every port's
    from drwave.adapters.cleanup_store import CleanupStore
    from drwave.adapters.drs import DrsGateway
    from drwave.adapters.launch_settings import Ec2LaunchTemplates
    from drwave.adapters.notifier import SnsNotifier
    from drwave.adapters.publisher import EventPublisher
    from drwave.adapters.reports import ReportArchive
    from drwave.adapters.ssm import SsmActionRunner
    from drwave.adapters.store import DynamoStore
    from drwave.adapters.trigger_environment import TriggerAdapters
    from drwave.adapters.workflow import WorkflowClient


def utc_now() -> datetime:
    """The real clock, used only on AWS."""
    return datetime.now(UTC)


@dataclass
class Dependencies:
    """Ports of the engine: adapters plus the clock."""

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
    triggers: TriggerAdapters | None = None  # schedules and failover triggers; built on first use on AWS
    reports: ReportArchive | None = None  # only the write-report function is given the report bucket
    cleanups: CleanupStore | None = None  # drill cleanup records (the state table, through its own client)

    @property
    def cleanup_store(self) -> CleanupStore:
        """The drill cleanup records; every deployed and local set of dependencies has them."""
        if self.cleanups is None:
            raise RuntimeError("no drill cleanup store configured")
        return self.cleanups

    @classmethod
    def from_environment(cls) -> Dependencies:
        """Real AWS adapters configured from the Lambda environment."""
        from drwave.adapters.environment import adapters_from_environment  # noqa: PLC0415 - cold start: first use

        aws = adapters_from_environment()
        return cls(
            store=aws.store,
            publisher=aws.publisher,
            drs_for=aws.drs_for,
            ssm_for=aws.ssm_for,
            ec2_for=aws.ec2_for,
            now=utc_now,
            limits=DrsLimits(
                active_jobs=int(os.environ.get("DRS_MAX_ACTIVE_JOBS", "20")),
                servers_in_active_jobs=int(os.environ.get("DRS_MAX_SERVERS_IN_ACTIVE_JOBS", "500")),
            ),
            account_id=os.environ["ACCOUNT_ID"],
            poll_tick_seconds=int(os.environ.get("POLL_TICK_SECONDS", "60")),
            region=os.environ.get("AWS_REGION", "us-east-1"),
            notifier=aws.notifier,
            workflow=aws.workflow,
            reports=aws.reports,
            cleanups=aws.cleanups,
        )


_cached: Dependencies | None = None


def default_dependencies() -> Dependencies:
    """Built once per Lambda container, on first use rather than at import."""
    global _cached  # noqa: PLW0603 - one set of clients per warm container is the point
    if _cached is None:
        _cached = Dependencies.from_environment()
    return _cached
