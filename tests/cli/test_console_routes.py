"""The console's read-model routes and static files on a real `drwave serve` (no browser needed)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drwave_local.server.app import ServeOptions, serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def url() -> Iterator[str]:
    """The retail stack with its plan loaded, at a speed where a drill ends within seconds."""
    options = ServeOptions(
        environment=ROOT / "examples" / "retail-environment.yaml",
        plan=ROOT / "examples" / "retail-plan.yaml",
        port=0,
        speed=2_000,
    )
    ready, stop, found = threading.Event(), threading.Event(), {}

    def on_ready(stack: Any) -> None:
        found["url"] = stack.url
        ready.set()

    thread = threading.Thread(target=lambda: serve(options, out=lambda _: None, stop=stop, on_ready=on_ready))
    thread.start()
    assert ready.wait(60)
    yield found["url"]
    stop.set()
    thread.join(60)


def request(url: str, path: str, role: str = "admin", **headers: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url + path, headers={"X-Drwave-Role": role, **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def start_drill(url: str) -> str:
    body = json.dumps({"planId": "retail-dr"}).encode()
    req = urllib.request.Request(
        url + "/executions", data=body, headers={"Content-Type": "application/json", "X-Drwave-Role": "operator"}
    )
    with urllib.request.urlopen(req, timeout=30) as response:
        return str(json.loads(response.read())["executionId"])


def wait_for(url: str, execution_id: str, wanted: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, body = request(url, f"/console/executions/{execution_id}")
        view = json.loads(body)
        if status == 200 and (view["summary"] or {}).get("status") in wanted:
            return view
        time.sleep(0.2)
    raise AssertionError(f"{execution_id} never reached {wanted}")


def test_execution_view_is_the_projection_with_graph_actions_and_etag(url):
    # GIVEN a drill waiting at the web wave's gate
    execution_id = start_drill(url)
    view = wait_for(url, execution_id, {"WAITING_APPROVAL"})
    # THEN the view has the plan's wave graph with each wave's projected state and servers
    waves = {w["waveId"]: w for w in view["waves"]}
    assert waves["web"]["dependsOn"] == ["orders", "payments"] and waves["web"]["gate"]["timeoutMinutes"] == 30
    assert waves["web"]["state"]["status"] == "WAITING_APPROVAL" and waves["web"]["state"]["gateOpenedAt"]
    assert {s["launchStatus"] for s in waves["identity"]["servers"]} == {"LAUNCHED"}
    # AND an operator may approve and cancel (the gate, not an operator, holds it: no resume)
    actions = view["actions"]
    assert (actions["approve"], actions["cancel"], actions["pause"], actions["resume"]) == (["web"], True, True, False)
    # AND a viewer may do nothing, under another ETag
    status, headers, body = request(url, f"/console/executions/{execution_id}", role="viewer")
    seen = json.loads(body)["actions"]
    assert status == 200 and not any(seen.values()), seen
    assert headers["ETag"] != view["etag"]
    # AND the same read model answers 304 to its own ETag
    status, headers, body = request(url, f"/console/executions/{execution_id}", **{"If-None-Match": view["etag"]})
    assert (status, body, headers["ETag"]) == (304, b"", view["etag"])


def test_executions_list_newest_first_with_summaries_and_capacity(url):
    # GIVEN a drill of the retail plan
    first = start_drill(url)
    wait_for(url, first, {"WAITING_APPROVAL"})
    # WHEN the console lists executions of the plan
    status, _, body = request(url, "/console/executions?planId=retail-dr&executionType=DRILL", role="viewer")
    items = json.loads(body)["items"]
    # THEN each carries its projected summary
    assert status == 200 and items[0]["executionId"] == first
    assert items[0]["summary"]["wavesTotal"] == 5
    # AND the capacity view names the stack's account and Region
    status, _, body = request(url, "/console/capacity", role="viewer")
    capacity = json.loads(body)["items"]
    assert status == 200 and capacity[0]["maxActiveJobs"] == 20
    assert (capacity[0]["accountId"], capacity[0]["region"]) == ("111122223333", "us-east-1")
    # AND a bad filter is the API's usual 400
    assert request(url, "/console/executions?status=SLEEPING")[0] == 400


def test_console_files_are_served_with_a_strict_policy_and_nothing_else(url):
    # WHEN the console's page and script are fetched
    status, headers, body = request(url, "/")
    # THEN they are served with a content security policy
    assert status == 200 and b"/ui/app.js" in body
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert request(url, "/ui/app.js")[1]["Content-Type"].startswith("text/javascript")
    # AND nothing outside the bundle is reachable through /ui/
    assert request(url, "/ui/../console.py")[0] == 404
    assert request(url, "/ui/%2e%2e/app.py")[0] == 404
    assert request(url, "/ui/missing.js")[0] == 404
