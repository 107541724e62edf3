"""Step Functions callbacks of the visual wrapper: start its execution, complete the task tokens it waits on."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

# A token already completed, timed out or belonging to a stopped execution: a duplicate or late event did its work.
SPENT_TOKEN_ERRORS = frozenset({"InvalidToken", "TaskDoesNotExist", "TaskTimedOut"})
MAX_ERROR = 256  # SendTaskFailure limits
MAX_CAUSE = 32768


class WorkflowError(Exception):
    """Step Functions refused a call for a reason other than a duplicate."""


class WorkflowClient:
    """The wrapper's state machine, driven by execution name (= drwave execution id) and task tokens."""

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._sfn = client
        self._arn = state_machine_arn

    def start(self, name: str, payload: dict[str, Any]) -> bool:
        """Start the execution called `name`; False if it already exists (started by an earlier delivery)."""
        try:
            self._sfn.start_execution(stateMachineArn=self._arn, name=name, input=json.dumps(payload))
        except ClientError as err:
            if err.response["Error"]["Code"] == "ExecutionAlreadyExists":
                return False
            raise WorkflowError(str(err)) from err
        return True

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        """SendTaskSuccess; False if the token was already spent."""
        return self._call("send_task_success", taskToken=token, output=json.dumps(output))

    def fail(self, token: str, error: str, cause: str) -> bool:
        """SendTaskFailure; False if the token was already spent."""
        return self._call("send_task_failure", taskToken=token, error=error[:MAX_ERROR], cause=cause[:MAX_CAUSE])

    def _call(self, operation: str, **kwargs: Any) -> bool:
        try:
            getattr(self._sfn, operation)(**kwargs)
        except ClientError as err:
            if err.response["Error"]["Code"] in SPENT_TOKEN_ERRORS:
                return False
            raise WorkflowError(str(err)) from err
        return True
