"""What a handler needs from the outside world, built from the environment on AWS and injected locally."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from drwave.adapters.drs import DrsGateway
from drwave.adapters.publisher import EventPublisher
from drwave.adapters.ssm import SsmActionRunner
from drwave.adapters.store import DynamoStore
from drwave.core.capacity import DrsLimits


def utc_now() -> datetime:
    """The real clock, used only on AWS."""
    return datetime.now(UTC)


@dataclass
class Dependencies:
    """Ports of the handlers: adapters plus the clock."""

    store: DynamoStore
    publisher: EventPublisher
    drs_for: Callable[[str, str], DrsGateway]  # (account id, region) -> gateway
    ssm_for: Callable[[str, str], SsmActionRunner]
    now: Callable[[], datetime]
    limits: DrsLimits
    account_id: str
    poll_tick_seconds: int = 60

    @classmethod
    def from_environment(cls) -> Dependencies:
        """Real boto3 clients configured from the Lambda environment."""
        import boto3  # noqa: PLC0415 - adapters only; kept out of module import for cold start
        from botocore.config import Config  # noqa: PLC0415

        session = boto3.Session()
        # Throttling is retried by the gateway's own backoff; botocore keeps its default for other errors.
        drs_config = Config(retries={"mode": "standard", "max_attempts": 1})
        return cls(
            store=DynamoStore(session.client("dynamodb"), os.environ["STATE_TABLE"]),
            publisher=EventPublisher(session.client("events"), os.environ["EVENT_BUS_NAME"]),
            drs_for=lambda _account, region: DrsGateway(session.client("drs", region_name=region, config=drs_config)),
            ssm_for=lambda _account, region: SsmActionRunner(session.client("ssm", region_name=region)),
            now=utc_now,
            limits=DrsLimits(
                active_jobs=int(os.environ.get("DRS_MAX_ACTIVE_JOBS", "20")),
                servers_in_active_jobs=int(os.environ.get("DRS_MAX_SERVERS_IN_ACTIVE_JOBS", "500")),
            ),
            account_id=os.environ["ACCOUNT_ID"],
            poll_tick_seconds=int(os.environ.get("POLL_TICK_SECONDS", "60")),
        )


_cached: Dependencies | None = None


def default_dependencies() -> Dependencies:
    """Built once per Lambda container, on first use rather than at import."""
    global _cached  # noqa: PLW0603 - one set of clients per warm container is the point
    if _cached is None:
        _cached = Dependencies.from_environment()
    return _cached
