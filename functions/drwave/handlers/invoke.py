"""Direct-invocation entry points (`aws lambda invoke`, Step Functions `lambda:invoke`): one per owner.

IAM's lambda:InvokeFunction already decides who may call a function; the role the control plane enforces is
the function's configured DIRECT_INVOCATION_ROLE (defaults: query viewer, execution operator, data admin).
"""

from __future__ import annotations

import os
from typing import Any

from drwave.control.invoke import Owner, invoke
from drwave.control.roles import Caller, Role
from drwave.control.service import ControlPlane
from drwave.engine.log import logger
from drwave.engine.ports import Dependencies, default_dependencies

DEFAULT_ROLES = {Owner.QUERY: Role.VIEWER, Owner.EXECUTION: Role.OPERATOR, Owner.DATA: Role.ADMIN}


def _run(owner: Owner, event: Any, context: Any, deps: Dependencies | None) -> Any:
    role = Role(os.environ.get("DIRECT_INVOCATION_ROLE", DEFAULT_ROLES[owner].value))
    caller = Caller(f"lambda:{getattr(context, 'function_name', owner.value)}", role)
    operation = event.get("operation") if isinstance(event, dict) else None
    logger.append_keys(execution_id=event.get("executionId") if isinstance(event, dict) else None)
    result = invoke(ControlPlane(deps or default_dependencies()), caller, owner, event)
    if isinstance(result, dict) and "error" in result:
        logger.info("operation refused", operation=operation, error=result["error"])
    return result


@logger.inject_lambda_context(clear_state=True)
def query(event: Any, context: Any, deps: Dependencies | None = None) -> Any:
    """Read operations: groups, plans, executions, waves, DRS servers, target accounts, pre-flight."""
    return _run(Owner.QUERY, event, context, deps)


@logger.inject_lambda_context(clear_state=True)
def execution(event: Any, context: Any, deps: Dependencies | None = None) -> Any:
    """Lifecycle operations: start, cancel, pause, resume, approve, recovery instances."""
    return _run(Owner.EXECUTION, event, context, deps)


@logger.inject_lambda_context(clear_state=True)
def data_management(event: Any, context: Any, deps: Dependencies | None = None) -> Any:
    """Definitions and bookkeeping: groups, plans, target accounts, initialise/finalise, error log."""
    return _run(Owner.DATA, event, context, deps)
