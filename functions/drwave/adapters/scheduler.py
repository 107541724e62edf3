"""EventBridge Scheduler: one schedule per drill schedule, in the stack's schedule group, invoking the trigger function.

The Input carries Scheduler's own `<aws.scheduler.scheduled-time>`, so every delivery of one occurrence (Scheduler
retries, duplicates) names the same scheduled time and therefore the same drill execution id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from drwave.models.triggers import DrillSchedule

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
INPUT_KEY = "drwaveSchedule"  # how the trigger function recognises a Scheduler delivery


class SchedulerError(Exception):
    """Scheduler refused a request."""


def schedule_name(schedule_id: str) -> str:
    """The Scheduler schedule of a drill schedule."""
    return f"drill-{schedule_id}"


@dataclass(frozen=True)
class SchedulerTarget:
    """Where schedules deliver, and how: the stack's group, function, role, dead-letter queue and retries."""

    group_name: str
    function_arn: str
    role_arn: str
    dead_letter_arn: str
    maximum_retry_attempts: int = 3
    maximum_event_age_seconds: int = 3600


class SchedulerGateway:
    """Creates, replaces and deletes drwave's schedules (CRUD only: Scheduler itself fires them)."""

    def __init__(self, client: Any, target: SchedulerTarget) -> None:
        self._scheduler = client
        self._target = target

    def put(self, schedule: DrillSchedule) -> None:
        """Create the schedule, or replace it when it exists."""
        request = self._request(schedule)
        try:
            try:
                self._scheduler.create_schedule(**request)
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConflictException":
                    raise
                self._scheduler.update_schedule(**request)
        except ClientError as err:
            raise SchedulerError(f"{err.response['Error']['Code']}: {err}") from err

    def delete(self, schedule_id: str) -> None:
        """Delete the schedule; a no-op if it is already gone."""
        try:
            self._scheduler.delete_schedule(Name=schedule_name(schedule_id), GroupName=self._target.group_name)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise SchedulerError(f"{err.response['Error']['Code']}: {err}") from err

    def _request(self, schedule: DrillSchedule) -> dict[str, Any]:
        target = self._target
        return {
            "Name": schedule_name(schedule.id),
            "GroupName": target.group_name,
            "ScheduleExpression": schedule.schedule_expression,
            "ScheduleExpressionTimezone": schedule.timezone,
            "State": "ENABLED" if schedule.enabled else "DISABLED",
            "Description": f"drwave drill of plan {schedule.plan_id}"[:512],
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": target.function_arn,
                "RoleArn": target.role_arn,
                "Input": json.dumps({INPUT_KEY: {"scheduleId": schedule.id, "scheduledTime": SCHEDULED_TIME}}),
                "RetryPolicy": {
                    "MaximumRetryAttempts": target.maximum_retry_attempts,
                    "MaximumEventAgeInSeconds": target.maximum_event_age_seconds,
                },
                "DeadLetterConfig": {"Arn": target.dead_letter_arn},
            },
        }
