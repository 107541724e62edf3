"""The SAM template is deployable: it lints, transforms, passes checkov, grants least privilege, and still wires
exactly what the local runtime reads. No AWS call is made: the SAM transform and both linters run offline."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from drwave_local.runtime.template import DEFAULT_BUS, DEFAULT_TEMPLATE, DRWAVE_BUS, load_template

TEMPLATE = DEFAULT_TEMPLATE
FUNCTIONS = {
    "StartExecutionFunction",
    "StartWaveFunction",
    "TrackLaunchFunction",
    "ReconcileJobsFunction",
    "AdvancePlanFunction",
    "RunWaveActionsFunction",
    "ProjectStatusFunction",
    "SyncWorkflowFunction",
    "NotifyFunction",
    "CleanupDrillFunction",
    "WriteReportFunction",
    "ApiFunction",
    "QueryFunction",
    "ExecutionControlFunction",
    "DataManagementFunction",
    "TriggerFunction",
}
# checkov is pinned exactly (a new release adds checks) and lives in its own virtualenv: every checkov release pins
# boto3 exactly (3.3.30: boto3==1.35.49), which would downgrade the project's boto3/botocore in the dev extra.
CHECKOV_VERSION = "3.3.30"
# AWS managed policies SAM attaches to every generated role: CloudWatch Logs writes (AWSLambdaBasicExecutionRole)
# and X-Ray segments for `Tracing: Active` (AWSXrayWriteOnlyAccess; X-Ray has no resource-level permissions).
SAM_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
# Actions that carry the blast radius of this stack must name the resources they act on.
SCOPED_ACTIONS = {
    "drs:StartRecovery": (":source-server/",),
    "drs:CreateRecoveryInstanceForDrs": (":source-server/",),
    "drs:TagResource": (":job/", ":recovery-instance/"),
    "drs:DescribeJobLogItems": (":job/",),
    "ssm:SendCommand": (":document/", ":instance/"),
    "ssm:StartAutomationExecution": (":automation-definition/",),
    "iam:PassRole": (":role/service-role/AWSElasticDisasterRecovery", '"SchedulerRole"'),
    "sts:AssumeRole": (":role/${CrossAccountRoleName}",),
    "drs:UpdateLaunchConfiguration": (":source-server/",),
    "sns:Publish": ('{"Ref": "NotificationTopic"}',),  # alarms and operator notifications: that one topic only
}
READ_ONLY_VERBS = ("Describe", "Get", "List")
# Writes IAM defines without any resource type, so "*" is their only possible Resource: completing a Step Functions
# task (its token names the one task) and CloudWatch Logs' vended-log delivery, which the wrapper's logging needs.
NO_RESOURCE_TYPE_WRITES = {
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "logs:CreateLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:PutResourcePolicy",
}
RESOURCE_POLICIES = {"AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"}


# ------------------------------------------------------------------------------------------------ helpers


class _OfflinePolicyLoader:
    """Managed-policy loader for the SAM translator: the template names managed policies by ARN, so nothing is
    ever looked up in IAM."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """The CloudFormation template SAM deploys, translated offline."""
    sam = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    # what `sam build && sam package` do: local code and layer directories become S3 objects
    sam["Globals"]["Function"]["CodeUri"] = "s3://drwave-artifacts/functions.zip"
    sam["Resources"]["DependenciesLayer"]["Properties"]["ContentUri"] = "s3://drwave-artifacts/dependencies.zip"
    sam["Resources"]["ExecutionStateMachine"]["Properties"]["DefinitionUri"] = (
        "s3://drwave-artifacts/execution.asl.json"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the translator builds ARNs for the partition of a region
        return transform(sam, {}, _OfflinePolicyLoader())  # type: ignore[arg-type]


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Statements of a policy document, with both branches of every Fn::If (conditional statements)."""
    pending = list(document.get("Statement", []))
    while pending:
        item = pending.pop()
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            pending.extend(b for b in item["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"})
        else:
            yield item


