"""The web console in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright's Python
package against a real `drwave serve` on a free port with an accelerated clock.

Skipped with the reason when Chromium or the `playwright` package is missing. Playwright is only the driver here: it
never downloads a browser (`executable_path` is the system Chromium).
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from drwave_local.server.app import ServeOptions, serve

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "console"
RETAIL_PLAN = ROOT / "examples" / "retail-plan.yaml"
RETAIL_ENVIRONMENT = ROOT / "examples" / "retail-environment.yaml"
READY_SECONDS = 60
# Fast enough for a whole drill in ~20 s, slow enough that the web wave's 30-minute gate stays open ~12 s.
SPEED = 150.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the console's browser tests need `pip install playwright`"
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium: apt-get install -y chromium (Debian) to run browser tests"
    ),
]


class Stack:
    """A running `drwave serve`: its URL, what it printed, and how to stop it."""

    def __init__(self, url: str, lines: list[str], stop: threading.Event, thread: threading.Thread) -> None:
        self.url, self.lines, self._stop, self._thread = url, lines, stop, thread

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(READY_SECONDS)
        assert not self._thread.is_alive()

    def api(self, method: str, path: str, body: Any = None, role: str = "admin") -> tuple[int, Any]:
        """Call the API like the CLI does (no browser), as `role`."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("X-Drwave-Role", role)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def start_stack() -> Iterator[Callable[..., Stack]]:
    """`start_stack(port=...)` serves the retail environment and plan until the test ends."""
    running: list[Stack] = []

    def start(port: int | None = None) -> Stack:
        options = ServeOptions(
            environment=RETAIL_ENVIRONMENT, plan=RETAIL_PLAN, port=port or free_port(), speed=SPEED, role="admin"
        )
        ready, stop, lines, found = threading.Event(), threading.Event(), [], {}

        def on_ready(stack: Any) -> None:
            found["url"] = stack.url
            ready.set()

        def run() -> None:
            try:
                serve(options, out=lines.append, stop=stop, on_ready=on_ready)
            finally:
                ready.set()

        thread = threading.Thread(target=run, name="test-console-serve", daemon=True)
        thread.start()
        assert ready.wait(READY_SECONDS), "the stack did not start"
        assert "url" in found, f"the stack failed to start: {lines}"
        stack = Stack(found["url"], lines, stop, thread)
        running.append(stack)
        return stack

    yield start
    for stack in running:
        if stack._thread.is_alive():
            stack.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    yield opened
    context.close()


def choose_role(page: Any, role: str) -> None:
    page.get_by_label("Local identity").select_option(role)
    sync_api.expect(page.locator("#whoami")).to_contain_text(f"({role})")


def test_operator_runs_the_example_drill_from_the_page_and_approves_the_gate(start_stack, page):
    # GIVEN the local stack with the retail plan, and the console open as an operator
    stack = start_stack()
    page.goto(f"{stack.url}/#/plans")
    choose_role(page, "operator")
    page.evaluate("window.__loadedOnce = true")  # gone if anything reloads the page
    # WHEN the operator starts a DRILL from the plan's card
    page.get_by_role("button", name="Start DRILL").click()
    # THEN the execution page opens and shows the waves changing state live
    page.wait_for_url("**/#/executions/*")
    identity = page.locator("#wave-identity")
    seen: set[str] = set()
    for _ in range(200):
        status = identity.get_attribute("data-status")
        if status:
            seen.add(status)
        if status and status.startswith("COMPLETED"):
            break
        page.wait_for_timeout(100)
    assert "COMPLETED" in seen and len(seen) >= 2, seen
    sync_api.expect(page.locator(".graph .node[data-wave='identity']")).to_have_attribute("data-status", "COMPLETED")
    # WHEN the web wave's gate opens, the operator approves it with the button
    approve = page.get_by_role("button", name="Approve wave web")
    approve.wait_for(timeout=60_000)
    sync_api.expect(page.locator(".gate")).to_contain_text("smoke tests")
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "gate.png"))
    approve.click()
    # THEN the execution ends COMPLETED_WITH_WARNINGS, and the failed optional server shows its reason
    summary = page.locator("#summary")
    sync_api.expect(summary).to_have_attribute("data-status", "COMPLETED_WITH_WARNINGS", timeout=90_000)
    execution_id = page.url.rsplit("/", 1)[-1]
    _, wave = stack.api("GET", f"/executions/{execution_id}/waves/web")
    failed = [s for s in wave["sourceServers"] if s.get("launchStatus") == "FAILED"]
    assert [s["sourceServerId"] for s in failed] == ["s-0a1b2c3d4e5f60020"]
    row = page.locator("[data-table='servers-web'] tr", has_text="s-0a1b2c3d4e5f60020")
    sync_api.expect(row).to_contain_text("FAILED")
    sync_api.expect(row).to_contain_text(failed[0]["error"])
    sync_api.expect(page.locator("#wave-web")).to_contain_text("Approved by")
    sync_api.expect(summary).to_contain_text("RTO")
    sync_api.expect(page.locator("[data-table='timeline']")).to_contain_text("web")
    # AND the drill's instances may be terminated; no control button remains on an ended execution
    sync_api.expect(page.get_by_role("button", name="Terminate recovery instances")).to_be_visible()
    assert page.get_by_role("button", name="Pause").count() == 0
    assert page.evaluate("window.__loadedOnce") is True
    page.screenshot(path=str(OUT / "execution.png"), full_page=True)


