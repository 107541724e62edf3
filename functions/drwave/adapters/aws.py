"""The container's one boto3 session and its own-role clients, shared by every adapter built from the environment.

One session: botocore's loader reads each service model and the endpoint data once per container. One client per
service: the state table's adapters share a DynamoDB client instead of each parsing DynamoDB's endpoint rules again.
Only the real-AWS wiring (`Dependencies.from_environment`, once per container) uses these.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3


@cache
def session() -> boto3.Session:
    """The boto3 session of the function's own role and region."""
    import boto3  # noqa: PLC0415 - kept out of module import: only real AWS wiring builds clients

    return boto3.Session()


@cache
def client(service: str) -> Any:
    """The function's own-role client of `service` in its region (thread-safe, so adapters may share it)."""
    return session().client(service)  # type: ignore[call-overload]
