"""`drwave executions report` against the local stack: GET /executions/{id}/report in html, md and json."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drwave_local.cli.main import main
from drwave_local.server.app import ServeOptions, serve

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = ROOT / "examples" / "retail-environment.yaml"
PLAN = """\
protectionGroups:
  - { id: pg-r, name: R, sourceServerIds: [s-0a1b2c3d4e5f60001, s-0a1b2c3d4e5f60015] }
recoveryPlan:
  id: reported
  name: Reported plan
  targetRtoMinutes: 60
  waves:
    - { id: only, protectionGroupIds: [pg-r], targetRtoMinutes: 30 }
"""


@pytest.fixture
def url() -> Iterator[str]:
    """A local stack on an ephemeral port whose clock runs 100,000 times faster than the wall clock."""
    ready, stop, lines, found = threading.Event(), threading.Event(), [], {}

    def on_ready(stack: Any) -> None:
        found["url"] = stack.url
        ready.set()

    def run() -> None:
        try:
            serve(
                ServeOptions(environment=ENVIRONMENT, port=0, speed=100_000),
                out=lines.append,
                stop=stop,
                on_ready=on_ready,
            )
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="test-serve-report", daemon=True)
    thread.start()
    assert ready.wait(60) and "url" in found, f"the stack did not start: {lines}"
    yield found["url"]
    stop.set()
    thread.join(60)


def test_a_finished_drill_is_saved_as_html_markdown_and_json_evidence(url, tmp_path, capsys):
    # GIVEN a drill of a small plan with objectives, run to its end on the local stack
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    assert main(["plans", "create", "-f", str(plan), "--url", url]) == 0
    assert main(["executions", "start", "reported", "--watch", "--interval", "0.05", "--url", url]) == 0
    capsys.readouterr()
    assert main(["executions", "list", "--json", "--url", url]) == 0
    execution_id = json.loads(capsys.readouterr().out)["items"][0]["executionId"]
    # WHEN its report is saved in each format
    files = {fmt: tmp_path / f"report.{fmt}" for fmt in ("html", "md", "json")}
    for fmt, path in files.items():
        assert main(["executions", "report", execution_id, "--format", fmt, "-o", str(path), "--url", url]) == 0
    # THEN the JSON is the evidence document, and the HTML and Markdown carry its hash and the objectives
    evidence = json.loads(files["json"].read_text())
    assert evidence["executionId"] == execution_id and evidence["status"] == "COMPLETED"
    assert [o["met"] for o in evidence["objectives"] if o["kind"] == "RTO"] == [True]
    html = files["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and '<svg xmlns="http://www.w3.org/2000/svg" id="gantt"' in html
    for text in (html, files["md"].read_text()):
        assert evidence["contentSha256"] in text and "PASS" in text
    # AND a report of an unknown execution is a refused request (exit 2)
    assert main(["executions", "report", "exec-nope", "--format", "json", "--url", url]) == 2


def report_once_cleanup_is_scheduled(execution_id: str, url: str, capsys: Any) -> dict[str, Any]:
    """The JSON report, once the cleanup exists: "Execution Finished" schedules it one event hop after the execution
    ends, which is when `--watch` returns, so a report asked for at once may still show none."""
    deadline = time.monotonic() + 60
    while True:
        assert main(["executions", "report", execution_id, "--format", "json", "--url", url]) == 0
        evidence: dict[str, Any] = json.loads(capsys.readouterr().out)
        if evidence["cleanup"]["status"] != "NONE" or time.monotonic() > deadline:
            return evidence
        time.sleep(0.05)  # the stack's clock runs 100,000 times faster: one hop is 2.5 microseconds of wall time


def test_a_drill_started_from_the_cli_recovers_to_a_point_in_time_with_a_ttl(url, tmp_path, capsys):
    # GIVEN the small plan on the local stack
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("id: reported", "id: pit").replace("pg-r", "pg-p"))
    assert main(["plans", "create", "-f", str(plan), "--url", url]) == 0
    capsys.readouterr()
    # WHEN a drill to a point an hour before the simulated start is started with a TTL of one day
    args = ["executions", "start", "pit", "--recover-to", "2026-01-05T08:00:00Z", "--drill-ttl-minutes", "1440"]
    assert main([*args, "--watch", "--interval", "0.05", "--url", url]) == 0
    capsys.readouterr()
    assert main(["executions", "list", "--json", "--url", url]) == 0
    execution_id = next(e["executionId"] for e in json.loads(capsys.readouterr().out)["items"] if e["planId"] == "pit")
    evidence = report_once_cleanup_is_scheduled(execution_id, url, capsys)
    # THEN every server launched from a snapshot at or before that instant, and its cleanup is scheduled
    servers = [s for w in evidence["waves"] for s in w["servers"]]
    assert evidence["recoveryPoint"]["mode"] == "POINT_IN_TIME"
    assert all(s["recoverySnapshotId"] and s["snapshotTakenAt"] <= "2026-01-05T08:00:00Z" for s in servers)
    assert evidence["cleanup"]["status"] == "SCHEDULED" and evidence["cleanup"]["ttlMinutes"] == 1440
