"""Errors of the control plane, each with its HTTP status and its direct-invocation error code."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import ValidationError

from drwave.models.limits import SHOWN


class ControlError(Exception):
    """A refused operation: a code, an HTTP status, a message and optional field-level details."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        """The error envelope shared by the API and direct invocation."""
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(ControlError):
    """The request is malformed: the details name each field and why."""

    code = "INVALID_PARAMETER"
    status = 400


class MissingParameter(InvalidInput):
    """A required field is absent."""

    code = "MISSING_PARAMETER"


class InvalidOperation(InvalidInput):
    """Direct invocation named an operation the function does not own."""

    code = "INVALID_OPERATION"


class Forbidden(ControlError):
    """The caller's role may not perform this operation."""

    code = "FORBIDDEN"
    status = 403


class NotFound(ControlError):
    """The named resource does not exist."""

    code = "NOT_FOUND"
    status = 404


class Conflict(ControlError):
    """The operation contradicts the current state (in use, running, already exists...)."""

    code = "CONFLICT"
    status = 409


class PreconditionFailed(ControlError):
    """An If-Match named a version the resource no longer has: someone else changed it since it was read."""

    code = "PRECONDITION_FAILED"
    status = 412


class PayloadTooLarge(ControlError):
    """The request body (or the definition it makes) is larger than drwave accepts."""

    code = "PAYLOAD_TOO_LARGE"
    status = 413


class UnsupportedMediaType(ControlError):
    """A body that is not application/json."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class PreflightFailed(Conflict):
    """A RECOVERY was refused because its pre-flight check found problems (an admin may force it)."""

    code = "PREFLIGHT_FAILED"


class DependencyFailure(ControlError):
    """DynamoDB, DRS or EventBridge failed; the request may be retried."""

    code = "DYNAMODB_ERROR"
    status = 503

    def __init__(self, message: str, code: str = "DYNAMODB_ERROR") -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]  # DRS_ERROR / EVENTBRIDGE_ERROR share the class


def field_path(location: tuple[int | str, ...]) -> str:
    """`('waves', 0, 'dependsOn')` -> `waves[0].dependsOn`."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def invalid_from(err: ValidationError, prefix: str = "") -> InvalidInput:
    """One InvalidInput (or MissingParameter) listing every pydantic error by field."""
    return invalid_from_errors(list(err.errors(include_url=False, include_input=False)), prefix)


def invalid_from_errors(errors: list[Any], prefix: str = "") -> InvalidInput:
    """Like invalid_from, for errors already listed (Powertools' RequestValidationError)."""
    details = []
    for e in errors:
        location = tuple(p for p in e.get("loc", ()) if p not in ("body", "query", "path", "header"))
        reason = _reason(e)
        named = None if location else _NAMED.match(reason)  # a model validator's "waves[0].dependsOn: why"
        if named:
            location, reason = (named["path"],), named["why"]
        name = f"{prefix}{field_path(location)}" if location else (prefix.rstrip(".") or "body")
        details.append({"field": name, "reason": reason})
    missing = bool(errors) and all(e.get("type") == "missing" for e in errors)
    cls = MissingParameter if missing else InvalidInput
    shown = details[:SHOWN]  # many problems still fit one screen: the first ten and a count
    summary = "; ".join(f"{d['field']}: {d['reason']}" for d in shown) or "invalid request"
    if len(details) > SHOWN:
        summary += f"; and {len(details) - SHOWN} more problems"
    return cls(summary, shown)


# A whole-model error whose message starts with the path of the field it is about (the models' convention).
_NAMED = re.compile(r"^(?P<path>[A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): (?P<why>.+)$", re.DOTALL)


def _reason(error: Any) -> str:
    message = str(error.get("msg", "is invalid"))
    if error.get("type") == "missing":
        return "is required"
    if error.get("type") == "extra_forbidden":
        return "is not a known field"
    return message.removeprefix("Value error, ")
