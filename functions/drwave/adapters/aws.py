"""The container's one botocore session and its own-role clients, shared by every adapter built from the environment.

One session: botocore's loader reads each service model and the endpoint data once per container. One client per
service: the state table's adapters share a DynamoDB client instead of each parsing DynamoDB's endpoint rules again.
Clients come from botocore itself rather than boto3: drwave uses no boto3 resource or transfer manager, and boto3's
import brings s3transfer and multiprocessing, which no function uses. Only the real-AWS wiring
(`Dependencies.from_environment`, once per container) uses these.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.session import Session


@cache
def session() -> Session:
    """The botocore session of the function's own role and region."""
    from botocore.session import get_session  # noqa: PLC0415 - kept out of module import: only real AWS wiring

    return get_session()


def region() -> str:
    """The function's region (Lambda sets AWS_REGION and AWS_DEFAULT_REGION)."""
    return session().get_config_variable("region") or "us-east-1"


@cache
def client(service: str) -> Any:
    """The function's own-role client of `service` in its region (thread-safe, so adapters may share it)."""
    return session().create_client(service, region_name=region())
