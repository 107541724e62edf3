"""A DynamoDB client for the local runtime that calls moto in-process, without botocore's HTTP round trip.

A boto3 client talking to moto serialises every request to JSON, signs it, hands it to moto's stubber, which
re-parses it with the service model; moto then serialises its answer through the model again and botocore parses
it back. For a whole-plan rehearsal that is most of the time. `FastClient` keeps the two ends that give the
semantics, botocore's parameter validation and moto's own request handler (`DynamoHandler.put_item` and so on,
which run moto's validations and call its backend, stream records included), and replaces the wire in between
with a copy of the parameters in, and a model-guided copy of the result out:

* parameters are validated as botocore's `ParamValidator` validates them against the service model (a compiled
  check first, `fast_validate.py`, and botocore's own report whenever it fails: the same errors a real client
  raises), then copied along the input shape, as the wire would, so moto never holds the caller's objects;
  blobs become bytes and timestamps naive UTC datetimes, as moto's own parser makes them;
* the handler's result is copied along the output shape: members the model does not have and None values are
  dropped, as moto's serialiser and botocore's parser drop them; timestamps go through the same two conversions;
* errors take the real path: moto's error response (status, headers, body) is parsed by botocore's parser, modeled
  error fields (`CancellationReasons`, `Item`) included, and raised as the client's own exception class, so
  `err.response` is what a boto3 client would give;
* `meta.events` is a botocore event emitter on which `provide-client-params`, `before-parameter-build` and
  `after-call` are emitted with the same arguments as a client emits them (the bench's capacity meter listens);
  `before-call`, `before-send` and `before-parse` are not emitted: there is no request to send;
* `get_paginator` returns botocore's own paginator over these methods; `exceptions` is a real client's.

Operations are generic over the service model: any operation the moto handler implements works. Used for
`dynamodb` and `dynamodbstreams` (see `fast_clients`). Local runtime only: nothing in `functions/` imports this.
"""

from __future__ import annotations

import base64
import datetime
import os
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

import boto3
from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.client import ClientMeta
from botocore.exceptions import OperationNotPageableError, ParamValidationError
from botocore.hooks import HierarchicalEmitter, first_non_none_response
from botocore.model import OperationModel, Shape
from botocore.paginate import Paginator
from botocore.parsers import create_parser
from botocore.utils import parse_timestamp
from botocore.validate import ParamValidator
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.iam.models import get_account_id_from
from werkzeug.exceptions import HTTPException

from drwave_local.runtime.fast_validate import CompiledValidator, compiled_once

# Where an AttributeValue (or a map or list of them) sits in a shape, its contents are copied by `_copy_value`
# (or taken as they are, when moto built them for this response) instead of being walked member by member.
_ATTRIBUTE_VALUE = "AttributeValue"
_DEFAULT_ACCOUNT_KEY = "AKIAEXAMPLE"  # what moto assumes when the access key is not a 20-character AWS key id
_ACCESS_KEY = re.compile(r"[A-Z0-9]{20}")

Converter = Callable[[Any], Any]
# Operations whose handler result is plain data (moto's items and stream records, no model objects).
DYNAMODB_DATA_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
STREAMS_DATA_OPERATIONS = frozenset({"GetRecords", "GetShardIterator"})


def _copy_value(value: Any) -> Any:
    """An AttributeValue (or anything JSON-like) copied: dicts and lists anew, scalars shared (immutable)."""
    if type(value) is dict:
        return {k: _copy_value(v) for k, v in value.items()}
    if type(value) is list or type(value) is tuple:
        return [_copy_value(v) for v in value]
    return value


def _blob_in(value: Any) -> bytes:
    """A blob parameter as moto's parser hands it over: the bytes botocore would have base64-encoded."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return bytes(value.read())  # a file-like object


def _attribute_value_in(value: Any) -> Any:
    """A request's AttributeValue, copied, with B and BS as bytes."""
    out: dict[str, Any] = {}
    for key, member in value.items():
        if key == "M":
            out[key] = {k: _attribute_value_in(v) for k, v in member.items()}
        elif key == "L":
            out[key] = [_attribute_value_in(v) for v in member]
        elif key == "B":
            out[key] = _blob_in(member)
        elif key == "BS":
            out[key] = [_blob_in(v) for v in member]
        elif type(member) is list or type(member) is tuple:
            out[key] = list(member)
        else:
            out[key] = member
    return out


def _timestamp_in(value: Any) -> datetime.datetime:
    """A timestamp parameter as moto's parser makes it: botocore sends epoch seconds; moto reads naive UTC."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        seconds = value.timestamp()
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        seconds = parse_timestamp(value).timestamp()
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).replace(tzinfo=None)


def _timestamp_out(value: Any) -> Any:
    """A result's timestamp as a client sees it: moto sends epoch seconds, botocore parses them."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        value = round(value.timestamp(), 3)
    return parse_timestamp(value)


