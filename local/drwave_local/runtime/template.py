"""Reads infrastructure/template.yaml: the single source of wiring for AWS and for the local runtime."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from drwave_local.paths import INFRASTRUCTURE

DEFAULT_TEMPLATE = INFRASTRUCTURE / "template.yaml"
DEFAULT_BUS = "default"
DRWAVE_BUS = "drwave"


# libyaml's parser where PyYAML was built with it (the wheels are): the template is read by every local runtime.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """YAML loader that understands CloudFormation short-form intrinsics (!Ref, !Sub, !GetAtt, ...)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Route:
    """One EventBridge rule that targets a function."""

    function: str
    handler: str
    rule: str
    bus: str
    pattern: dict[str, Any]


@dataclass(frozen=True)
class ScheduleRule:
    """A scheduled rule that targets a function."""

    function: str
    handler: str
    rule: str
    rate_seconds: int


@dataclass(frozen=True)
class StreamRoute:
    """A DynamoDB stream event source mapping that targets a function."""

    function: str
    handler: str
    event: str
    batch_size: int
    maximum_retry_attempts: int
    filters: tuple[dict[str, Any], ...] = ()  # FilterCriteria patterns: a record is delivered if any matches
    batching_window_seconds: float = 0.0  # MaximumBatchingWindowInSeconds: records gather this long per batch


@dataclass
class Template:
    """The parts of the SAM template the local runtime needs."""

    resources: dict[str, Any]
    parameters: dict[str, Any]
    routes: list[Route] = field(default_factory=list)
    schedules: list[ScheduleRule] = field(default_factory=list)
    streams: list[StreamRoute] = field(default_factory=list)
    # Functions invoked synchronously (API Gateway, direct invocation): logical id -> handler
    synchronous: dict[str, str] = field(default_factory=dict)
    # Every function's environment variables (the Globals' and its own, values as written): logical id -> variables
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resource(self, logical_id: str) -> dict[str, Any]:
        """The properties of one resource."""
        props: dict[str, Any] = self.resources[logical_id].get("Properties", {})
        return props

    def table_properties(self) -> dict[str, Any]:
        """Properties of the single DynamoDB table."""
        return next(r.get("Properties", {}) for r in self.resources.values() if r["Type"] == "AWS::DynamoDB::Table")

    def create_table_kwargs(self, table_name: str) -> dict[str, Any]:
        """CreateTable arguments from the template's table properties, so the local table is the deployed one."""
        props = self.table_properties()
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if stream := props.get("StreamSpecification"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        return kwargs


def load_template(path: Path = DEFAULT_TEMPLATE) -> Template:
    """Parse the template and extract every function's rules, schedules and stream event sources."""
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read the SAM template: {err}") from err
    template = Template(resources=doc.get("Resources", {}), parameters=doc.get("Parameters", {}))
    shared = (((doc.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}
    for name, resource in template.resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        template.environments[name] = {**shared, **((props.get("Environment") or {}).get("Variables") or {})}
        events = props.get("Events") or {}
        if not events or any(e["Type"] == "Api" for e in events.values()):
            template.synchronous[name] = props["Handler"]
        for rule, event in events.items():
            event_props = event.get("Properties", {})
            if event["Type"] == "EventBridgeRule":
                bus = DRWAVE_BUS if "EventBusName" in event_props else DEFAULT_BUS
                template.routes.append(Route(name, props["Handler"], rule, bus, event_props["Pattern"]))
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                expression = _resolve(template, event_props.get("Schedule") or event_props.get("ScheduleExpression"))
                template.schedules.append(ScheduleRule(name, props["Handler"], rule, rate_seconds(expression)))
            elif event["Type"] == "DynamoDB":
                filters = (event_props.get("FilterCriteria") or {}).get("Filters") or []
                template.streams.append(
                    StreamRoute(
                        name,
                        props["Handler"],
                        rule,
                        int(event_props.get("BatchSize", 100)),
                        int(_resolve(template, event_props.get("MaximumRetryAttempts", -1))),
                        tuple(json.loads(f["Pattern"]) for f in filters),
                        float(_resolve(template, event_props.get("MaximumBatchingWindowInSeconds", 0))),
                    )
                )
    return template


def _resolve(template: Template, value: Any) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return str(template.parameters[value["Ref"]]["Default"])
    return str(value)


def rate_seconds(expression: str) -> int:
    """Seconds between firings of an EventBridge `rate(...)` expression."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        raise ValueError(f"schedule: only rate() expressions run locally, got {expression!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return int(match.group(1)) * unit
