"""Cross-account sessions: clients for a target account through STS AssumeRole, cached until shortly before expiry.

The stack's own account uses the function's role directly; any other account must be registered as a
TargetAccount, and drwave assumes the role registered for it (with its ExternalId when one is set).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drwave.models.accounts import TargetAccount

# Credentials are renewed this long before they expire, so no call starts with credentials about to lapse.
REFRESH_BEFORE = timedelta(minutes=5)
SESSION_SECONDS = 3600
STS_RETRYABLE = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "InternalFailure"})
_execution: ContextVar[str | None] = ContextVar("drwave_execution", default=None)


@dataclass(frozen=True)
class Credentials:
    """Temporary credentials of an assumed role."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime


# (service, region, credentials or None for the function's own role, botocore config or None) -> boto3 client
ClientFactory = Callable[[str, str, Credentials | None, Any], Any]


class AccountAccessError(Exception):
    """drwave cannot act in a target account: not registered, region not allowed, or the role was refused."""

    def __init__(self, account_id: str, role: str, reason: str, *, retryable: bool = False) -> None:
        super().__init__(f"cannot act in account {account_id} as {role}: {reason}")
        self.account_id = account_id
        self.role = role
        self.reason = reason
        self.retryable = retryable


@contextmanager
def acting_for(execution_id: str) -> Iterator[None]:
    """Name this execution in the RoleSessionName of roles assumed inside the block (CloudTrail shows it)."""
    token = _execution.set(execution_id)
    try:
        yield
    finally:
        _execution.reset(token)


def session_name() -> str:
    """RoleSessionName: drwave plus the execution being worked on, within STS's 2-64 allowed characters."""
    execution_id = _execution.get()
    name = f"drwave-{execution_id}" if execution_id else "drwave"
    return re.sub(r"[^\w+=,.@-]", "-", name)[:64]


class AccountSessions:
    """Clients per (service, account, region): the own role at home, an assumed role elsewhere."""

    def __init__(
        self,
        sts: Any,
        *,
        home_account_id: str,
        lookup: Callable[[str], TargetAccount | None],
        default_role_name: str,
        make_client: ClientFactory,
        now: Callable[[], datetime],
        partition: str = "aws",
    ) -> None:
        self._sts = sts
        self._home = home_account_id
        self._lookup = lookup
        self._default_role = default_role_name
        self._make_client = make_client
        self._now = now
        self._partition = partition
        self._credentials: dict[tuple[str, str], Credentials] = {}
        self._clients: dict[tuple[str, str, str, str, str], tuple[Any, Credentials | None]] = {}

    def client(self, service: str, account_id: str, region: str, config: Any = None) -> Any:
        """A client acting in `account_id`/`region`; AccountAccessError when drwave may not act there."""
        if account_id == self._home:
            key = (service, account_id, region, "", "")
            if key not in self._clients:
                self._clients[key] = (self._make_client(service, region, None, config), None)
            return self._clients[key][0]
        credentials = self._assumed(account_id, region)
        key = (service, account_id, region, session_name(), credentials.access_key_id)
        cached = self._clients.get(key)
        if cached is None:
            self._forget_expired()
            cached = self._clients[key] = (self._make_client(service, region, credentials, config), credentials)
        return cached[0]

    def _assumed(self, account_id: str, region: str) -> Credentials:
        target = self._lookup(account_id)
        role = (
            target.role(self._default_role, self._partition)
            if target
            else f"arn:{self._partition}:iam::{account_id}:role/{self._default_role}"
        )
        if target is None:
            raise AccountAccessError(account_id, role, "the account is not a registered target account")
        if region not in target.regions:
            raise AccountAccessError(
                account_id, role, f"region {region} is not registered for it (registered: {', '.join(target.regions)})"
            )
        key = (role, session_name())
        cached = self._credentials.get(key)
        if cached is not None and self._now() < cached.expiration - REFRESH_BEFORE:
            return cached
        request: dict[str, Any] = {
            "RoleArn": role,
            "RoleSessionName": session_name(),
            "DurationSeconds": SESSION_SECONDS,
        }
        if target.external_id:
            request["ExternalId"] = target.external_id
        try:
            response = self._sts.assume_role(**request)
        except ClientError as err:
            error = err.response.get("Error", {})
            code = error.get("Code", "Unknown")
            raise AccountAccessError(
                account_id, role, f"{code}: {error.get('Message', '')}".rstrip(": "), retryable=code in STS_RETRYABLE
            ) from err
        except BotoCoreError as err:
            raise AccountAccessError(account_id, role, str(err), retryable=True) from err
        raw = response["Credentials"]
        credentials = Credentials(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"], raw["Expiration"])
        self._credentials[key] = credentials
        return credentials

    def _forget_expired(self) -> None:
        """Drop clients and credentials past their refresh time (a warm container serves many executions)."""
        cutoff = self._now() + REFRESH_BEFORE
        self._credentials = {k: c for k, c in self._credentials.items() if c.expiration > cutoff}
        self._clients = {k: v for k, v in self._clients.items() if v[1] is None or v[1].expiration > cutoff}