def _identity(value: Any) -> Any:
    return value


class _Converters:
    """Copiers along one service's shapes, compiled once per shape: requests in, results out."""

    def __init__(self) -> None:
        self._in: dict[str, Converter] = {}
        self._out: dict[tuple[str, bool], Converter] = {}

    # --- requests ----------------------------------------------------------------------------------------

    def request(self, shape: Shape) -> Converter:
        """Copies a (validated) request along `shape`, as the wire and moto's parser would deliver it."""
        return compiled_once(self._in, shape.name, lambda: self._compile_in(shape))

    def _compile_in(self, shape: Shape) -> Converter:
        kind = shape.type_name
        if shape.name == _ATTRIBUTE_VALUE:
            return _attribute_value_in
        if kind == "structure":
            members = {key: self.request(member) for key, member in shape.members.items()}  # type: ignore[attr-defined]
            if shape.is_document_type:  # type: ignore[attr-defined]
                return _copy_value
            return lambda value: {key: members[key](v) for key, v in value.items() if key in members}
        if kind == "list":
            member = self.request(shape.member)  # type: ignore[attr-defined]
            return lambda value: [member(v) for v in value]
        if kind == "map":
            item = self.request(shape.value)  # type: ignore[attr-defined]
            return lambda value: {k: item(v) for k, v in value.items()}
        if kind == "blob":
            return _blob_in
        if kind == "timestamp":
            return _timestamp_in
        return _identity

    # --- results -----------------------------------------------------------------------------------------

    def result(self, shape: Shape, fresh: bool) -> Converter:
        """Copies a handler's result along `shape`; `fresh` when moto built it for this call (nothing shared)."""
        return compiled_once(self._out, (shape.name, fresh), lambda: self._compile_out(shape, fresh))

    def _compile_out(self, shape: Shape, fresh: bool) -> Converter:
        kind = shape.type_name
        if shape.name == _ATTRIBUTE_VALUE or (kind == "structure" and shape.is_document_type):  # type: ignore[attr-defined]
            return _identity if fresh else _copy_value
        if kind == "structure":
            return self._structure_out(shape, fresh)
        if kind == "list":
            member_shape = shape.member  # type: ignore[attr-defined]
            member = self.result(member_shape, fresh)
            if fresh and _is_attribute_data(member_shape):
                return list
            return lambda value: [member(v) for v in value]
        if kind == "map":
            value_shape = shape.value  # type: ignore[attr-defined]
            item = self.result(value_shape, fresh)
            if fresh and value_shape.name == _ATTRIBUTE_VALUE:
                return _identity
            return lambda value: {k: item(v) for k, v in value.items()}
        return _SCALARS_OUT.get(kind, _identity)

    def _structure_out(self, shape: Shape, fresh: bool) -> Converter:
        members = [(key, self.result(member, fresh)) for key, member in shape.members.items()]  # type: ignore[attr-defined]

        def structure(value: dict[str, Any]) -> dict[str, Any]:  # in the model's order, as botocore parses
            out = {}
            for key, convert in members:
                v = value.get(key)
                if v is not None:
                    out[key] = convert(v)
            return out

        return structure


def _blob_out(value: Any) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(value)


# moto's serialiser writes these scalars as int(), float(), base64 and epoch seconds; botocore reads them back.
_SCALARS_OUT: dict[str, Converter] = {
    "timestamp": _timestamp_out,
    "blob": _blob_out,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
}


def _is_attribute_data(shape: Shape) -> bool:
    """An AttributeValue or a map of them (an item): fresh results of these are handed over as moto built them."""
    if shape.name == _ATTRIBUTE_VALUE:
        return True
    return shape.type_name == "map" and shape.value.name == _ATTRIBUTE_VALUE  # type: ignore[attr-defined]