def _policy_documents(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(resource, kind, document) for every IAM policy document of the translated template."""
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if "KeyPolicy" in props:
            yield name, "key", props["KeyPolicy"]
        if "PolicyDocument" in props:  # queue, topic and IAM policies
            yield name, "resource" if resource["Type"] in RESOURCE_POLICIES else "identity", props["PolicyDocument"]
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield name, "identity", policy["PolicyDocument"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _references(node: Any) -> Iterator[str]:
    """Logical names used by Ref, Fn::GetAtt and ${...} in Fn::Sub anywhere below node."""
    if isinstance(node, list):
        for item in node:
            yield from _references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                yield value
            elif key == "Fn::GetAtt":
                yield value[0] if isinstance(value, list) else value.split(".")[0]
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                names = {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                yield from names - set(variables)
                yield from _references(variables)
            else:
                yield from _references(value)


def _checkov_command() -> list[str]:
    """The pinned checkov, installed on first use into <venv>/tools (DRWAVE_CHECKOV=/path/to/checkov overrides)."""
    if override := os.environ.get("DRWAVE_CHECKOV"):
        return [override]
    in_venv = sys.prefix != sys.base_prefix
    tools = Path(sys.prefix) / "tools" if in_venv else Path.home() / ".cache" / "drwave" / "tools"
    venv = tools / f"checkov-{CHECKOV_VERSION}"
    installed = venv / ".installed"
    if not installed.exists():
        tools.mkdir(parents=True, exist_ok=True)
        with (tools / ".checkov.lock").open("w") as lock:  # concurrent test runs build it once
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not installed.exists():
                shutil.rmtree(venv, ignore_errors=True)
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
                subprocess.run(
                    [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"checkov=={CHECKOV_VERSION}"],
                    check=True,
                    timeout=900,
                )
                installed.touch()
    return [str(venv / "bin" / "checkov")]


def _with_stage_skips(transformed: dict[str, Any]) -> dict[str, Any]:
    """SAM generates an API's Stage but does not copy the Api's Metadata to it: carry its checkov skips over."""
    sam = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))["Resources"]
    resources = {name: dict(r) for name, r in transformed["Resources"].items()}
    for stage in (r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"):
        api = stage["Properties"]["RestApiId"]["Ref"]
        if "checkov" in sam.get(api, {}).get("Metadata", {}):
            stage["Metadata"] = {"checkov": sam[api]["Metadata"]["checkov"]}
    return {**transformed, "Resources": resources}


@pytest.fixture(scope="module")
def checkov(transformed: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """checkov's results for the SAM template and for its translation (where the generated roles are checked)."""
    # checkov's CKV_AWS_45 scans the merged Globals' Variables including the `__file__` it injects, and flags any
    # run of exactly 40 [A-Za-z0-9/+=] characters as an AWS secret key: an absolute checkout path can be that long
    # (it was, in CI). So both files are scanned from a temporary directory by short relative names.
    workdir = tmp_path_factory.mktemp("checkov")
    shutil.copyfile(TEMPLATE, workdir / TEMPLATE.name)
    (workdir / "template.translated.json").write_text(json.dumps(_with_stage_skips(transformed)), encoding="utf-8")
    command = [*_checkov_command(), "-f", TEMPLATE.name, "-f", "template.translated.json"]
    command += ["--framework", "cloudformation", "--skip-download", "--output", "json"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=workdir)
    try:
        report: dict[str, Any] = json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov produced no report (exit {run.returncode}):\n{run.stderr[-3000:]}")
    return report


# ------------------------------------------------------------------------------------------------ linters


def test_cfn_lint_reports_no_error_or_warning() -> None:
    # GIVEN the SAM template  WHEN cfn-lint validates it  THEN it reports no error and no warning
    matches = lint_file(TEMPLATE, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    problems = [f"{m.rule.id} {m.message} ({m.linenumber}:{m.columnnumber})" for m in matches if m.rule.id[0] in "EW"]
    assert problems == []


def test_sam_translator_transforms_the_template_and_every_reference_resolves(transformed: dict[str, Any]) -> None:
    # GIVEN the translated template
    resources = transformed["Resources"]
    # THEN no serverless resource is left and every function got a role of its own
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::Serverless::")]
    functions = _resources(transformed, "AWS::Lambda::Function")
    assert set(functions) == FUNCTIONS
    roles = {name: f["Properties"]["Role"] for name, f in functions.items()}
    assert roles == {name: {"Fn::GetAtt": [f"{name}Role", "Arn"]} for name in FUNCTIONS}
    # AND every Ref/GetAtt/Sub names a resource, a parameter or a pseudo parameter (the dead-letter queue policy
    # names SAM-generated rules, so this also pins SAM's `<Function><Event>` rule ids)
    known = set(resources) | set(transformed["Parameters"])
    unknown = {n for n in _references(transformed) if n not in known and not n.startswith("AWS::")}
    assert unknown == set()


def test_checkov_finds_no_failed_check(checkov: dict[str, Any]) -> None:
    # GIVEN checkov's report on the template and on its translation
    summary, results = checkov["summary"], checkov["results"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results["failed_checks"]]
    # THEN nothing failed, nothing was unparsable, and checks really ran on both files
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert {Path(c["file_path"]).name for c in results["passed_checks"]} == {
        TEMPLATE.name,
        "template.translated.json",
    }


def test_every_checkov_skip_is_declared_in_the_template_with_a_reason(checkov: dict[str, Any]) -> None:
    # GIVEN the checks checkov skipped (the test passes no --skip-check: only template Metadata can skip)
    skipped = checkov["results"]["skipped_checks"]
    # THEN each skip carries a written reason
    unexplained = [
        f"{c['check_id']} {c['resource']}"
        for c in skipped
        if len((c["check_result"].get("suppress_comment") or "").split()) < 5
    ]
    assert unexplained == []


# ------------------------------------------------------------------------------------------------ IAM


def test_no_policy_statement_uses_a_wildcard_action(transformed: dict[str, Any]) -> None:
    # GIVEN every policy document (roles, key policy, queue and topic policies)
    wildcards = [
        f"{name}: {action}"
        for name, _, document in _policy_documents(transformed)
        for statement in _statements(document)
        for action in _as_list(statement.get("Action", [])) + _as_list(statement.get("NotAction", []))
        if "*" in action or "NotAction" in statement
    ]
    # THEN no action contains "*" (and none is granted by exclusion)
    assert wildcards == []


def test_only_read_actions_without_resource_level_permissions_use_resource_star(transformed: dict[str, Any]) -> None:
    # GIVEN every allow statement whose Resource is "*" (key policies excepted: there "*" means the key itself)
    writes = [
        f"{name}: {action}"
        for name, kind, document in _policy_documents(transformed)
        if kind != "key"
        for statement in _statements(document)
        if statement.get("Effect") == "Allow" and "*" in _as_list(statement.get("Resource", []))
        for action in _as_list(statement["Action"])
        if not action.split(":", 1)[1].startswith(READ_ONLY_VERBS) and action not in NO_RESOURCE_TYPE_WRITES
    ]
    # THEN all of them are Describe/Get/List calls (or writes IAM gives no resource type at all)
    assert writes == []


def test_powerful_actions_are_scoped_to_their_resource_arns(transformed: dict[str, Any]) -> None:
    # GIVEN the statements granting DRS recovery, SSM execution, PassRole and AssumeRole
    seen: set[str] = set()
    for name, _, document in _policy_documents(transformed):
        for statement in _statements(document):
            for action in set(_as_list(statement.get("Action", []))) & set(SCOPED_ACTIONS):
                seen.add(action)
                # THEN each resource is an ARN of one of the resource types the action is meant for
                for resource in _as_list(statement["Resource"]):
                    text = json.dumps(resource)
                    assert any(t in text for t in SCOPED_ACTIONS[action]), f"{name}: {action} on {text}"
    assert seen == set(SCOPED_ACTIONS)


def test_roles_attach_only_the_managed_policies_sam_adds(transformed: dict[str, Any]) -> None:
    # GIVEN the generated roles  THEN each one attaches only logging and tracing managed policies
    for name, role in _resources(transformed, "AWS::IAM::Role").items():
        assert set(role["Properties"].get("ManagedPolicyArns", [])) <= SAM_MANAGED_POLICIES, name


# ------------------------------------------------------------------------------------------------ wiring


def test_local_runtime_routes_exactly_the_rules_that_deploy(transformed: dict[str, Any]) -> None:
    # GIVEN what the local runtime extracts from the template and the rules SAM generates from it
    local = load_template()
    routes, schedules = set(), set()
    for rule_id, rule in _resources(transformed, "AWS::Events::Rule").items():
        props = rule["Properties"]
        (target,) = props["Targets"]
        function = target["Arn"]["Fn::GetAtt"][0]
        event = rule_id.removeprefix(function)
        if "ScheduleExpression" in props:
            schedules.add((function, event))
            continue
        assert props.get("EventBusName", {"Ref": "EventBus"}) == {"Ref": "EventBus"}
        bus = DRWAVE_BUS if "EventBusName" in props else DEFAULT_BUS
        routes.add((function, event, bus, json.dumps(props["EventPattern"], sort_keys=True)))
    # THEN the same rules, buses and patterns reach the same functions
    assert {(r.function, r.rule, r.bus, json.dumps(r.pattern, sort_keys=True)) for r in local.routes} == routes
    assert {(s.function, s.rule) for s in local.schedules} == schedules
    # AND the same stream event sources, batch sizes, retries and filters
    mappings = set()
    for mapping_id, mapping in _resources(transformed, "AWS::Lambda::EventSourceMapping").items():
        props = mapping["Properties"]
        function = props["FunctionName"]["Ref"]
        filters = tuple(f["Pattern"] for f in props.get("FilterCriteria", {}).get("Filters", []))
        event = mapping_id.removeprefix(function)
        mappings.add((function, event, props["BatchSize"], props["MaximumRetryAttempts"], filters))
    assert {
        (s.function, s.event, s.batch_size, s.maximum_retry_attempts, tuple(json.dumps(f) for f in s.filters))
        for s in local.streams
    } == {(f, e, b, r, tuple(json.dumps(json.loads(p)) for p in ps)) for f, e, b, r, ps in mappings}
    functions = [*local.routes, *local.schedules, *local.streams]
    assert {f.function for f in functions} | set(local.synchronous) == FUNCTIONS
    # AND each function runs the handler the local runtime calls (the API and direct-invocation ones synchronously)
    handlers = {n: f["Properties"]["Handler"] for n, f in _resources(transformed, "AWS::Lambda::Function").items()}
    assert {f.function: f.handler for f in functions} | local.synchronous == handlers
    assert set(local.synchronous) == {
        "ApiFunction",
        "QueryFunction",
        "ExecutionControlFunction",
        "DataManagementFunction",
    }


def test_every_stream_consumer_reports_partial_failures_and_sends_exhausted_batches_to_an_alarmed_queue(
    transformed: dict[str, Any],
) -> None:
    queues = _resources(transformed, "AWS::SQS::Queue")
    mappings = _resources(transformed, "AWS::Lambda::EventSourceMapping")
    assert mappings
    for name, mapping in mappings.items():
        props = mapping["Properties"]
        # GIVEN each stream event source  THEN it reads the state table's stream and retries a bounded number of
        # times, bisecting, re-delivering only from the first failed record
        assert props["EventSourceArn"] == {"Fn::GetAtt": ["StateTable", "StreamArn"]}, name
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
        assert props["BisectBatchOnFunctionError"] is True, name
        assert 0 <= props["MaximumRetryAttempts"] <= 10, name
        # AND what still fails lands on a dead-letter queue (alarmed, like every queue)
        assert props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0] in queues, name


def test_every_rule_target_retries_then_dead_letters_to_its_own_queue(transformed: dict[str, Any]) -> None:
    queues = _resources(transformed, "AWS::SQS::Queue")
    (queue_policy,) = _resources(transformed, "AWS::SQS::QueuePolicy").values()
    allowed = {
        (s["Resource"]["Fn::GetAtt"][0], s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0])
        for s in _statements(queue_policy["Properties"]["PolicyDocument"])
    }
    used = []
    for rule_id, rule in _resources(transformed, "AWS::Events::Rule").items():
        (target,) = rule["Properties"]["Targets"]
        # GIVEN each rule target  THEN it has a retry policy and a dead-letter queue only its rule may write
        assert set(target["RetryPolicy"]) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}, rule_id
        queue = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        assert queue in queues, rule_id
        assert (queue, rule_id) in allowed, rule_id
        used.append(queue)
    assert len(used) == len(set(used))


