"""botocore's parameter validation as a yes/no check compiled per shape (local runtime only).

botocore's ParamValidator walks every request generically, collecting errors as it goes: about a tenth of a
rehearsal's DynamoDB time went there. The fast client asks this check first, and botocore itself whenever the answer
is no, so that an error report is botocore's own, word for word. The rules below are ParamValidator's (botocore's
validate.py): required members, no unknown members, one member of a tagged union, the Python types of each kind,
and the `min` of lengths and values (1 for a host label). Shapes it does not judge itself (JSON-value headers,
documents) answer no, which sends the request to botocore. The suites run with DRWAVE_VALIDATION_CHECKS=1, under
which every request is also validated by botocore and a disagreement is an error.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any, TypeVar, cast

from botocore.model import Shape
from botocore.utils import is_json_value_header, parse_to_aware_datetime

Check = Callable[[Any], bool]
K = TypeVar("K")
F = TypeVar("F", bound=Callable[[Any], Any])

_SCALARS: dict[str, tuple[type, ...]] = {  # ParamValidator.SCALAR_TYPES
    "float": (float, decimal.Decimal, int),
    "double": (float, decimal.Decimal, int),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "string": (str,),
}


def compiled_once(cache: dict[K, F], key: K, compile_: Callable[[], F]) -> F:
    """The function compiled for `key`, compiling it on first use; while it compiles, `key` refers to it late-bound,
    so that a recursive shape (DynamoDB's AttributeValue) can refer to itself."""
    found = cache.get(key)
    if found is None:
        cache[key] = cast(F, lambda value: cache[key](value))  # noqa: PLW0108 - late-bound, see above
        found = cache[key] = compile_()
    return found


def _no(_: Any) -> bool:
    return False


def _minimum(shape: Shape) -> float | None:
    """range_check's lower bound: the shape's `min`, else 1 for a host label, else none."""
    if "min" in shape.metadata:
        return float(shape.metadata["min"])
    if (getattr(shape, "serialization", None) or {}).get("hostLabel"):
        return 1.0
    return None


def _timestamp(value: Any) -> bool:
    try:
        parse_to_aware_datetime(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


class CompiledValidator:
    """Whether botocore's ParamValidator would find no error in a request, compiled once per shape."""

    def __init__(self) -> None:
        self._checks: dict[tuple[Any, ...], Check] = {}

    def valid(self, params: Any, shape: Shape) -> bool:
        """True only if botocore would report no error for `params` against `shape`."""
        return self.check(shape)(params)

    def check(self, shape: Shape) -> Check:
        """The compiled check of one shape (recursive shapes, like DynamoDB's AttributeValue, refer to themselves)."""
        key = (
            shape.name,
            shape.type_name,
            repr(sorted(shape.metadata.items())),
            bool((getattr(shape, "serialization", None) or {}).get("hostLabel")),
        )
        return compiled_once(self._checks, key, lambda: self._compile(shape))

    def _compile(self, shape: Shape) -> Check:
        kind = shape.type_name
        if is_json_value_header(shape) or (kind == "structure" and shape.is_document_type):  # type: ignore[attr-defined]
            return _no  # botocore's special cases: left to botocore
        if kind == "structure":
            return self._structure(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            key, value = self.check(shape.key), self.check(shape.value)  # type: ignore[attr-defined]
            return lambda v: isinstance(v, dict) and all(key(k) and value(x) for k, x in v.items())
        if kind == "blob":
            return lambda v: isinstance(v, bytes | bytearray | str) or hasattr(v, "read")
        if kind == "timestamp":
            return _timestamp
        types, low = _SCALARS[kind], _minimum(shape)
        if kind == "boolean" or low is None:
            return lambda v: isinstance(v, types)
        if kind == "string":
            return lambda v: isinstance(v, str) and len(v) >= low
        return lambda v: isinstance(v, types) and v >= low  # type: ignore[operator]

    def _structure(self, shape: Shape) -> Check:
        members = {name: self.check(member) for name, member in shape.members.items()}  # type: ignore[attr-defined]
        required = tuple(shape.metadata.get("required", []))
        union = bool(shape.is_tagged_union)  # type: ignore[attr-defined]

        def structure(value: Any) -> bool:
            if not isinstance(value, dict) or (union and len(value) != 1):
                return False
            if any(name not in value for name in required):
                return False
            for name, member in value.items():
                check = members.get(name)
                if check is None or not check(member):
                    return False
            return True

        return structure

    def _list(self, shape: Shape) -> Check:
        member, low = self.check(shape.member), _minimum(shape)  # type: ignore[attr-defined]

        def items(value: Any) -> bool:
            return isinstance(value, list | tuple) and (low is None or len(value) >= low) and all(map(member, value))

        return items
