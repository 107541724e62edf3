"""`drwave serve`: the whole stack as one long-lived local process.

A stdlib HTTP server turns each request into an API Gateway REST proxy event for the deployed API handler
(`drwave.handlers.api.handler`), or into a direct invocation (`POST /_local/invoke/<function>`), against one
LocalRuntime (moto + the DRS and SSM simulators + the event router). A clock thread advances the runtime's virtual
clock `speed` times faster than the wall clock. moto and the runtime are not thread-safe: every touch of the
runtime, from request threads and the clock thread alike, holds one lock.

Identity is local only: the caller's role and name come from the headers X-Drwave-Role / X-Drwave-User (default
--role / --user) and are put in the claims where API Gateway's Cognito authorizer puts them on AWS. The deployed
API reads them from the Cognito token and ignores these headers.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from drwave.control.errors import ControlError
from drwave.control.wire import parse_json
from drwave.models.execution import LaunchStatus, WaveStatus
from drwave.models.limits import MAX_BODY_BYTES
from drwave_local.cli.client import INVOKE_PREFIX, ROLE_HEADER, USER_HEADER
from drwave_local.paths import EXAMPLES
from drwave_local.server.console import is_console_path, static_response
from drwave_local.simulators.environment import InputFileError, load_environment, load_plan_document

if TYPE_CHECKING:  # imported when the stack starts: the CLI imports this module for its options only
    from drwave_local.runtime.embedded import LocalRuntime

# Direct-invocation functions: local name -> (template function, handler in drwave.handlers.invoke).
FUNCTIONS = {
    "query": ("QueryFunction", "query"),
    "execution": ("ExecutionFunction", "execution"),
    "data-management": ("DataManagementFunction", "data_management"),
}
Response = tuple[int, dict[str, str], bytes]


@dataclass
class ServeOptions:
    """How to run the local stack."""

    environment: Path
    plan: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    speed: float = 60.0  # virtual seconds per wall second
    role: str = "admin"
    user: str = "local-user"
    log_path: Path | None = None
    step_seconds: float = 0.05  # wall seconds between clock advances


class CannotListen(Exception):
    """The HTTP server could not bind its address."""


def _json(status: int, body: Any) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode("utf-8")


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["details"] = [{"field": field, "reason": message.split(": ", 1)[-1]}]
    return _json(status, body)


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a browser reports for a request a page of another site made (Fetch Metadata); "none" is a typed URL.
CROSS_SITE = frozenset({"cross-site", "same-site"})


def refuse_cross_site(method: str, headers: dict[str, str], own_origins: set[str]) -> Response | None:
    """403 for a request a web page of another origin made, 415 for a write that is not JSON; None if neither.

    A page in a browser can POST a form or text/plain body to 127.0.0.1 without a CORS preflight; it cannot send
    application/json without one (which this server never grants), nor hide its Origin or Sec-Fetch-Site.
    """
    origin = headers.get("origin")
    if origin is not None and origin.rstrip("/").lower() not in own_origins:
        return _error(403, "FORBIDDEN", f"Origin: {origin} may not call the local stack (cross-site)", "Origin")
    site = headers.get("sec-fetch-site", "").lower()
    if site in CROSS_SITE:
        return _error(403, "FORBIDDEN", f"Sec-Fetch-Site: {site} requests are refused", "Sec-Fetch-Site")
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if method in WRITES and media != "application/json":
        return _error(
            415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type: {media or 'none'}; send application/json", "Content-Type"
        )
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stack: LocalStack


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "drwave-local"

    def _dispatch(self) -> None:
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isdigit():
            self.close_connection = True  # the body's end is unknown: this connection cannot carry another request
            answer = _error(
                400, "INVALID_PARAMETER", f"Content-Length: {declared[:40]!r} is not a byte count", "Content-Length"
            )
        elif int(declared) > MAX_BODY_BYTES:
            self.close_connection = True  # not read: the rest of the stream is that body
            answer = _error(
                413, "PAYLOAD_TOO_LARGE", f"body: {declared} bytes; the limit is {MAX_BODY_BYTES} bytes", "body"
            )
        else:
            body = self.rfile.read(int(declared)) if int(declared) > 0 else b""
            headers = [(k, v) for k, v in self.headers.items()]
            answer = self.server.stack.handle(self.command, self.path, headers, body)
        status, response_headers, payload = answer
        self.send_response(status)
        for name, value in response_headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the console shows execution state changes, not access logs."""


