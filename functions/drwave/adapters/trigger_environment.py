"""The trigger adapters (trigger store, Scheduler) from the Lambda environment, built on first use."""

from __future__ import annotations

import os
from dataclasses import dataclass

from drwave.adapters.scheduler import SchedulerGateway, SchedulerTarget
from drwave.adapters.trigger_store import TriggerStore


@dataclass(frozen=True)
class TriggerAdapters:
    """What the trigger function and the control plane need for schedules and triggers."""

    store: TriggerStore
    scheduler: SchedulerGateway | None  # only functions that manage schedules are given Scheduler


def trigger_adapters_from_environment() -> TriggerAdapters:
    """Boto3 clients for the state table and, when configured, the stack's schedule group."""
    from drwave.adapters import aws  # noqa: PLC0415 - real AWS only: the container's session and clients

    scheduler = None
    if group := os.environ.get("SCHEDULE_GROUP_NAME"):
        target = SchedulerTarget(
            group_name=group,
            function_arn=os.environ["TRIGGER_FUNCTION_ARN"],
            role_arn=os.environ["SCHEDULER_ROLE_ARN"],
            dead_letter_arn=os.environ["SCHEDULER_DEAD_LETTER_ARN"],
        )
        scheduler = SchedulerGateway(aws.client("scheduler"), target)
    return TriggerAdapters(TriggerStore(aws.client("dynamodb"), os.environ["STATE_TABLE"]), scheduler)
