"""The fast client's compiled validation passes exactly the requests botocore's ParamValidator passes."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape
from botocore.validate import ParamValidator
from hypothesis import find, given, settings
from hypothesis import strategies as st

from drwave_local.runtime.fast_validate import CompiledValidator

MODEL = botocore.session.get_session().get_service_model("dynamodb")
OPERATIONS = ["PutItem", "GetItem", "UpdateItem", "DeleteItem", "Query", "TransactWriteItems", "BatchGetItem"]
_odd = st.sampled_from([None, 0, -1, 1.5, True, "", "x", b"b", [], {}, decimal.Decimal("2"), datetime.datetime.now()])


def _requests(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a shape: mostly of its own kind (members kept or missing, strings short or empty), sometimes odd."""
    kind = shape.type_name
    own: st.SearchStrategy[Any]
    if depth > 4:
        own = st.just({"S": "leaf"}) if shape.name == "AttributeValue" else _odd
    elif kind == "structure":
        members = shape.members  # type: ignore[attr-defined]
        required = shape.metadata.get("required", [])
        chosen = list(members)[:8] if shape.name != "AttributeValue" else ["S", "N", "M", "L", "BOOL", "NULL", "SS"]
        optional = {name: _requests(members[name], depth + 1) for name in chosen if name not in required}
        own = st.fixed_dictionaries(
            {name: _requests(members[name], depth + 1) for name in required},
            optional={**optional, "Bogus": _odd} if depth == 0 else optional,
        )
        if required:  # and now and then one required member short
            own = st.one_of(own, own.map(lambda d: {k: v for k, v in d.items() if k != required[0]}))
    elif kind == "list":
        own = st.lists(_requests(shape.member, depth + 1), max_size=3)  # type: ignore[attr-defined]
    elif kind == "map":
        own = st.dictionaries(st.sampled_from(["a", "#n", ":v", ""]), _requests(shape.value, depth + 1), max_size=2)  # type: ignore[attr-defined]
    elif kind == "string":
        enum = shape.metadata.get("enum")
        own = st.sampled_from(enum) if enum else st.sampled_from(["", "t", "drwave-state", "pk = :pk"])
    elif kind in ("integer", "long"):
        own = st.integers(-2, 5)
    elif kind == "boolean":
        own = st.booleans()
    else:
        own = _odd
    return st.integers(0, 15).flatmap(lambda roll: _odd if roll == 0 else own)


@pytest.mark.parametrize("operation", OPERATIONS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_request_passes_the_compiled_check_exactly_when_botocore_finds_no_error(
    operation: str, data: st.DataObject
) -> None:
    # GIVEN an operation's input shape and a request of roughly its shape
    shape = MODEL.operation_model(operation).input_shape
    params = data.draw(_requests(shape))
    # WHEN both judge it, THEN they agree
    assert CompiledValidator().valid(params, shape) == (not ParamValidator().validate(params, shape).has_errors())


@pytest.mark.parametrize("operation", OPERATIONS)
def test_requests_drawn_so_are_sometimes_valid_and_sometimes_not(operation: str) -> None:
    # GIVEN the agreement test's requests, THEN botocore passes some and refuses others (the test has teeth)
    shape = MODEL.operation_model(operation).input_shape

    def valid(params: Any) -> bool:
        return not ParamValidator().validate(params, shape).has_errors()

    assert valid(find(_requests(shape), valid))
    assert not valid(find(_requests(shape), lambda p: not valid(p)))
