"""The functions' structured logger, in a module of its own: a function that never decides (notify, project-status,
sync-workflow, cleanup, reports) logs without importing the decision core along with the engine loop."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="drwave")
