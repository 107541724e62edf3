"""`drwave serve` and the CLI commands that talk to it: the local stack driven over real HTTP on localhost.

Each test starts the stack in-process (its HTTP server and clock threads) on an ephemeral port and waits on a
readiness event; the CLI is `drwave_local.cli.main`, its output captured.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drwave_local.cli.client import ApiClient
from drwave_local.cli.main import main
from drwave_local.server.app import ServeOptions, serve

ROOT = Path(__file__).resolve().parents[2]
RETAIL_PLAN = ROOT / "examples" / "retail-plan.yaml"
RETAIL_ENVIRONMENT = ROOT / "examples" / "retail-environment.yaml"
SMALL_PLAN = """\
protectionGroups:
  - { id: pg-a, name: A, sourceServerIds: [s-0a1b2c3d4e5f60001] }
  - { id: pg-b, name: B, sourceServerIds: [s-0a1b2c3d4e5f60015] }
recoveryPlan:
  id: small
  name: Small plan
  waves:
    - { id: first, protectionGroupIds: [pg-a] }
    - id: second
      dependsOn: [first]
      protectionGroupIds: [pg-b]
"""
# The same plan with an approval gate that waits long enough (7 simulated days) for the test to approve it.
GATED_PLAN = (
    SMALL_PLAN.replace("id: small", "id: gated")
    .replace("pg-a", "pg-ga")
    .replace("pg-b", "pg-gb")
    .replace(
        "      protectionGroupIds: [pg-gb]\n",
        "      protectionGroupIds: [pg-gb]\n      pauseBeforeWave: { timeoutMinutes: 10080 }\n",
    )
)
READY_SECONDS = 60


class Stack:
    """A running local stack: its URL and what it printed."""

    def __init__(self, url: str, lines: list[str]) -> None:
        self.url = url
        self.lines = lines

    def cli(self, *argv: str) -> int:
        """`drwave ARGV --url URL`."""
        return main([*argv, "--url", self.url])


@pytest.fixture
def start_stack() -> Iterator[Callable[..., Stack]]:
    """`start_stack(speed=..., plan=...)` serves the retail environment until the test ends."""
    running: list[tuple[threading.Event, threading.Thread]] = []

    def start(speed: float = 60.0, plan: Path | None = None) -> Stack:
        options = ServeOptions(environment=RETAIL_ENVIRONMENT, plan=plan, port=0, speed=speed)
        ready, stop, lines, found = threading.Event(), threading.Event(), [], {}

        def on_ready(stack: Any) -> None:
            found["url"] = stack.url
            ready.set()

        def run() -> None:
            try:
                serve(options, out=lines.append, stop=stop, on_ready=on_ready)
            finally:
                ready.set()  # also when it failed to start: the test must not wait for nothing

        thread = threading.Thread(target=run, name="test-serve", daemon=True)
        thread.start()
        running.append((stop, thread))
        assert ready.wait(READY_SECONDS), "the stack did not start"
        assert "url" in found, f"the stack failed to start: {lines}"
        return Stack(found["url"], lines)

    yield start
    for stop, thread in running:
        stop.set()
        thread.join(READY_SECONDS)
        assert not thread.is_alive()


@pytest.fixture
def plan_file(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "plan.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_plan_file_creates_its_groups_and_plan_and_passes_preflight(start_stack, capsys):
    # GIVEN an empty local stack
    stack = start_stack()
    # WHEN the example plan file is created
    assert stack.cli("plans", "create", "-f", str(RETAIL_PLAN)) == 0
    out = capsys.readouterr().out
    # THEN its groups are created first, then the plan
    assert "protection group pg-identity: created" in out
    assert "created recovery plan retail-dr" in out
    # AND listing shows them
    assert stack.cli("groups", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert {g["id"] for g in listed["items"]} >= {"pg-identity", "pg-databases", "pg-web", "pg-monitoring"}
    assert stack.cli("plans", "list") == 0
    assert "retail-dr" in capsys.readouterr().out
    # AND pre-flight finds nothing in the way
    assert stack.cli("preflight", "retail-dr") == 0
    assert "pre-flight of retail-dr: OK (5 waves" in capsys.readouterr().out
    # AND creating it again keeps the existing groups and refuses the duplicate plan (exit 2, CONFLICT)
    assert stack.cli("plans", "create", "-f", str(RETAIL_PLAN)) == 2
    captured = capsys.readouterr()
    assert "protection group pg-identity: exists, kept" in captured.out
    assert "CONFLICT" in captured.err
    assert "retail-dr already exists" in captured.err


def test_a_drill_is_watched_to_completion(start_stack, plan_file, capsys):
    # GIVEN a stack whose clock runs 100,000 times faster than the wall clock, and a small plan
    stack = start_stack(speed=100_000)
    assert stack.cli("plans", "create", "-f", str(plan_file(SMALL_PLAN))) == 0
    capsys.readouterr()
    # WHEN an operator starts a drill and watches it
    code = stack.cli("executions", "start", "small", "--watch", "--interval", "0.05", "--role", "operator")
    # THEN it ends COMPLETED, exit 0, with live wave lines and a final summary
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "requested DRILL exec-" in captured.out
    assert "first" in captured.out
    assert "second" in captured.out
    assert "-> COMPLETED" in captured.out
    assert "done: COMPLETED after" in captured.out
    # AND the execution is listed, with its launched instances, started by the caller of the identity switch
    assert stack.cli("executions", "list", "--json") == 0
    [execution] = json.loads(capsys.readouterr().out)["items"]
    assert (execution["planId"], execution["status"]) == ("small", "COMPLETED")
    assert stack.cli("executions", "get", execution["executionId"], "--json") == 0
    assert json.loads(capsys.readouterr().out)["startedBy"] == "local-user"
    assert stack.cli("executions", "instances", execution["executionId"]) == 0
    assert "2 recovery instance(s)" in capsys.readouterr().out
    assert stack.cli("executions", "timeline", execution["executionId"]) == 0
    assert "EVENT" in capsys.readouterr().out
    # AND the server printed the execution's state changes
    assert any(execution["executionId"] in line and line.endswith(": COMPLETED") for line in stack.lines)


def test_a_gate_is_approved_from_the_cli_while_the_drill_is_watched(start_stack, plan_file, capsys):
    # GIVEN a plan whose second wave waits for approval
    stack = start_stack(speed=2_000)
    assert stack.cli("plans", "create", "-f", str(plan_file(GATED_PLAN))) == 0
    approved: list[int] = []
    done = threading.Event()

    def approve_when_waiting() -> None:
        client = ApiClient(stack.url)
        while not done.wait(0.05):
            items = client.get("/executions")["items"]
            if not items:
                continue
            view = client.get(f"/executions/{items[0]['executionId']}")
            if any(w["waveId"] == "second" and w["status"] == "WAITING_APPROVAL" for w in view["waves"]):
                approved.append(stack.cli("executions", "approve", view["executionId"], "second", "--user", "bob"))
                return

    operator = threading.Thread(target=approve_when_waiting, daemon=True)
    operator.start()
    # WHEN the drill is started and watched while another operator approves the gate
    try:
        code = stack.cli("executions", "start", "gated", "--watch", "--interval", "0.05")
    finally:
        done.set()
        operator.join(READY_SECONDS)
    # THEN the watch saw the gate, the approval went through, and the execution completed
    captured = capsys.readouterr()
    assert approved == [0], captured.err
    assert "WAITING_APPROVAL" in captured.out
    assert "approve second: ACCEPTED" in captured.out
    assert code == 0, captured.err
    assert "done: COMPLETED" in captured.out


def test_a_viewer_may_read_but_not_start(start_stack, capsys):
    # GIVEN the example plan pre-loaded by the server
    stack = start_stack(plan=RETAIL_PLAN)
    # WHEN a viewer lists plans THEN it may
    assert stack.cli("plans", "list", "--role", "viewer") == 0
    capsys.readouterr()
    # WHEN a viewer starts a drill THEN exit 2 and FORBIDDEN on stderr, naming the role
    assert stack.cli("executions", "start", "retail-dr", "--role", "viewer") == 2
    err = capsys.readouterr().err
    assert "FORBIDDEN (403)" in err
    assert "viewer" in err
    # AND an unknown role is no role at all
    assert stack.cli("plans", "list", "--role", "root") == 2
    assert "FORBIDDEN" in capsys.readouterr().err


def test_invoke_routes_each_operation_to_the_function_that_owns_it(start_stack, capsys):
    stack = start_stack(plan=RETAIL_PLAN)
    # WHEN a query operation is invoked THEN the query function answers it
    assert stack.cli("invoke", '{"operation": "list_protection_groups"}') == 0
    groups = json.loads(capsys.readouterr().out)["protectionGroups"]
    assert len(groups) == 6
    # AND a data-management operation goes to the data-management function (the query one would refuse it)
    group = {"operation": "create_protection_group", "id": "pg-extra", "name": "Extra"}
    group["sourceServerIds"] = ["s-0a1b2c3d4e5f60003"]
    assert stack.cli("invoke", json.dumps(group)) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "pg-extra"
    # AND forcing the wrong function is refused, naming the owner
    assert stack.cli("invoke", '{"operation": "list_protection_groups"}', "--function", "execution") == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "INVALID_OPERATION"
    assert "belongs to the query function" in captured.out
    # AND an unknown operation is INVALID_OPERATION (exit 2)
    assert stack.cli("invoke", '{"operation": "drop_everything"}') == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "INVALID_OPERATION"
    assert "INVALID_OPERATION" in captured.err
    # AND a payload that is not JSON never leaves the CLI
    assert stack.cli("invoke", "{operation") == 2
    assert "payload: not valid JSON" in capsys.readouterr().err


def test_a_bad_file_names_the_file_and_the_field(start_stack, plan_file, capsys):
    stack = start_stack()
    # GIVEN a plan file whose wave lacks its protection groups
    broken = plan_file(SMALL_PLAN.replace("    - { id: first, protectionGroupIds: [pg-a] }\n", "    - { id: first }\n"))
    # WHEN it is created THEN exit 2 naming the file, the field path in the file and the reason
    assert stack.cli("plans", "create", "-f", str(broken)) == 2
    err = capsys.readouterr().err
    assert f"{broken}: recoveryPlan.waves[0].protectionGroupIds: is required" in err
    assert "Traceback" not in err
    # AND a group file with an unknown field names it
    group = plan_file("id: pg-x\nname: X\nsourceServerIds: [s-0a1b2c3d4e5f60003]\ncolour: blue\n", "group.yaml")
    assert stack.cli("groups", "create", "-f", str(group)) == 2
    assert f"{group}: colour: is not a known field" in capsys.readouterr().err
    # AND a file that is not YAML names the file, before anything is sent
    garbled = plan_file("recoveryPlan: [\n", "garbled.yaml")
    assert stack.cli("plans", "create", "-f", str(garbled)) == 2
    assert f"{garbled}: not valid YAML/JSON" in capsys.readouterr().err
    # AND a missing file too
    assert stack.cli("groups", "create", "-f", str(garbled.with_name("absent.yaml"))) == 2
    assert "absent.yaml: cannot read" in capsys.readouterr().err


def test_nothing_listening_exits_1_with_a_hint_to_start_the_server(capsys):
    # GIVEN a port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # WHEN any client command runs against it THEN exit 1 and a hint to start the stack
    assert main(["plans", "list", "--url", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the drwave API" in err
    assert "drwave serve" in err


def test_serve_runs_as_a_process_and_stops_cleanly_on_sigterm():
    # GIVEN `drwave serve` in its own process on any free port, with the example plan
    script = "import sys; from drwave_local.cli.main import main; sys.exit(main(sys.argv[1:]))"
    args = ["serve", "--port", "0", "--plan", str(RETAIL_PLAN), "--speed", "600"]
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        banner = []
        for line in process.stdout:  # ends if the process dies
            banner.append(line)
            if line.startswith("Ctrl-C to stop."):
                break
        text = "".join(banner)
        assert "listening on http://127.0.0.1:" in text, process.stderr.read() if process.stderr else text
        assert "plan: retail-dr" in text
        url = text.split("listening on ", 1)[1].split()[0]
        # WHEN a client reads from it
        assert ApiClient(url).get("/recovery-plans")["items"][0]["id"] == "retail-dr"
        # AND it is sent SIGTERM
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=READY_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # THEN it stops cleanly
    assert process.returncode == 0, err
    assert out.rstrip().endswith("stopped")
    assert "Traceback" not in err


def _request(url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    """One raw HTTP request: (status, JSON body)."""
    import http.client  # noqa: PLC0415
    from urllib.parse import urlsplit  # noqa: PLC0415

    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_a_page_of_another_site_cannot_start_an_execution_on_the_local_stack(start_stack):
    # GIVEN the local stack with the example plan
    stack = start_stack(plan=RETAIL_PLAN)
    start = json.dumps({"planId": "retail-dr"}).encode()
    attempts = [
        ({"Content-Type": "application/json", "Origin": "https://evil.example"}, start, 403, "Origin"),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, start, 403, "Sec-Fetch-Site"),
        ({"Content-Type": "text/plain"}, start, 415, "Content-Type"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"planId=retail-dr", 415, "Content-Type"),
        ({}, start, 415, "Content-Type"),
    ]
    # WHEN a browser page posts a start the ways it can without a CORS preflight (or gives itself away)
    for headers, body, status, field in attempts:
        code, answer = _request(stack.url, "POST", "/executions", body, headers)
        # THEN each is refused in drwave's envelope naming what gave it away
        assert code == status, (headers, answer)
        assert answer["details"][0]["field"] == field
    # AND no execution was started, while the stack's own origin and the CLI still work
    code, listing = _request(stack.url, "GET", "/executions", headers={"Origin": stack.url})
    assert code == 200
    assert listing["items"] == []


def test_a_malformed_content_length_or_payload_is_a_4xx_not_a_traceback(start_stack):
    stack = start_stack()
    host, port = stack.url.removeprefix("http://").rsplit(":", 1)
    for length, expected in (("ten", b" 400 "), ("-5", b" 400 "), (str(10**9), b" 413 ")):
        # GIVEN a request whose Content-Length is not a byte count, or is far over the limit
        with socket.create_connection((host, int(port)), timeout=30) as raw:
            raw.sendall(
                f"POST /executions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\n\r\n".encode()
            )
            answer = raw.recv(65536)
        # THEN the server answers at once with the status, without reading a body that never comes
        assert expected in answer.split(b"\r\n")[0], answer
    # AND a direct-invocation payload nested thousands of levels deep is a 400
    nested = b'{"operation": "list_protection_groups", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    code, answer = _request(stack.url, "POST", "/_local/invoke/query", nested, {"Content-Type": "application/json"})
    assert code == 400, answer
    assert answer["details"] == [{"field": "payload", "reason": "nests objects and arrays more than 32 levels deep"}]
    assert not any("internal error" in line for line in stack.lines)


@pytest.mark.parametrize("speed", ["inf", "nan", "0"])
def test_serve_refuses_a_speed_that_is_not_a_positive_finite_number(capsys, speed):
    assert main(["serve", "--speed", speed, "--port", "0"]) == 2
    assert "--speed" in capsys.readouterr().err


def test_serve_refuses_a_directory_as_its_log(tmp_path, capsys):
    assert main(["serve", "--log", str(tmp_path), "--port", "0"]) == 2
    assert "--log" in capsys.readouterr().err


def test_apply_creates_then_updates_only_what_changed_in_the_file(start_stack, plan_file, capsys):
    # GIVEN an empty local stack and the example plan file
    stack = start_stack()
    text = RETAIL_PLAN.read_text(encoding="utf-8")
    # WHEN it is applied THEN every group and the plan are created
    assert stack.cli("plans", "apply", "-f", str(RETAIL_PLAN)) == 0
    out = capsys.readouterr().out
    assert "protection group pg-identity: created" in out
    assert "recovery plan retail-dr: created" in out
    # WHEN it is applied again unchanged THEN nothing changes
    assert stack.cli("plans", "apply", "-f", str(RETAIL_PLAN)) == 0
    out = capsys.readouterr().out
    assert "created" not in out
    assert "updated" not in out
    assert "recovery plan retail-dr: unchanged" in out
    # WHEN one group's name is edited in the file THEN only that group is updated, naming the field
    edited = plan_file(
        text.replace("name: Identity and DNS (domain controllers)", "name: Identity services", 1), "edited.yaml"
    )
    assert edited.read_text(encoding="utf-8") != text
    assert stack.cli("plans", "apply", "-f", str(edited)) == 0
    out = capsys.readouterr().out
    assert "protection group pg-identity: updated (name)" in out
    assert "protection group pg-databases: unchanged" in out
    assert stack.cli("groups", "get", "pg-identity", "--json") == 0
    assert json.loads(capsys.readouterr().out)["name"] == "Identity services"


FAILING_PLAN = """\
protectionGroups:
  - { id: pg-ok, name: OK, sourceServerIds: [s-0a1b2c3d4e5f60001] }
  - { id: pg-bad, name: Bad, sourceServerIds: [s-0a1b2c3d4e5f60020] }