def test_viewer_sees_no_action_buttons_and_forged_requests_are_refused(start_stack, browser, page):
    # GIVEN a drill an operator started, waiting at the web wave's gate
    stack = start_stack()
    status, started = stack.api("POST", "/executions", {"planId": "retail-dr", "executionType": "DRILL"}, "operator")
    assert status == 202, started
    execution_id = started["executionId"]
    # WHEN a viewer opens it in the console
    page.goto(f"{stack.url}/#/plans")
    choose_role(page, "viewer")
    sync_api.expect(page.get_by_role("button", name="Run pre-flight")).to_be_visible()
    assert page.get_by_role("button", name="Start DRILL").count() == 0
    assert page.get_by_role("button", name="Start RECOVERY").count() == 0
    page.goto(f"{stack.url}/#/executions/{execution_id}")
    web = page.locator("#wave-web")
    sync_api.expect(web).to_have_attribute("data-status", "WAITING_APPROVAL", timeout=60_000)
    # THEN the page shows the waiting gate but no button at all
    assert page.locator("main button").count() == 0
    # WHEN the viewer forges the approval from the page itself
    forged = page.evaluate(
        """async (path) => {
            const r = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json',
                                         'X-Drwave-Role': 'viewer'}, body: '{}'});
            return [r.status, await r.json()];
        }""",
        f"/executions/{execution_id}/waves/web/approve",
    )
    # THEN the API refuses it for the role
    assert forged[0] == 403 and forged[1]["error"] == "FORBIDDEN", forged
    # AND a form-like (text/plain) write from the page is refused before any route sees it
    simple = page.evaluate(
        "async (path) => (await fetch(path, {method: 'POST', body: '{}', headers: {'Content-Type': 'text/plain'}}))"
        ".status",
        f"/executions/{execution_id}/cancel",
    )
    assert simple == 415
    # AND a page of another origin cannot cancel it either (its CORS preflight and its no-cors write are refused)
    attacker = other_origin_page(stack.url, execution_id)
    try:
        evil = browser.new_page()
        evil.goto(attacker.url)
        evil.wait_for_function("window.forged && window.forged.done")  # both fetches have settled
        outcome = evil.evaluate("window.forged")
        evil.close()
    finally:
        attacker.stop()
    assert outcome["cors"] == "refused", outcome
    _, execution = stack.api("GET", f"/executions/{execution_id}", role="viewer")
    assert execution["status"] not in ("CANCELLING", "CANCELLED"), execution
    assert execution["waves"][-1]["status"] == "WAITING_APPROVAL"


def test_the_page_survives_the_server_restarting(start_stack, page):
    # GIVEN the executions page open against a running stack
    port = free_port()
    stack = start_stack(port=port)
    page.goto(f"{stack.url}/#/executions")
    sync_api.expect(page.get_by_role("heading", name="Executions")).to_be_visible()
    banner = page.locator("#connection")
    sync_api.expect(banner).to_be_hidden()
    # WHEN the server stops
    stack.stop()
    # THEN the page says the connection is lost and keeps retrying
    sync_api.expect(banner).to_be_visible(timeout=15_000)
    sync_api.expect(banner).to_contain_text("retrying")
    # WHEN it comes back on the same port
    start_stack(port=port)
    # THEN the page recovers on its own, without a reload
    sync_api.expect(banner).to_be_hidden(timeout=20_000)
    sync_api.expect(page.get_by_text("No executions match")).to_be_visible()


class _Attacker:
    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread
        self.url = f"http://localhost:{server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def other_origin_page(target: str, execution_id: str) -> _Attacker:
    """A page on another origin (another port) that tries to cancel the execution on the local stack."""
    script = f"""<!doctype html><title>evil</title><script>
    window.forged = {{}};
    (async () => {{
      try {{ await fetch('{target}/executions/{execution_id}/cancel', {{method: 'POST',
               headers: {{'Content-Type': 'application/json'}}, body: '{{}}'}}); window.forged.cors = 'sent'; }}
      catch (e) {{ window.forged.cors = 'refused'; }}
      try {{ await fetch('{target}/executions/{execution_id}/cancel', {{method: 'POST', mode: 'no-cors',
               body: '{{}}'}}); window.forged.noCors = 'sent'; }}
      catch (e) {{ window.forged.noCors = 'failed'; }}
      window.forged.done = true;
    }})();
    </script>"""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = script.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return _Attacker(server, thread)
