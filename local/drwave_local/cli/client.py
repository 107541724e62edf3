"""HTTP client of the drwave API (the local stack of `drwave serve`, or a deployed stack), and the definition files
the CLI sends it.

Stdlib only (urllib). The identity headers are the local server's stand-in for Cognito: the deployed API
ignores them and reads the caller's groups from the Cognito ID token `drwave login` cached (Authorization: Bearer).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from drwave_local.simulators.environment import load_yaml_text

DEFAULT_URL = "http://127.0.0.1:8765"
ROLE_HEADER = "X-Drwave-Role"
USER_HEADER = "X-Drwave-User"
INVOKE_PREFIX = "/_local/invoke/"
START_HINT = "start the local stack with `drwave serve` (or `make serve`), or point --url / $DRWAVE_URL at it"
# Direct-invocation error codes that mean the caller's request was wrong (exit 2); the rest are failures (exit 1).
CLIENT_ERROR_CODES = frozenset(
    {"INVALID_PARAMETER", "MISSING_PARAMETER", "INVALID_OPERATION", "FORBIDDEN", "NOT_FOUND", "CONFLICT"}
    | {"PREFLIGHT_FAILED", "PRECONDITION_FAILED", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"}
)


REMOTE_HINT = "check --api-url / $DRWAVE_API_URL (the stack's ApiUrl output) and your network"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def default_url() -> str:
    """$DRWAVE_API_URL, else $DRWAVE_URL, else the local stack's default address."""
    return os.environ.get("DRWAVE_API_URL") or os.environ.get("DRWAVE_URL") or DEFAULT_URL


def is_loopback(url: str) -> bool:
    """True for an API on this machine (where `drwave serve` runs)."""
    return (urllib.parse.urlsplit(url.strip()).hostname or "") in LOOPBACK_HOSTS


class ApiError(Exception):
    """The API refused a request: HTTP status, error code, message and field-level details."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.source: str | None = None  # the file the request body came from
        self.prefix = ""  # where the body sits in that file, e.g. "recoveryPlan."

    @property
    def exit_code(self) -> int:
        """2 for a refused request (4xx), 1 for a failure of the service (5xx)."""
        return 2 if 400 <= self.status < 500 else 1

    def in_file(self, source: Path, prefix: str = "") -> ApiError:
        """Name the file (and the position in it) the refused body came from."""
        self.source, self.prefix = str(source), prefix
        return self

    def lines(self) -> list[str]:
        """What the CLI prints: the code and message, then one line per field."""
        where = f"{self.source}: " if self.source else ""
        lines = [f"{self.code} ({self.status}): {where}{self.message}"]
        for detail in self.details:
            field = detail.get("field")
            described = {k: v for k, v in detail.items() if k not in ("field", "reason", "message")}
            reason = detail.get("reason") or detail.get("message") or ""
            extra = " ".join(f"{k}={v}" for k, v in described.items())
            position = f"{self.prefix}{field}: " if field else ""
            lines.append(f"  {where}{position}{reason}{f' [{extra}]' if extra else ''}")
        return lines


class Unreachable(Exception):
    """Nothing answers at the API's URL."""


class FileError(Exception):
    """A definition file is unreadable or not a YAML/JSON object; the message names the file."""


def error_from_body(status: int, raw: bytes) -> ApiError:
    """An ApiError from an error response, whatever its shape (drwave envelope or a plain gateway error)."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {"message": raw.decode("utf-8", "replace")[:500]}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    code = str(body.get("error") or ("NOT_FOUND" if status == 404 else "HTTP_ERROR"))
    message = str(body.get("message") or f"HTTP {status}")
    details = body.get("details")
    return ApiError(status, code, message, details if isinstance(details, list) else None)


class ApiClient:
    """JSON over HTTP to the drwave API, with the local identity headers."""

    def __init__(
        self,
        url: str,
        role: str | None = None,
        user: str | None = None,
        timeout: float = 60.0,
        bearer: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if role:
            self.headers[ROLE_HEADER] = role
        if user:
            self.headers[USER_HEADER] = user
        if bearer:
            self.headers["Authorization"] = f"Bearer {bearer}"
        self.hint = REMOTE_HINT if bearer else START_HINT
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        """Send one request; the decoded JSON response, or ApiError / Unreachable."""
        url = self.url + urllib.parse.quote(path)
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method, headers=self.headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise error_from_body(err.code, err.read()) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise Unreachable(f"cannot reach the drwave API at {self.url} ({reason}); {self.hint}") from None
        return json.loads(raw) if raw else None

    def get_bytes(self, path: str, query: dict[str, Any] | None = None) -> bytes:
        """GET a non-JSON resource (a report): the body as sent."""
        url = self.url + urllib.parse.quote(path)
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {**self.headers, "Accept": "*/*"}
        request = urllib.request.Request(url, method="GET", headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw: bytes = response.read()
                return raw
        except urllib.error.HTTPError as err:
            raise error_from_body(err.code, err.read()) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise Unreachable(f"cannot reach the drwave API at {self.url} ({reason}); {self.hint}") from None

    def get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        """GET."""
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None) -> Any:
        """POST."""
        return self.request("POST", path, body if body is not None else {})

    def put(self, path: str, body: Any) -> Any:
        """PUT."""
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        """DELETE."""
        return self.request("DELETE", path)

    def invoke(self, function: str, payload: Any) -> Any:
        """Direct invocation of one of the control plane's functions (the local stand-in for lambda:Invoke)."""
        return self.request("POST", INVOKE_PREFIX + function, payload)


def load_file(path: Path) -> dict[str, Any]:
    """A YAML or JSON definition file, as a mapping."""
    try:
        loaded = load_yaml_text(path.read_text(encoding="utf-8"))  # duplicate keys, deep nesting: refused
    except OSError as err:
        raise FileError(f"{path}: cannot read: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise FileError(f"{path}: not UTF-8 text: {err.reason} at byte {err.start}") from err
    except yaml.YAMLError as err:
        raise FileError(f"{path}: not valid YAML/JSON: {err}") from err
    if not isinstance(loaded, dict):
        found = "nothing" if loaded is None else type(loaded).__name__
        raise FileError(f"{path}: (top level): expected a mapping (a YAML/JSON object), found {found}")
    return loaded