def test_functions_trace_log_to_their_own_group_and_dead_letter_failed_invocations(
    transformed: dict[str, Any],
) -> None:
    groups = _resources(transformed, "AWS::Logs::LogGroup")
    queues = _resources(transformed, "AWS::SQS::Queue")
    for name, function in _resources(transformed, "AWS::Lambda::Function").items():
        props = function["Properties"]
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        group = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}, name
        assert "KmsKeyId" in groups[group]["Properties"], name
        assert props["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0] in queues, name
    assert transformed["Parameters"]["LogRetentionInDays"]["Default"] == 30


def test_every_dead_letter_queue_and_every_function_error_alarms_to_the_topic(transformed: dict[str, Any]) -> None:
    alarms = list(_resources(transformed, "AWS::CloudWatch::Alarm").values())

    def alarmed(metric: str, dimension: str, target: Any) -> bool:
        return any(
            a["Properties"]["MetricName"] == metric
            and a["Properties"]["Dimensions"] == [{"Name": dimension, "Value": target}]
            and a["Properties"]["Threshold"] == 0
            and a["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
            and {"Ref": "NotificationTopic"} in a["Properties"]["AlarmActions"]
            for a in alarms
        )

    # GIVEN every queue (all of them are dead-letter queues) and every function  THEN each has its alarm
    silent = [
        q
        for q in _resources(transformed, "AWS::SQS::Queue")
        if not alarmed("ApproximateNumberOfMessagesVisible", "QueueName", {"Fn::GetAtt": [q, "QueueName"]})
    ]
    silent += [f for f in FUNCTIONS if not alarmed("Errors", "FunctionName", {"Ref": f})]
    assert silent == []


def test_state_table_topic_and_queues_are_protected_and_encrypted(transformed: dict[str, Any]) -> None:
    (table,) = _resources(transformed, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert "TimeToLiveSpecification" not in props  # nothing writes an expiry: the audit trail is kept
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "EncryptionKey"},
    }
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    (topic,) = _resources(transformed, "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "EncryptionKey"}
    (subscription,) = _resources(transformed, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasNotificationEmail"
    for name, queue in _resources(transformed, "AWS::SQS::Queue").items():
        assert queue["Properties"]["KmsMasterKeyId"] == {"Ref": "EncryptionKey"}, name
    (key,) = _resources(transformed, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True


def test_engine_functions_may_assume_the_cross_account_role_only_in_the_target_accounts(
    transformed: dict[str, Any],
) -> None:
    # GIVEN every statement granting sts:AssumeRole
    assuming = {}
    for name, _, document in _policy_documents(transformed):
        for statement in _statements(document):
            if "sts:AssumeRole" in _as_list(statement.get("Action", [])):
                assuming[name] = statement
    # THEN the engine functions that reach DRS, SSM or EC2 in a target account hold it
    assert {
        "StartWaveFunctionRole",
        "TrackLaunchFunctionRole",
        "ReconcileJobsFunctionRole",
        "RunWaveActionsFunctionRole",
    } <= set(assuming)
    for name, statement in assuming.items():
        # AND only for the CrossAccountRoleName role, in the accounts listed in TargetAccountIds
        assert ":role/${CrossAccountRoleName}" in json.dumps(statement["Resource"]), name
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceAccount": {"Ref": "TargetAccountIds"}}}, name


def test_start_wave_may_apply_launch_settings_to_this_accounts_servers_and_launch_templates(
    transformed: dict[str, Any],
) -> None:
    # GIVEN the start-wave role's statements
    role = transformed["Resources"]["StartWaveFunctionRole"]["Properties"]
    granted = {
        action: json.dumps(statement["Resource"])
        for policy in role["Policies"]
        for statement in _statements(policy["PolicyDocument"])
        if "Condition" not in statement
        for action in _as_list(statement["Action"])
    }
    # THEN it reads and updates DRS launch configurations of source servers, directly (not only via DRS)
    assert ":source-server/" in granted["drs:GetLaunchConfiguration"]
    assert ":source-server/" in granted["drs:UpdateLaunchConfiguration"]
    # AND writes new default versions of launch templates, which it reads first
    assert ":launch-template/" in granted["ec2:CreateLaunchTemplateVersion"]
    assert ":launch-template/" in granted["ec2:ModifyLaunchTemplate"]
    assert "ec2:DescribeLaunchTemplateVersions" in granted


def test_parameters_for_a_guided_deploy(transformed: dict[str, Any]) -> None:
    parameters = transformed["Parameters"]
    assert {"ProjectName", "Environment", "TargetAccountIds", "NotificationEmail", "LogRetentionInDays"} <= set(
        parameters
    )
    assert parameters["TargetAccountIds"]["Type"] == "CommaDelimitedList"
    assert parameters["TargetAccountIds"]["Default"] == ""
    assert parameters["NotificationEmail"]["Default"] == ""


def test_dependencies_layer_installs_the_runtime_dependencies() -> None:
    # GIVEN the project's runtime dependencies and the layer's requirements
    project = tomllib.loads((TEMPLATE.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = (TEMPLATE.parent / "dependencies" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    layer = [line.strip() for line in requirements if line.strip() and not line.startswith("#")]
    # THEN the layer installs every one of them except boto3, which the Lambda runtime provides
    assert sorted(layer) == sorted(d for d in project["dependencies"] if not d.startswith("boto3"))


def test_users_cannot_rewrite_the_claims_the_api_trusts(transformed: dict[str, Any]) -> None:
    # GIVEN the user pool clients the CLI and the console sign in with
    clients = _resources(transformed, "AWS::Cognito::UserPoolClient")
    assert set(clients) == {"UserPoolClient", "ConsoleUserPoolClient"}
    for name, client in clients.items():
        writable = set(client["Properties"].get("WriteAttributes") or [])
        # THEN the attributes a user may change on themselves are listed, and exclude every identity attribute
        assert writable, f"{name}: without WriteAttributes every standard attribute, email included, is writable"
        assert not writable & {"email", "preferred_username", "phone_number", "custom:role"}


def test_the_cli_client_is_public_and_signs_in_by_srp_and_refresh_token_only(transformed: dict[str, Any]) -> None:
    # GIVEN the app client `drwave login` uses
    props = transformed["Resources"]["UserPoolClient"]["Properties"]
    # THEN it has no secret (a CLI cannot keep one), no password-in-the-clear flow and no hosted-UI flows
    assert props["GenerateSecret"] is False
    assert sorted(props["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
    assert "AllowedOAuthFlows" not in props
    assert transformed["Outputs"]["UserPoolClientId"]["Value"] == {"Ref": "UserPoolClient"}


# ------------------------------------------------------------------------------------------------ web console

CONSOLE_URL = {"Fn::Sub": "https://${ConsoleDistribution.DomainName}"}


def test_the_console_client_is_public_and_signs_in_by_authorization_code_on_the_console_url_only(
    transformed: dict[str, Any],
) -> None:
    # GIVEN the console's app client
    props = transformed["Resources"]["ConsoleUserPoolClient"]["Properties"]
    # THEN it has no secret and allows the authorization code grant only (no implicit, no client credentials), for
    # which the page brings PKCE; it signs in through the user pool itself, never by password or SRP
    assert props["GenerateSecret"] is False
    assert props["AllowedOAuthFlowsUserPoolClient"] is True
    assert props["AllowedOAuthFlows"] == ["code"]
    assert sorted(props["AllowedOAuthScopes"]) == ["email", "openid", "profile"]
    assert props["SupportedIdentityProviders"] == ["COGNITO"]
    assert props["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]
    # AND the hosted UI sends the code back only to the distribution's own URL, and signs out to it
    callback = {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/"}
    assert props["CallbackURLs"] == [callback] and props["LogoutURLs"] == [callback]
    assert props["UserPoolId"] == {"Ref": "UserPool"}
    # AND the hosted UI domain belongs to the pool, and the outputs name what `drwave console publish` needs
    domain = transformed["Resources"]["HostedUiDomain"]
    assert domain["Type"] == "AWS::Cognito::UserPoolDomain"
    assert domain["Properties"]["UserPoolId"] == {"Ref": "UserPool"}
    outputs = transformed["Outputs"]
    assert outputs["ConsoleUrl"]["Value"] == CONSOLE_URL
    assert outputs["ConsoleClientId"]["Value"] == {"Ref": "ConsoleUserPoolClient"}
    assert outputs["UserPoolDomain"]["Value"] == {"Fn::Sub": "${HostedUiDomain}.auth.${AWS::Region}.amazoncognito.com"}
    assert outputs["ConsoleBucketName"]["Value"] == {"Ref": "ConsoleBucket"}


def test_the_console_bucket_is_private_encrypted_versioned_and_readable_only_by_the_distribution(
    transformed: dict[str, Any],
) -> None:
    # GIVEN the console's bucket and its policy
    props = transformed["Resources"]["ConsoleBucket"]["Properties"]
    # THEN it is encrypted at rest, versioned, owner-enforced and blocks every kind of public access
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "WebsiteConfiguration" not in props  # served by CloudFront from the REST endpoint, not a website
    policy = transformed["Resources"]["ConsoleBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ConsoleBucket"}
    statements = policy["PolicyDocument"]["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert [s["Condition"] for s in deny] == [{"Bool": {"aws:SecureTransport": "false"}}]
    # AND the only grant is GetObject to CloudFront, for requests from this stack's distribution
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert allow["Resource"] == {"Fn::Sub": "${ConsoleBucket.Arn}/*"}
    assert allow["Condition"] == {
        "StringEquals": {
            "AWS:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${ConsoleDistribution}"
            }
        }
    }


def test_the_console_distribution_reads_the_bucket_through_origin_access_control_over_https_only(
    transformed: dict[str, Any],
) -> None:
    # GIVEN the distribution and its origin access control
    config = transformed["Resources"]["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    oac = transformed["Resources"]["ConsoleOriginAccessControl"]
    assert oac["Type"] == "AWS::CloudFront::OriginAccessControl"
    oac_config = oac["Properties"]["OriginAccessControlConfig"]
    # THEN CloudFront signs every request to the bucket (SigV4), and the one origin is the bucket via that OAC
    assert oac_config["OriginAccessControlOriginType"] == "s3"
    assert oac_config["SigningBehavior"] == "always" and oac_config["SigningProtocol"] == "sigv4"
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["ConsoleBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy origin access identity
    # AND viewers get HTTPS, read-only methods, the page at / and for any unknown path (the hash-routed page)
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert config["DefaultRootObject"] == "index.html"
    errors = {e["ErrorCode"]: (e["ResponseCode"], e["ResponsePagePath"]) for e in config["CustomErrorResponses"]}
    assert errors == {403: (200, "/index.html"), 404: (200, "/index.html")}
    # AND every answer carries the security headers: CSP (own script, the API and the hosted UI only), HSTS, DENY
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "ConsoleSecurityHeaders"}
    headers = transformed["Resources"]["ConsoleSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    security = headers["SecurityHeadersConfig"]
    csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert "connect-src 'self' https://*.execute-api.${AWS::Region}." in csp and ".amazoncognito.com" in csp
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert security["ContentTypeOptions"] == {"Override": True}


def test_the_api_admits_the_console_origin_and_answers_its_preflights_without_a_token(
    transformed: dict[str, Any],
) -> None:
    # GIVEN the REST API's definition as SAM generates it
    body = transformed["Resources"]["Api"]["Properties"]["Body"]
    proxy = body["paths"]["/{proxy+}"]
    # THEN the preflight (OPTIONS) is a mock answer naming only the console's origin, outside the authorizer
    preflight = proxy["options"]
    assert "security" not in preflight
    headers = preflight["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
    assert headers["method.response.header.Access-Control-Allow-Origin"] == {
        "Fn::Sub": "'https://${ConsoleDistribution.DomainName}'"
    }
    allowed = headers["method.response.header.Access-Control-Allow-Headers"].strip("'").split(",")
    assert {"Authorization", "Content-Type", "If-None-Match", "If-Match"} == set(allowed)
    # AND every other method still needs the Cognito authorizer
    assert proxy["x-amazon-apigateway-any-method"]["security"] == [{"CognitoAuthorizer": []}]
    # AND API Gateway's own refusals (401 from the authorizer) are readable by the page, as are the function's
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        response = body["x-amazon-apigateway-gateway-responses"][kind]["responseParameters"]
        assert response["gatewayresponse.header.Access-Control-Allow-Origin"] == {
            "Fn::Sub": "'https://${ConsoleDistribution.DomainName}'"
        }
    variables = transformed["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["CONSOLE_ORIGIN"] == CONSOLE_URL


# ------------------------------------------------------------------------------------------------ triggers


def test_only_drwaves_own_roles_may_put_drwave_events_on_its_bus(transformed: dict[str, Any]) -> None:
    # GIVEN the bus policies and every role allowed to put events on the bus
    policy = transformed["Resources"]["EventBusOnlyDrwavePublishes"]
    statement = policy["Properties"]["Statement"]
    publishers = {
        name
        for name, _, document in _policy_documents(transformed)
        for s in _statements(document)
        if "events:PutEvents" in _as_list(s.get("Action", [])) and s.get("Effect") == "Allow"
    }
    # THEN any principal but those roles is denied PutEvents of source drwave (commands included) on the bus
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert statement["Condition"]["StringEquals"] == {"events:source": "drwave"}
    allowed = {a["Fn::GetAtt"][0] for a in statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]}
    assert allowed == publishers
    # AND the scheduler and alarm paths are not among them: they reach the bus only through the trigger function
    assert "SchedulerRole" not in allowed


def test_scheduler_delivers_drill_occurrences_to_the_trigger_function_only(transformed: dict[str, Any]) -> None:
    role = transformed["Resources"]["SchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    granted = {
        a: s["Resource"]
        for p in role["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        for a in _as_list(s["Action"])
    }
    assert granted["lambda:InvokeFunction"] == {"Fn::GetAtt": ["TriggerFunction", "Arn"]}
    assert granted["sqs:SendMessage"] == {"Fn::GetAtt": ["SchedulerDeadLetterQueue", "Arn"]}
    # AND the control plane may pass that role, and only that role, only to Scheduler, for schedules in its group
    api = transformed["Resources"]["ApiFunctionRole"]["Properties"]
    statements = [s for p in api["Policies"] for s in _statements(p["PolicyDocument"])]
    (pass_role,) = [s for s in statements if "iam:PassRole" in _as_list(s["Action"])]
    assert pass_role["Resource"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    (manage,) = [s for s in statements if "scheduler:CreateSchedule" in _as_list(s["Action"])]
    assert "schedule/${DrillScheduleGroup}/*" in json.dumps(manage["Resource"])


def test_subscriber_accounts_may_create_rules_for_the_public_detail_types_only(transformed: dict[str, Any]) -> None:
    from drwave_local.contracts.catalogue import PUBLIC  # noqa: PLC0415

    create = transformed["Resources"]["EventBusSubscribersCreatePublicRules"]
    manage = transformed["Resources"]["EventBusSubscribersManageTheirRules"]
    assert create["Condition"] == manage["Condition"] == "HasSubscriberAccounts"
    statement = create["Properties"]["Statement"]
    assert statement["Principal"] == {"AWS": {"Ref": "SubscriberAccountIds"}}
    assert statement["Action"] == "events:PutRule"
    assert statement["Condition"]["ForAllValues:StringEquals"]["events:detail-type"] == list(PUBLIC)
    assert statement["Condition"]["Null"] == {"events:source": "false", "events:detail-type": "false"}
    assert "events:PutRule" not in manage["Properties"]["Statement"]["Action"]
    assert transformed["Parameters"]["SubscriberAccountIds"]["Default"] == ""


def test_the_report_bucket_is_encrypted_versioned_private_and_ages_out_old_versions(
    transformed: dict[str, Any],
) -> None:
    # GIVEN the report bucket  THEN it is KMS-encrypted, versioned, blocks every public access, TLS-only and retained
    bucket = transformed["Resources"]["ReportBucket"]
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Status"] == "Enabled" and lifecycle["NoncurrentVersionExpiration"]["NoncurrentDays"] == 400
    assert bucket["DeletionPolicy"] == "Retain"
    policy = transformed["Resources"]["ReportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert policy[0]["Effect"] == "Deny" and policy[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # AND only write-report may write reports, under reports/
    writer = transformed["Resources"]["WriteReportFunction"]["Properties"]
    assert writer["Environment"]["Variables"]["REPORT_BUCKET"] == {"Ref": "ReportBucket"}


def test_exactly_the_functions_that_may_publish_are_given_the_bus(transformed: dict[str, Any]) -> None:
    # GIVEN every function, its environment and its role's permission to put events on drwave's bus
    functions = _resources(transformed, "AWS::Lambda::Function")
    may_publish = {
        name.removesuffix("Role")
        for name, _, document in _policy_documents(transformed)
        for s in _statements(document)
        if "events:PutEvents" in _as_list(s.get("Action", []))
        and s.get("Effect") == "Allow"
        and s.get("Resource") == {"Fn::GetAtt": ["EventBus", "Arn"]}
    }
    given_bus = {
        name
        for name, f in functions.items()
        if "EVENT_BUS_NAME" in f["Properties"].get("Environment", {}).get("Variables", {})
    }
    # THEN the two sets are the same: a function that never publishes builds no EventBridge client at cold start
    assert given_bus == may_publish & set(functions)
    assert {"ProjectStatusFunction", "NotifyFunction", "SyncWorkflowFunction", "WriteReportFunction"}.isdisjoint(
        given_bus
    )


def test_every_function_is_built_by_the_makefile_that_ships_bytecode() -> None:
    sam = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    functions = {n: r for n, r in sam["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions and all(r["Metadata"]["BuildMethod"] == "makefile" for r in functions.values())


def test_the_built_package_serves_imports_from_its_bytecode_even_after_the_source_changes(tmp_path: Path) -> None:
    # GIVEN the package `sam build` makes for a function (functions/Makefile, with this interpreter)
    functions = TEMPLATE.parent.parent / "functions"
    artifacts = tmp_path / "artifacts"
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(functions),
            "build-ApiFunction",
            f"ARTIFACTS_DIR={artifacts}",
            f"PYTHON={sys.executable}",
        ],
        check=True,
    )
    # THEN every module has its bytecode beside it
    sources = list((artifacts / "drwave").rglob("*.py"))
    assert sources and all(
        (s.parent / "__pycache__" / f"{s.stem}.{sys.implementation.cache_tag}.pyc").exists() for s in sources
    )
    # AND an import uses it as it is (unchecked hash): a source changed after the build is not what runs
    version = artifacts / "drwave" / "__init__.py"
    version.write_text(version.read_text(encoding="utf-8") + "\nraise RuntimeError('source compiled at cold start')\n")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(artifacts), "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, "-c", "import drwave"], check=True, env=env, cwd=tmp_path)
