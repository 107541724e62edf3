"""`drwave console publish --stack NAME` uploads the committed console bundle to the stack's console bucket (moto
S3), with the content types the page needs and a config.json naming the API and the hosted UI sign-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from drwave_local.cli import account_commands
from drwave_local.cli.main import main
from drwave_local.cli.publish import console_config, uploads
from drwave_local.cli.stack import StackError
from drwave_local.server.console import DIST

REGION = "eu-west-1"
BUCKET = "drwave-dev-consolebucket-1a2b3c"
OUTPUTS = {
    "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1",
    "UserPoolId": "eu-west-1_AbCdEf123",
    "UserPoolClientId": "cli-client",
    "ConsoleUrl": "https://d111111abcdef8.cloudfront.net",
    "UserPoolDomain": "drwave-dev-111122223333.auth.eu-west-1.amazoncognito.com",
    "ConsoleClientId": "console-client",
    "ConsoleBucketName": BUCKET,
}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A deployed stack's outputs (CloudFormation faked) and its console bucket (moto S3)."""
    outputs = dict(OUTPUTS)

    def fake_outputs(name: str, region: str | None = None) -> dict[str, str]:
        if name != "drwave-dev":
            raise StackError(f"--stack {name}: Stack with id {name} does not exist")
        return outputs

    monkeypatch.setattr(account_commands, "stack_outputs", fake_outputs)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield outputs


def _objects() -> dict[str, dict[str, Any]]:
    s3 = boto3.client("s3", region_name=REGION)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key) for key in keys}


def test_the_page_is_told_the_api_and_how_to_sign_in_through_the_hosted_ui() -> None:
    # GIVEN the stack's outputs  WHEN the console's config is made from them
    config = console_config(OUTPUTS)
    # THEN it names the API, and the hosted UI domain, client and callback of the PKCE sign-in
    assert config == {
        "apiUrl": OUTPUTS["ApiUrl"],
        "cognito": {
            "domain": OUTPUTS["UserPoolDomain"],
            "clientId": "console-client",
            "redirectUri": "https://d111111abcdef8.cloudfront.net/",
            "scopes": ["openid", "email", "profile"],
        },
    }


def test_the_page_is_uploaded_last_so_no_reader_gets_a_new_page_with_old_files() -> None:
    # GIVEN the committed bundle  WHEN the uploads are planned  THEN the page's files and config come first
    planned = uploads(OUTPUTS)
    assert [u.key for u in planned] == ["ui/app.css", "ui/app.js", "ui/config.json", "index.html"]


def test_publish_uploads_the_bundle_with_its_content_types_and_the_config(
    stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a deployed stack with an empty console bucket  WHEN the console is published
    code = main(["console", "publish", "--stack", "drwave-dev", "--region", REGION])
    # THEN the page is at the distribution's root object, its files under /ui/ as the page loads them
    assert code == 0
    objects = _objects()
    assert set(objects) == {"index.html", "ui/app.js", "ui/app.css", "ui/config.json"}
    assert objects["index.html"]["ContentType"] == "text/html; charset=utf-8"
    assert objects["ui/app.js"]["ContentType"] == "text/javascript; charset=utf-8"
    assert objects["ui/app.css"]["ContentType"] == "text/css; charset=utf-8"
    assert objects["ui/config.json"]["ContentType"] == "application/json; charset=utf-8"
    assert objects["ui/app.js"]["Body"].read() == (DIST / "app.js").read_bytes()
    # AND each is revalidated rather than kept (the next publish reuses the names)
    assert {o["CacheControl"] for o in objects.values()} == {"no-cache"}
    # AND the config names this stack's API and sign-in
    config = json.loads(objects["ui/config.json"]["Body"].read())
    assert config["apiUrl"] == OUTPUTS["ApiUrl"] and config["cognito"]["clientId"] == "console-client"
    assert "published the console: https://d111111abcdef8.cloudfront.net" in capsys.readouterr().out


def test_a_dry_run_lists_the_uploads_and_puts_nothing(
    stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a deployed stack  WHEN publish runs with --dry-run  THEN it says what it would upload and uploads nothing
    assert main(["console", "publish", "--stack", "drwave-dev", "--dry-run"]) == 0
    assert f"would upload s3://{BUCKET}/ui/config.json (application/json; charset=utf-8)" in capsys.readouterr().out
    assert _objects() == {}


def test_an_older_stack_without_the_console_outputs_is_refused_naming_them(
    stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stack deployed from a template before the console  WHEN publish runs
    for key in ("ConsoleBucketName", "ConsoleClientId"):
        del stack[key]
    # THEN it exits 2 naming the missing outputs, uploads nothing, and shows no traceback
    assert main(["console", "publish", "--stack", "drwave-dev"]) == 2
    err = capsys.readouterr().err
    assert "has no output ConsoleBucketName, ConsoleClientId" in err and "Traceback" not in err


def test_an_unknown_stack_or_a_missing_bucket_exits_2_with_the_reason(
    stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no such stack  THEN exit 2 saying so
    assert main(["console", "publish", "--stack", "nope"]) == 2
    assert "Stack with id nope does not exist" in capsys.readouterr().err
    # GIVEN a stack whose bucket is gone  THEN exit 2 naming the bucket and S3's reason
    stack["ConsoleBucketName"] = "gone-bucket"
    assert main(["console", "publish", "--stack", "drwave-dev"]) == 2
    assert "s3://gone-bucket: NoSuchBucket" in capsys.readouterr().err


def test_a_missing_bundle_is_refused_with_how_to_build_it(tmp_path: Path) -> None:
    # GIVEN a directory without the built console  WHEN uploads are planned  THEN it says to build it
    with pytest.raises(FileNotFoundError, match="make console"):
        uploads(OUTPUTS, dist=tmp_path)