def _account_for(access_key: str | None) -> str:
    """The moto account a request signed with this access key lands in (moto's own order of precedence)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    key = access_key if access_key and _ACCESS_KEY.fullmatch(access_key) else _DEFAULT_ACCOUNT_KEY
    return get_account_id_from(key)


class FastClient:
    """A boto3 client lookalike for one moto service whose handler reads parsed parameters (JSON protocols).

    `handler_class` is the moto response class (e.g. `moto.dynamodb.responses.DynamoHandler`); each call makes
    one, gives it the copied parameters, the region and the account, and calls the operation's method on it.
    The results of `fast_operations` (plain data: items, stream records) are copied along the output shape; the
    others (table descriptions and the like, where moto's serialiser picks attributes off model objects) are
    serialised by moto and parsed by botocore as over the wire, only without HTTP.
    """

    def __init__(
        self,
        session: boto3.Session,
        service_name: str,
        handler_class: type[BaseResponse],
        *,
        fast_operations: frozenset[str] = frozenset(),
        validate: bool = True,
        endpoint_url: str | None = None,
    ) -> None:
        # A real client provides the service model, the exception classes and the config; it never sends.
        template = session.client(service_name, endpoint_url=endpoint_url)  # type: ignore[call-overload]
        service_model = template.meta.service_model
        self.exceptions = template.exceptions
        self.meta = ClientMeta(
            HierarchicalEmitter(),
            template.meta.config,
            template.meta.endpoint_url,
            service_model,
            dict(template.meta.method_to_api_mapping),
            template.meta.partition,
        )
        self._session = session
        self._service_model = service_model
        self._service_id = service_model.service_id.hyphenize()
        self._region = template.meta.region_name
        credentials = session.get_credentials()
        self._account = _account_for(credentials.access_key if credentials else None)
        self._handler_class = handler_class
        self._fast_operations = fast_operations
        self._protocol = service_model.resolved_protocol
        self._content_type = f"application/x-amz-json-{service_model.metadata.get('jsonVersion', '1.0')}"
        self._target_prefix = service_model.metadata.get("targetPrefix", "")
        self._validator = ParamValidator() if validate else None
        self._compiled = CompiledValidator()  # asked first: botocore only when it says no (or under the checks)
        self._check_validation = os.environ.get("DRWAVE_VALIDATION_CHECKS") == "1"
        self._converters = _Converters()
        self._parser = create_parser(self._protocol)
        self._operations = {method: op for method, op in self.meta.method_to_api_mapping.items()}
        self._lock = threading.RLock()  # moto's backends are not thread-safe: one call at a time

    def __getattr__(self, name: str) -> Any:
        operations = self.__dict__.get("_operations") or {}
        if name not in operations:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        operation_name = operations[name]

        def api_call(**kwargs: Any) -> dict[str, Any]:
            return self._call(operation_name, kwargs)

        api_call.__name__ = name
        setattr(self, name, api_call)  # found directly from now on
        return api_call

    # --- the call ----------------------------------------------------------------------------------------

    def _call(self, operation_name: str, api_params: dict[str, Any]) -> dict[str, Any]:
        model = self._service_model.operation_model(operation_name)
        events = self.meta.events
        context: dict[str, Any] = {"client_region": self._region, "client_config": self.meta.config}
        responses = events.emit(
            f"provide-client-params.{self._service_id}.{operation_name}",
            params=api_params,
            model=model,
            context=context,
        )
        api_params = first_non_none_response(responses, default=api_params)
        events.emit(
            f"before-parameter-build.{self._service_id}.{operation_name}",
            params=api_params,
            model=model,
            context=context,
        )
        input_shape = model.input_shape
        if input_shape is not None:
            if self._validator is not None:
                self._validate(operation_name, api_params, input_shape)
            params = self._converters.request(input_shape)(api_params)
        else:
            params = {}
        status, parsed = self._invoke(model, params)
        http = AWSResponse(self.meta.endpoint_url, status, parsed["ResponseMetadata"].get("HTTPHeaders", {}), None)
        events.emit(
            f"after-call.{self._service_id}.{operation_name}",
            http_response=http,
            parsed=parsed,
            model=model,
            context=context,
        )
        if status >= 300:
            code = parsed.get("Error", {}).get("Code")
            raise self.exceptions.from_code(code)(parsed, operation_name)
        return parsed

    def _validate(self, operation_name: str, params: dict[str, Any], shape: Shape) -> None:
        """botocore's validation of a request: its own report whenever the compiled check does not pass it."""
        passed = self._compiled.valid(params, shape)
        if passed and not self._check_validation:
            return
        report = self._validator.validate(params, shape)  # type: ignore[union-attr]
        if self._check_validation and passed == report.has_errors():
            raise AssertionError(
                f"{operation_name}: the compiled validation says {'valid' if passed else 'invalid'}, botocore says "
                f"{report.generate_report() or 'valid'}"
            )
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())

    def _handler(self, operation_name: str, params: dict[str, Any]) -> BaseResponse:
        handler = self._handler_class()
        handler.automated_parameter_parsing = True
        handler.params = params
        handler.body = params
        handler.uri_match = {}
        handler.querystring = {}
        handler.region = self._region
        handler.current_account = self._account
        handler.headers = {
            "X-Amz-Target": f"{self._target_prefix}.{operation_name}",
            "Content-Type": self._content_type,
        }
        handler.response_headers = {"server": "amazon.com"}
        return handler

    def _invoke(self, model: OperationModel, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        handler = self._handler(model.name, params)
        method = getattr(handler, xform_name(model.name), None)
        if method is None:
            raise NotImplementedError(f"The {xform_name(model.name)} action has not been implemented")
        request_id = str(uuid.uuid4())
        with self._lock:
            try:
                result = method()
            except ServiceException as err:
                status, headers, body = handler.serialized(ActionResult(err))
                return self._error(model, status, headers, body)
            except HTTPException as err:
                return self._error(model, err.code or 500, dict(err.get_headers() or []), err.get_body())
            if not isinstance(result, ActionResult):  # a handler that answers with a body of its own: parse it
                status, headers, body = BaseResponse._transform_response(dict(handler.response_headers), result)
                return status, self._parse(model, model.output_shape, status, headers, body)
            if model.name not in self._fast_operations:  # the whole way: moto's serialiser, botocore's parser
                status, headers, body = handler.serialized(result)
                headers, body = BaseResponse._enrich_response(headers, body)
                parsed = self._parse(model, model.output_shape, status, headers, body)
                parsed["ResponseMetadata"]["RetryAttempts"] = 0
                return status, parsed
            shape = model.output_shape
            # DynamoResult (dynamodb's) converts moto's items into new dicts for this response; others may share
            # what moto keeps (stream records): copied, under the lock.
            fresh = type(result).__name__ == "DynamoResult"
            parsed = self._converters.result(shape, fresh)(result.result or {}) if shape is not None else {}
        headers = {"server": "amazon.com", "x-amzn-requestid": request_id, "content-type": self._content_type}
        parsed["ResponseMetadata"] = {
            "RequestId": request_id,
            "HTTPStatusCode": 200,
            "HTTPHeaders": headers,
            "RetryAttempts": 0,
        }
        return 200, parsed

    def _error(
        self, model: OperationModel, status: int, headers: dict[str, Any], body: Any
    ) -> tuple[int, dict[str, Any]]:
        headers = {str(k).lower(): str(v) for k, v in headers.items() if k != "status"}
        headers.setdefault("x-amzn-requestid", str(uuid.uuid4()))
        parsed = self._parse(model, model.output_shape, status, headers, body)
        # As botocore's endpoint does: a second pass for the error shape's own fields (CancellationReasons...).
        code = parsed.get("Error", {}).get("Code")
        error_shape = self._service_model.shape_for_error_code(code) if code else None
        if error_shape is not None:
            parsed.update(self._parse(model, error_shape, status, headers, body))
        parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = 0  # botocore's endpoint adds it last
        return status, parsed

    def _parse(
        self, model: OperationModel, shape: Shape | None, status: int, headers: dict[str, Any], body: Any
    ) -> Any:
        raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        return self._parser.parse({"status_code": status, "headers": headers, "body": raw}, shape)  # type: ignore[arg-type]

    # --- the rest of a client's surface -------------------------------------------------------------------

    def can_paginate(self, operation_name: str) -> bool:
        operation = self._operations.get(operation_name)
        if operation is None:
            return False
        return self._paginator_config(operation) is not None

    def _paginator_config(self, operation: str) -> dict[str, Any] | None:
        try:
            model = self._session._session.get_paginator_model(self._service_model.service_name)
            config: dict[str, Any] = model.get_paginator(operation)
            return config
        except Exception:
            return None

    def get_paginator(self, operation_name: str) -> Paginator:
        operation = self._operations.get(operation_name)
        config = self._paginator_config(operation) if operation else None
        if operation is None or config is None:
            raise OperationNotPageableError(operation_name=operation_name)
        return Paginator(getattr(self, operation_name), config, self._service_model.operation_model(operation))

    def close(self) -> None:
        """Nothing to close: there is no connection."""


ENV_VAR = "DRWAVE_LOCAL_DYNAMODB"
CHOICES = ("fast", "moto")


def dynamodb_choice(explicit: str | None = None, *, default: str) -> str:
    """Which DynamoDB the local runtime uses: `explicit`, else $DRWAVE_LOCAL_DYNAMODB, else `default`."""
    choice = explicit or os.environ.get(ENV_VAR) or default
    if choice not in CHOICES:
        raise ValueError(f"DynamoDB for the local runtime must be one of {', '.join(CHOICES)}, not {choice!r}")
    return choice


def fast_dynamodb(session: boto3.Session, *, validate: bool = True) -> FastClient:
    """A DynamoDB client on moto's in-process backend (the session's region and account)."""
    return FastClient(session, "dynamodb", DynamoHandler, fast_operations=DYNAMODB_DATA_OPERATIONS, validate=validate)


def fast_dynamodbstreams(
    session: boto3.Session, *, validate: bool = True, endpoint_url: str | None = None
) -> FastClient:
    """A DynamoDB Streams client on moto's in-process backend."""
    return FastClient(
        session,
        "dynamodbstreams",
        DynamoDBStreamsHandler,
        fast_operations=STREAMS_DATA_OPERATIONS,
        validate=validate,
        endpoint_url=endpoint_url,
    )
