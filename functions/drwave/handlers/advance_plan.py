"""Advance-plan: the dependency graph. Opens waves whose dependencies completed, honours gates,
stops on failure, cancels, and finishes the execution.

Triggered by "Wave Completed", "Wave Failed", "Wave Gate Approved" and the operator's cancel, pause and resume.
"""

from __future__ import annotations

from typing import Any

from drwave.core import messages as m
from drwave.engine.log import logger
from drwave.engine.loop import apply
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.common import InvalidEvent, detail_of
from drwave.models.events import (
    ExecutionCancelRequested,
    ExecutionPauseRequested,
    ExecutionResumeRequested,
    WaveCompleted,
    WaveFailed,
    WaveGateApproved,
    parse_detail,
)


@logger.inject_lambda_context(correlation_id_path="detail.executionId", clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> None:
    """Translate the event into a planner message and apply it."""
    deps = deps or default_dependencies()
    detail = parse_detail(str(event.get("detail-type")), detail_of(event))
    message: m.Message
    match detail:
        case WaveCompleted() | WaveFailed():
            message = m.WaveFinished(detail.wave_id)
        case WaveGateApproved():
            message = m.GateApproved(detail.wave_id, detail.approved_by)
        case ExecutionCancelRequested():
            message = m.CancelRequested(detail.requested_by)
        case ExecutionPauseRequested():
            message = m.PauseRequested(detail.requested_by, detail.requested_at)
        case ExecutionResumeRequested():
            message = m.ResumeRequested(detail.requested_by, detail.requested_at)
        case _:
            raise InvalidEvent(f"detail-type: advance-plan does not handle {detail.DETAIL_TYPE!r}")
    apply(deps, detail.execution_id, [message])