recoveryPlan:
  id: failing
  name: A wave that fails
  waves:
    - { id: first, protectionGroupIds: [pg-ok] }
    - { id: second, dependsOn: [first], protectionGroupIds: [pg-bad] }
"""


def test_a_failed_wave_is_retried_from_the_cli_as_a_new_execution(start_stack, plan_file, capsys):
    # GIVEN a drill whose second wave failed (its only, critical, server fails to launch in this environment)
    stack = start_stack(speed=100_000)
    assert stack.cli("plans", "create", "-f", str(plan_file(FAILING_PLAN))) == 0
    assert stack.cli("executions", "start", "failing", "--watch", "--interval", "0.05", "--role", "operator") == 3
    capsys.readouterr()
    assert stack.cli("executions", "list", "--json") == 0
    [failed] = json.loads(capsys.readouterr().out)["items"]
    # WHEN an operator retries the failed wave and watches it
    code = stack.cli("executions", "retry", failed["executionId"], "second", "--watch", "--interval", "0.05")
    # THEN a new execution ran only that wave (it fails again: the server still fails), retrying the first
    out = capsys.readouterr().out
    assert code == 3
    assert f"retrying second of {failed['executionId']} as exec-" in out
    assert stack.cli("executions", "list", "--json") == 0
    items = json.loads(capsys.readouterr().out)["items"]
    assert len(items) == 2
    retry = next(i for i in items if i["executionId"] != failed["executionId"])
    assert stack.cli("executions", "get", retry["executionId"], "--json") == 0
    view = json.loads(capsys.readouterr().out)
    assert view["retryOf"] == failed["executionId"]
    assert [w["waveId"] for w in view["waves"]] == ["second"]


def test_an_alarm_set_from_the_cli_triggers_a_failover_watched_with_events_tail(start_stack, plan_file, capsys):
    # GIVEN the local stack (600x) with a plan and an armed AUTOMATIC trigger on one alarm (1-minute sustain)
    stack = start_stack(speed=600.0)
    assert stack.cli("plans", "create", "-f", str(plan_file(SMALL_PLAN))) == 0
    arn = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:primary-down"
    trigger = plan_file(
        f"id: primary\nplanId: small\nalarmArns: ['{arn}']\nsustainMinutes: 1\nmode: AUTOMATIC\n", "trigger.yaml"
    )
    assert stack.cli("triggers", "create", "-f", str(trigger)) == 0
    assert stack.cli("triggers", "arm", "primary") == 0
    assert "primary: ARMED (AUTOMATIC)" in capsys.readouterr().out
    # WHEN the alarm is set to ALARM from the CLI
    assert stack.cli("alarms", "set", "primary-down", "ALARM") == 0
    assert f"{arn} -> ALARM" in capsys.readouterr().out
    # THEN `events tail` shows the trigger's decision and the execution it started, as they pass on the bus
    assert stack.cli("events", "tail", "--from-start", "--detail-type", "Failover Triggered", "--count", "1") == 0
    line = capsys.readouterr().out
    assert "Failover Triggered" in line and "executionId=failover-primary-" in line and "triggerId=primary" in line
    assert stack.cli("events", "tail", "--from-start", "--detail-type", "Execution Finished", "--count", "1") == 0
    assert "status=COMPLETED" in capsys.readouterr().out
    # AND the server's console showed the decision
    assert any("Failover Triggered: primary small AUTOMATIC failover-primary-" in line for line in stack.lines)
    # AND the trigger lists its last execution
    assert stack.cli("triggers", "list") == 0
    assert "failover-primary-" in capsys.readouterr().out


def test_a_malformed_cron_is_refused_naming_the_field(start_stack, plan_file, capsys):
    stack = start_stack()
    assert stack.cli("plans", "create", "-f", str(plan_file(SMALL_PLAN))) == 0
    bad = plan_file("id: nightly\nplanId: small\nscheduleExpression: cron(0 2 * * * *)\n", "schedule.yaml")
    assert stack.cli("schedules", "create", "-f", str(bad)) == 2
    err = capsys.readouterr().err
    assert "INVALID_PARAMETER (400)" in err and "scheduleExpression: cron: exactly one of day-of-month" in err
    good = plan_file("id: nightly\nplanId: small\nscheduleExpression: cron(0 2 * * ? *)\n", "schedule.yaml")
    assert stack.cli("schedules", "create", "-f", str(good)) == 0
    assert stack.cli("schedules", "list") == 0
    assert "2026-01-06T02:00:00.000Z" in capsys.readouterr().out
    assert stack.cli("freshness", "small") == 0
    assert "small: last successful drill never drilled (no target)" in capsys.readouterr().out