class LocalStack:
    """The runtime, the HTTP server and the clock thread; a context manager."""

    def __init__(self, options: ServeOptions, out: Callable[[str], None] = print) -> None:
        self.options = options
        self.out = out
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._touched: set[str] = set()
        self._unfinished: set[str] = set()
        self._seen: dict[str, tuple[str, dict[str, str]]] = {}
        self.environment = load_environment(options.environment)
        self.document = load_plan_document(options.plan) if options.plan else None
        from drwave_local.runtime.embedded import LocalRuntime  # noqa: PLC0415 - moto loads only when the stack starts
        from drwave_local.runtime.fast_dynamodb import dynamodb_choice  # noqa: PLC0415 - as above

        self.runtime: LocalRuntime = LocalRuntime(
            self.environment, log_path=options.log_path, dynamodb=dynamodb_choice(default="fast")
        )
        self.server: _Server | None = None

    @property
    def url(self) -> str:
        """Where the API listens."""
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LocalStack:
        try:  # bind first: a busy port fails fast, before the runtime starts
            server = _Server((self.options.host, self.options.port), _Handler)
        except OSError as err:
            where = f"{self.options.host}:{self.options.port}"
            raise CannotListen(f"cannot listen on {where}: {err.strerror or err}") from None
        server.stack = self
        self.server = server
        try:
            self.runtime.__enter__()
        except BaseException:
            server.server_close()
            raise
        try:
            if self.document is not None:
                self.runtime.install(self.document)
            self.runtime.router.observers.append(self._observe)
            from drwave_local.server.local_routes import LocalRoutes  # noqa: PLC0415 - loaded with the runtime

            self.local_routes = LocalRoutes(self.runtime, self.out)
            self.runtime.triggers.keep_ticking()  # sustain periods and drill freshness, every simulated minute
            self._start_thread("drwave-http", server.serve_forever)
            self._start_thread("drwave-clock", self._drive)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.server is not None:
            if any(t.name == "drwave-http" for t in self._threads):
                self.server.shutdown()
            self.server.server_close()
        for thread in self._threads:
            thread.join(timeout=30)
        with self.lock:
            self.runtime.__exit__()

    def _start_thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # --- requests -----------------------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes) -> Response:
        """One HTTP request -> the API handler or a direct invocation -> status, headers, body."""
        parts = urlsplit(raw_path)
        path = unquote(parts.path) or "/"
        if is_console_path(method, path):
            return static_response(path)
        refused = refuse_cross_site(method, {k.lower(): v for k, v in headers}, self._own_origins())
        if refused is not None:
            return refused
        try:
            text = body.decode("utf-8") if body else None
        except UnicodeDecodeError:
            return _error(400, "INVALID_PARAMETER", "the request body is not UTF-8")
        try:
            if path.startswith(INVOKE_PREFIX):
                return self._invoke(method, path.removeprefix(INVOKE_PREFIX), text)
            with self.lock:  # the alarm switch and the bus's event log (`drwave alarms set`, `drwave events tail`)
                local = self.local_routes.handle(method, path, parts.query, text)
                if local is not None:
                    self.runtime.settle()
            if local is not None:
                return local
            return self._api(method, path, parts.query, headers, text)
        except Exception as err:
            self.out(f"internal error on {method} {path}: {err!r}\n{traceback.format_exc()}")
            return _error(500, "INTERNAL_ERROR", f"the local stack failed: {err!r}")

    def _own_origins(self) -> set[str]:
        """The origins a page served by this very server would send (the only ones allowed)."""
        if self.server is None:
            return set()
        port = self.server.server_address[1]
        hosts = {str(self.server.server_address[0]), self.options.host, "127.0.0.1", "localhost", "[::1]"}
        return {f"http://{h}:{port}".lower() for h in hosts}

    def _api(self, method: str, path: str, query: str, headers: list[tuple[str, str]], body: str | None) -> Response:
        multi_query = parse_qs(query, keep_blank_values=True)
        multi_headers: dict[str, list[str]] = {}
        for name, value in headers:
            multi_headers.setdefault(name, []).append(value)
        lowered = {k.lower(): v[-1] for k, v in multi_headers.items()}
        role = lowered.get(ROLE_HEADER.lower()) or self.options.role
        user = lowered.get(USER_HEADER.lower()) or self.options.user
        request_id = str(uuid.uuid4())
        claims = {"cognito:groups": role, "email": user, "cognito:username": user}
        event = {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": {k: v[-1] for k, v in multi_headers.items()},
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": None,
            "stageVariables": None,
            "body": body,
            "isBase64Encoded": False,
            "requestContext": {
                "requestId": request_id,
                "stage": "local",
                "httpMethod": method,
                "path": path,
                "resourcePath": path,
                "authorizer": {"claims": claims},
                "identity": {"sourceIp": "127.0.0.1"},
            },
        }
        from drwave.handlers import api  # noqa: PLC0415 - loaded with the runtime
        from drwave_local.runtime.embedded import _LambdaContext  # noqa: PLC0415

        with self.lock:
            result = api.handler(event, _LambdaContext("ApiFunction", request_id), deps=self.runtime.deps)
            self._after_call()
        response_headers = {k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items() if v}
        response_headers.update(result.get("headers") or {})
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
        return int(result["statusCode"]), response_headers, payload

    def _invoke(self, method: str, function: str, body: str | None) -> Response:
        if method != "POST":
            return _error(405, "METHOD_NOT_ALLOWED", f"direct invocation is POST {INVOKE_PREFIX}<function>")
        if function not in FUNCTIONS:
            return _error(404, "NOT_FOUND", f"no function {function!r}; known: {', '.join(FUNCTIONS)}")
        try:
            payload = parse_json(body or "null", "payload")  # deep nesting and huge integers: 400, not a crash
        except ControlError as err:
            return _json(err.status, err.body())
        from drwave.handlers import invoke  # noqa: PLC0415 - loaded with the runtime
        from drwave_local.runtime.embedded import _LambdaContext  # noqa: PLC0415

        name, attribute = FUNCTIONS[function]
        entry = getattr(invoke, attribute)
        with self.lock:
            result = entry(payload, _LambdaContext(name, str(uuid.uuid4())), deps=self.runtime.deps)
            self._after_call()
        return _json(200, result)

    def _after_call(self) -> None:
        self.runtime.settle()
        self._report()

    # --- the clock ----------------------------------------------------------------------------------------------

    def _drive(self) -> None:
        step = self.options.step_seconds
        while not self._stop.wait(step):
            try:
                with self.lock:
                    self.advance(self.options.speed * step, budget_seconds=step)
            except Exception as err:  # keep the clock going; the handler's failure is in the logs
                self.out(f"clock: {err!r}")

    def advance(self, virtual_seconds: float, budget_seconds: float | None = None) -> None:
        """Run every timer due in the next `virtual_seconds`; stop early after `budget_seconds` of wall time
        (virtual time then falls behind rather than jumping). The caller holds the lock."""
        clock = self.runtime.clock
        target = clock.now() + timedelta(seconds=virtual_seconds)
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        while (due := clock.next_due()) is not None and due <= target:
            clock.step()
            if deadline is not None and time.monotonic() > deadline:
                break
        else:
            clock.advance_to(target)
        self._report()

    # --- state changes ------------------------------------------------------------------------------------------

    def _observe(self, _bus: str, event: dict[str, Any]) -> None:
        execution_id = (event.get("detail") or {}).get("executionId")
        if isinstance(execution_id, str):
            self._touched.add(execution_id)

    def _report(self) -> None:
        """One line per execution or wave state change since the last report."""
        # Executions named by an event since the last report, and every one not yet ended: a command such as
        # pause changes the state without necessarily publishing anything.
        touched, self._touched = sorted(self._touched | self._unfinished), set()
        for execution_id in touched:
            execution = self.runtime.deps.store.load_execution(execution_id)
            if execution is None:
                continue
            if execution.status.terminal:
                self._unfinished.discard(execution_id)
            else:
                self._unfinished.add(execution_id)
            stamp = f"[sim {self.runtime.clock.now():%H:%M:%S}]"
            before_status, before_waves = self._seen.get(execution_id, ("", {}))
            status = execution.status.value
            if status != before_status:
                kind = f"{execution.execution_type.value} of {execution.plan.id}"
                self.out(f"{stamp} {execution_id} {kind}: {status}")
            waves = {}
            for spec in execution.plan.waves:
                wave = execution.waves[spec.id]
                waves[spec.id] = wave.status.value
                if before_waves.get(spec.id, WaveStatus.PENDING.value) == wave.status.value:
                    continue
                line = f"{stamp} {execution_id}   wave {spec.id}: {wave.status.value}"
                if wave.status.terminal and wave.servers:
                    launched = sum(s.launch_status is LaunchStatus.LAUNCHED for s in wave.servers.values())
                    line += f" ({launched}/{len(wave.servers)} launched)"
                if wave.reason:
                    line += f": {wave.reason}"
                self.out(line)
            self._seen[execution_id] = (status, waves)

    # --- the banner ---------------------------------------------------------------------------------------------

    def banner(self) -> list[str]:
        """What `drwave serve` prints once it listens."""
        env, options = self.environment, self.options
        lines = [
            f"drwave local stack listening on {self.url} (web console: {self.url}/)",
            f"  environment: {options.environment} (account {env.account_id}, {env.region}, "
            f"{len(env.source_servers)} source servers)",
        ]
        if self.document is not None:
            plan = self.document.recovery_plan
            waves = ", ".join(w.id for w in plan.waves)
            lines.append(
                f"  plan: {plan.id} ({plan.name}): {len(plan.waves)} waves ({waves}), "
                f"{len(self.document.protection_groups)} protection groups"
            )
        else:
            lines.append("  plan: none loaded (drwave plans create -f PLAN.yaml)")
        lines += [
            f"  clock: {options.speed:g} simulated seconds per wall second",
            f"  identity: role {options.role}, user {options.user} (per request: headers {ROLE_HEADER} / "
            f"{USER_HEADER}, or the CLI's --role / --user; local only: the deployed API uses Cognito)",
            f"  direct invocation: POST {self.url}{INVOKE_PREFIX}<{'|'.join(FUNCTIONS)}>",
            f"  handler logs: {options.log_path or 'quietened (errors only)'}",
            "Ctrl-C to stop.",
        ]
        return lines


