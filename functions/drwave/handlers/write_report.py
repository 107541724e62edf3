"""Write-report: an ended execution's evidence report (HTML, Markdown, JSON) into the stack's report bucket.

Triggered by "Execution Finished", and again by "Drill Cleaned Up" so the stored report records the cleanup
(the bucket is versioned: the first version stays). Writing the same content again is harmless.
"""

from __future__ import annotations

from typing import Any

from drwave.core.evidence import build_evidence
from drwave.engine.log import logger
from drwave.engine.ports import Dependencies, default_dependencies
from drwave.handlers.common import detail_of


@logger.inject_lambda_context(correlation_id_path="detail.executionId", clear_state=True)
def handler(event: dict[str, Any], context: Any, deps: Dependencies | None = None) -> dict[str, Any]:
    """Entry point; returns where the report went (or why it did not)."""
    deps = deps or default_dependencies()
    execution_id = str(detail_of(event)["executionId"])
    if deps.reports is None:
        logger.warning("no report bucket configured", execution_id=execution_id)
        return {"executionId": execution_id, "written": False}
    execution = deps.store.load_execution(execution_id, timeline=True)
    if execution is None or not execution.status.terminal:
        return {"executionId": execution_id, "written": False}
    cleanup = deps.cleanup_store.load(execution_id)
    evidence = build_evidence(execution, cleanup=cleanup, generated_at=deps.now())
    versions = deps.reports.put(evidence)
    logger.info("evidence report written", execution_id=execution_id, content_sha256=evidence["contentSha256"])
    return {"executionId": execution_id, "written": True, "contentSha256": evidence["contentSha256"], **versions}
