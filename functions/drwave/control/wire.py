"""Reading untrusted JSON (request bodies, direct-invocation payloads, page tokens) within drwave's bounds."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from drwave.control.errors import InvalidInput
from drwave.models.limits import MAX_INT_DIGITS, MAX_JSON_DEPTH


def _integer(text: str) -> int | Decimal:
    # Python refuses to convert 4,300+ digit strings with a bare ValueError; an out-of-range Decimal instead
    # reaches the models, which refuse it naming the field ("Input should be a valid integer").
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else Decimal(text)


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when objects and arrays nest more than `limit` levels (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(text: str | bytes, what: str = "body") -> Any:
    """JSON text -> value; InvalidInput naming `what` when it is not JSON or nests too deeply."""
    try:
        value = json.loads(text, parse_int=_integer)
    except RecursionError:
        value = None
        deep = True
    except ValueError as err:  # JSONDecodeError, or bytes that are not UTF-8
        raise InvalidInput(f"{what}: not valid JSON: {err}", [{"field": what, "reason": "is not valid JSON"}]) from None
    else:
        deep = too_deep(value)
    if deep:
        reason = f"nests objects and arrays more than {MAX_JSON_DEPTH} levels deep"
        raise InvalidInput(f"{what}: {reason}", [{"field": what, "reason": reason}])
    return value