def serve(
    options: ServeOptions,
    out: Callable[[str], None] = print,
    stop: threading.Event | None = None,
    on_ready: Callable[[LocalStack], None] | None = None,
) -> int:
    """Run the local stack until Ctrl-C, SIGTERM or `stop` is set."""
    stop = stop or threading.Event()
    restore: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def request_stop(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        for wanted in (signal.SIGINT, signal.SIGTERM):
            restore[wanted] = signal.signal(wanted, request_stop)
    try:
        with LocalStack(options, out) as stack:
            for line in stack.banner():
                out(line)
            if on_ready is not None:
                on_ready(stack)
            while not stop.wait(0.2):
                pass
            out("stopping...")
    finally:
        for signum, previous in restore.items():
            signal.signal(signum, previous)
    out("stopped")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `drwave serve`."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port (default %(default)s; 0: any free port)")
    parser.add_argument(
        "--environment", type=Path, default=EXAMPLES / "retail-environment.yaml", help="simulated environment file"
    )
    parser.add_argument("--plan", type=Path, help="pre-load this plan file's protection groups and recovery plan")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per wall second (default 60)")
    parser.add_argument(
        "--role",
        choices=["admin", "operator", "viewer"],
        default="admin",
        help="role of requests without an X-Drwave-Role header (local only; the deployed API uses Cognito)",
    )
    parser.add_argument("--user", default=os.environ.get("USER") or "local-user", help="caller name by default")
    parser.add_argument("--log", type=Path, help="write the handlers' structured logs to this file")


def main(args: argparse.Namespace) -> int:
    """`drwave serve`: 0 after a clean stop, 2 for a bad file or option, 1 if it cannot listen."""
    if not math.isfinite(args.speed) or args.speed <= 0:
        print(f"drwave: error: --speed: must be a positive number, got {args.speed:g}", file=sys.stderr)
        return 2
    if args.log is not None and args.log.is_dir():
        print(f"drwave: error: --log: {args.log} is a directory; name a file", file=sys.stderr)
        return 2
    options = ServeOptions(
        environment=args.environment,
        plan=args.plan,
        host=args.host,
        port=args.port,
        speed=args.speed,
        role=args.role,
        user=args.user,
        log_path=args.log,
    )
    try:
        return serve(options, out=lambda line: print(line, flush=True))
    except InputFileError as err:
        print(f"drwave: error: {err}", file=sys.stderr)
        return 2
    except CannotListen as err:
        print(f"drwave: error: {err}", file=sys.stderr)
        return 1
