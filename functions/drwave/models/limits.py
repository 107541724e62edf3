"""Documented size limits of definitions and requests (docs/control-plane.md lists them), and short listings.

Every string and list an operator can send is bounded so that a valid definition fits one DynamoDB item
(400 KB) and one request body (MAX_BODY_BYTES); a value over a limit is refused with its field named.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Annotated

from pydantic import StringConstraints

MAX_BODY_BYTES = 256 * 1024  # a request body (413 above it)
MAX_JSON_DEPTH = 32  # nesting of objects and arrays in a body, a token or a file
MAX_INT_DIGITS = 20  # an integer literal in a body or a file
MAX_NAME = 256  # names of groups, plans, waves and accounts
MAX_TEXT = 2048  # descriptions and gate messages
MAX_GROUP_SERVERS = 10_000  # sourceServerIds, serverLaunchOverrides, serverImpact
MAX_SELECTION_TAGS = 50
MAX_TAGS = 50  # EC2 allows 50 tags per resource
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_WAVE_GROUPS = 100  # protectionGroupIds of one wave
MAX_WAVE_ACTIONS = 20  # preActions, postActions (each)
MAX_ACTION_PARAMETERS = 50  # parameters of one action, and values of one parameter
MAX_PARAMETER_VALUE = 4096
MAX_DOCUMENT_GROUPS = 500  # protectionGroups of a plan file
MAX_REGIONS = 50  # regions of a target account
MAX_ARN = 2048
MAX_STAGE = 128  # log_error's stage
SHOWN = 10  # problems or ids a message lists before it counts the rest

Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
OptionalName = Annotated[str, StringConstraints(max_length=MAX_NAME)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_KEY)]
TagValue = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_VALUE)]


def listing(items: Iterable[str], shown: int = SHOWN) -> str:
    """`a, b, c` — or the first `shown` and how many more, so a message fits one screen."""
    items = list(items)
    head = ", ".join(items[:shown])
    return f"{head} and {len(items) - shown} more" if len(items) > shown else head


def duplicates(items: Iterable[str]) -> list[str]:
    """The values listed more than once, sorted (linear, not a count per item)."""
    return sorted(value for value, seen in Counter(items).items() if seen > 1)
