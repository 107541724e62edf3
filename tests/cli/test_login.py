"""`drwave login` signs in to a deployed stack's user pool (SRP, against moto's cognito-idp), caches the tokens
0600 per API URL, refreshes them, and every client command then sends `Authorization: Bearer <ID token>`."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import secrets
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from drwave_local.cli import account_commands, auth
from drwave_local.cli.auth import G, K, N, Srp, TokenStore, cognito_timestamp, hkdf, pad_hex
from drwave_local.cli.main import main
from drwave_local.cli.stack import StackError, require, stack_outputs

REGION = "eu-west-1"
USERNAME = "ops@example.com"
PASSWORD = "Correct-Horse-9-Battery!"
REMOTE = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ~/.config for the token cache."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DRWAVE_API_URL", raising=False)
    monkeypatch.delenv("DRWAVE_URL", raising=False)
    return tmp_path / "config"


@pytest.fixture
def pool(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto's cognito-idp with the stack's pool shape: e-mail usernames, a public SRP+refresh client, one user."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION)
        pool_id = cognito.create_user_pool(PoolName="drwave-dev-operators", UsernameAttributes=["email"])["UserPool"][
            "Id"
        ]
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="drwave-dev-cli",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        cognito.admin_create_user(UserPoolId=pool_id, Username=USERNAME, MessageAction="SUPPRESS")
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=USERNAME, Password=PASSWORD, Permanent=True)
        yield {"pool_id": pool_id, "client_id": client_id}


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()} | {":path": self.path})
        body = json.dumps({"items": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A stand-in for the deployed API that records the headers of each request."""
    recorder = type("Recorder", (_Recorder,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", recorder.seen
    finally:
        server.shutdown()
        server.server_close()


def login(monkeypatch: pytest.MonkeyPatch, pool: dict[str, str], api_url: str, stdin: str = PASSWORD + "\n") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(
        [
            "login",
            "--api-url",
            api_url,
            "--user-pool-id",
            pool["pool_id"],
            "--client-id",
            pool["client_id"],
            "--username",
            USERNAME,
            "--password-stdin",
        ]
    )


def cached(config_home: Path) -> dict[str, Any]:
    sessions: dict[str, Any] = json.loads((config_home / "drwave" / "tokens.json").read_text())["sessions"]
    return sessions


# --- SRP ------------------------------------------------------------------------------------------------------


def _server_key(pool_name: str, user_id: str, password: str, salt: str, large_a: int) -> tuple[int, bytes]:
    """The server side of SRP-6a from the verifier v = g^x: (B to send, the key it derives from A)."""
    identity = hashlib.sha256(f"{pool_name}{user_id}:{password}".encode()).hexdigest()
    x = int(hashlib.sha256(bytes.fromhex(pad_hex(salt) + identity)).hexdigest(), 16)
    verifier = pow(G, x, N)
    small_b = secrets.randbits(1024) % N
    large_b = (K * verifier + pow(G, small_b, N)) % N
    u = int(hashlib.sha256(bytes.fromhex(pad_hex(large_a) + pad_hex(large_b))).hexdigest(), 16)
    shared = pow(large_a * pow(verifier, u, N), small_b, N)
    return large_b, hkdf(bytes.fromhex(pad_hex(shared)), bytes.fromhex(pad_hex(u)))


def test_srp_password_claim_is_the_signature_a_server_holding_the_verifier_expects() -> None:
    # GIVEN a server that knows only the verifier of the user's password, and its challenge
    srp = Srp("eu-west-1_AbCdEf123")
    salt, user_id, secret_block = secrets.token_hex(16), "3f2a-sub", "c2VjcmV0LWJsb2Nr"
    large_b, server_key = _server_key("AbCdEf123", user_id, PASSWORD, salt, srp.large_a)
    parameters = {"SALT": salt, "SRP_B": format(large_b, "x"), "USER_ID_FOR_SRP": user_id, "SECRET_BLOCK": secret_block}
    now = datetime(2025, 3, 4, 9, 5, 1, tzinfo=UTC)
    # WHEN the client answers with the right password, and with a wrong one
    right = srp.claim(parameters, PASSWORD, now)
    wrong = srp.claim(parameters, PASSWORD + "x", now)
    # THEN the right answer carries exactly the signature the server computes, the wrong one does not
    message = b"AbCdEf123" + user_id.encode() + b"secret-block" + b"Tue Mar 4 09:05:01 UTC 2025"
    expected = hmac.new(server_key, message, hashlib.sha256).digest()
    import base64  # noqa: PLC0415

    assert base64.b64decode(right["PASSWORD_CLAIM_SIGNATURE"]) == expected
    assert wrong["PASSWORD_CLAIM_SIGNATURE"] != right["PASSWORD_CLAIM_SIGNATURE"]
    assert right["TIMESTAMP"] == "Tue Mar 4 09:05:01 UTC 2025" and right["USERNAME"] == user_id
    assert PASSWORD not in json.dumps(right)


def test_srp_hex_padding_and_the_timestamp_are_what_cognito_hashes() -> None:
    # GIVEN values with the top bit set, an odd length, and a single-digit day  THEN they are written Cognito's way
    assert pad_hex(0x8F) == "008f" and pad_hex(0xABC) == "0abc" and pad_hex(0x7F) == "7f"
    assert cognito_timestamp(datetime(2026, 1, 9, 23, 0, 7, tzinfo=UTC)) == "Fri Jan 9 23:00:07 UTC 2026"


# --- login, cache, refresh, logout ------------------------------------------------------------------------------


def test_login_signs_in_by_srp_and_caches_the_tokens_readable_only_by_the_owner(
    pool: dict[str, str], config_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a user of the stack's pool  WHEN they sign in with the password on stdin
    code = login(monkeypatch, pool, REMOTE + "/")
    # THEN the session is cached under the API URL, in a file only its owner may read
    assert code == 0
    tokens = config_home / "drwave" / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    session = cached(config_home)[REMOTE]
    assert session["username"] == USERNAME and session["user_pool_id"] == pool["pool_id"]
    assert session["id_token"] and session["refresh_token"] and session["client_id"] == pool["client_id"]
    assert session["region"] == REGION
    # AND the password is neither printed nor stored
    printed = capsys.readouterr()
    assert PASSWORD not in printed.out + printed.err and PASSWORD not in tokens.read_text()
    assert f"signed in to {REMOTE} as {USERNAME}" in printed.out


def test_a_client_command_sends_the_cached_id_token_as_a_bearer_token(
    pool: dict[str, str],
    config_home: Path,
    api: tuple[str, list[dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a signed-in session for an API (here a recorder standing in for the deployed one)
    url, seen = api
    assert login(monkeypatch, pool, url) == 0
    token = cached(config_home)[url]["id_token"]
    # WHEN a client command runs against it
    code = main(["plans", "list", "--api-url", url])
    # THEN it sends the ID token, and none of the local identity headers
    assert code == 0
    (request,) = seen
    assert request["authorization"] == f"Bearer {token}"
    assert request[":path"] == "/v1/recovery-plans"
    assert "x-drwave-role" not in request and "x-drwave-user" not in request


def test_an_expired_id_token_is_refreshed_with_the_refresh_token_before_the_command(
    pool: dict[str, str],
    config_home: Path,
    api: tuple[str, list[dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a session whose ID token has expired
    url, seen = api
    assert login(monkeypatch, pool, url) == 0
    store = TokenStore()
    session = store.get(url)
    assert session is not None
    session.expires_at, session.id_token = 0, "expired-token"
    store.put(session)
    flows: list[str] = []
    real = auth.refresh

    def counting(cognito: Any, old: auth.Session, now: float) -> auth.Session:
        flows.append("REFRESH_TOKEN_AUTH")
        return real(cognito, old, now)

    monkeypatch.setattr(auth, "refresh", counting)
    # WHEN a command runs (through $DRWAVE_API_URL this time)
    monkeypatch.setenv("DRWAVE_API_URL", url)
    assert main(["executions", "list"]) == 0
    # THEN it refreshed once, sent the new token, and cached it (keeping the refresh token) for the next command
    renewed = store.get(url)
    assert flows == ["REFRESH_TOKEN_AUTH"] and renewed is not None
    assert renewed.id_token != "expired-token" and renewed.refresh_token == session.refresh_token
    assert renewed.expires_at > 0 and seen[-1]["authorization"] == f"Bearer {renewed.id_token}"
    assert stat.S_IMODE((config_home / "drwave" / "tokens.json").stat().st_mode) == 0o600


def test_a_revoked_refresh_token_asks_to_sign_in_again(
    pool: dict[str, str], config_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an expired session whose refresh token the pool no longer knows
    assert login(monkeypatch, pool, REMOTE) == 0
    store = TokenStore()
    session = store.get(REMOTE)
    assert session is not None
    session.expires_at, session.refresh_token = 0, "revoked"
    store.put(session)
    # WHEN a command runs  THEN it exits 2 telling the user to sign in again, without a traceback
    assert main(["executions", "list", "--api-url", REMOTE]) == 2
    err = capsys.readouterr().err
    assert "has expired; sign in again: drwave login" in err and "Traceback" not in err


def test_a_first_sign_in_sets_the_new_password_the_pool_asks_for(
    pool: dict[str, str], config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a user an admin just created (temporary password: FORCE_CHANGE_PASSWORD)
    cognito = boto3.client("cognito-idp", region_name=REGION)
    cognito.admin_create_user(
        UserPoolId=pool["pool_id"],
        Username="new@example.com",
        TemporaryPassword="Temp-Pass-1234!",
        MessageAction="SUPPRESS",
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("Temp-Pass-1234!\nBrand-New-Pass-5678!\n"))
    # WHEN they sign in with the temporary and the new password on stdin
    code = main(
        [
            *["login", "--api-url", REMOTE, "--user-pool-id", pool["pool_id"], "--client-id", pool["client_id"]],
            *["--username", "new@example.com", "--password-stdin"],
        ]
    )
    # THEN the pool took the new password and the session is cached
    assert code == 0 and cached(config_home)[REMOTE]["username"] == "new@example.com"
    user = cognito.admin_get_user(UserPoolId=pool["pool_id"], Username="new@example.com")
    assert user["UserStatus"] == "CONFIRMED"


def test_logout_forgets_the_session_and_the_next_command_is_refused(
    pool: dict[str, str], config_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a signed-in session  WHEN the user signs out
    assert login(monkeypatch, pool, REMOTE) == 0
    assert main(["logout", "--api-url", REMOTE + "/"]) == 0
    # THEN the cache no longer holds it, and a command against that API says to sign in (exit 2)
    assert REMOTE not in cached(config_home)
    capsys.readouterr()
    assert main(["plans", "list", "--api-url", REMOTE]) == 2
    assert f"not signed in to {REMOTE}: run `drwave login --stack NAME`" in capsys.readouterr().err


def test_login_with_a_stack_name_reads_the_stacks_outputs(
    pool: dict[str, str], config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployed stack whose outputs name the API, the pool and the CLI's app client
    outputs = {"ApiUrl": REMOTE, "UserPoolId": pool["pool_id"], "UserPoolClientId": pool["client_id"]}
    asked: list[tuple[str, str | None]] = []

    def fake_outputs(stack: str, region: str | None = None) -> dict[str, str]:
        asked.append((stack, region))
        return outputs

    monkeypatch.setattr(account_commands, "stack_outputs", fake_outputs)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    # WHEN the user signs in naming only the stack
    code = main(["login", "--stack", "drwave-dev", "--region", REGION, "--username", USERNAME, "--password-stdin"])
    # THEN the session is cached under the stack's ApiUrl, and logout --stack finds it again
    assert code == 0 and cached(config_home)[REMOTE]["stack"] == "drwave-dev"
    assert asked == [("drwave-dev", REGION)]
    assert main(["logout", "--stack", "drwave-dev"]) == 0
    assert cached(config_home) == {}


def test_stack_outputs_are_read_from_cloudformation_and_a_missing_stack_is_named() -> None:
    # GIVEN CloudFormation answering for one stack and refusing another (botocore's Stubber: the real client)
    client = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(client)
    created = datetime(2025, 1, 1, tzinfo=UTC)
    stack = {"StackName": "drwave-dev", "CreationTime": created, "StackStatus": "CREATE_COMPLETE"}
    outputs = [{"OutputKey": "ApiUrl", "OutputValue": REMOTE}]
    stubber.add_response("describe_stacks", {"Stacks": [stack | {"Outputs": outputs}]}, {"StackName": "drwave-dev"})
    stubber.add_client_error("describe_stacks", "ValidationError", "Stack with id gone does not exist")
    with stubber:
        # WHEN the outputs are read  THEN they come back by key, and the missing stack is a StackError saying so
        assert stack_outputs("drwave-dev", cloudformation=client) == {"ApiUrl": REMOTE}
        with pytest.raises(StackError, match="--stack gone: Stack with id gone does not exist"):
            stack_outputs("gone", cloudformation=client)
    # AND a stack without the outputs a command needs is named with the missing ones
    with pytest.raises(StackError, match="has no output UserPoolId, UserPoolClientId"):
        require({"ApiUrl": REMOTE}, ("ApiUrl", "UserPoolId", "UserPoolClientId"), "old")


# --- refusals -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plans", "list", "--api-url", REMOTE, "--role", "admin"], "--role: the local identity switch works only"),
        (["plans", "list", "--api-url", REMOTE, "--user", "eve"], "--user: the local identity switch works only"),
        (["invoke", '{"operation": "list_protection_groups"}', "--api-url", REMOTE], "works only against"),
        (["login", "--api-url", REMOTE], "give --user-pool-id, --client-id too"),
        (["login", "--stack", "s", "--client-id", "c"], "not both (--client-id)"),
        (["login", "--api-url", REMOTE, "--user-pool-id", "nope", "--client-id", "c"], "is not a user pool id"),
        (["logout"], "which sign-in?"),
    ],
)
def test_bad_or_local_only_options_against_a_deployed_stack_exit_2_with_a_clear_message(
    pool: dict[str, str],
    config_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    # GIVEN a signed-in session for the deployed API
    assert login(monkeypatch, pool, REMOTE) == 0
    capsys.readouterr()
    # WHEN a command asks for something that cannot work there  THEN it exits 2 saying why, without a traceback
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_local_identity_switch_still_works_against_the_local_server(
    config_home: Path, api: tuple[str, list[dict[str, str]]]
) -> None:
    # GIVEN no sign-in and a server on this machine (as `drwave serve` is)
    url, seen = api
    # WHEN a command uses the local identity switch  THEN it sends the local headers and no token
    assert main(["plans", "list", "--url", url, "--role", "viewer", "--user", "val"]) == 0
    (request,) = seen
    assert request["x-drwave-role"] == "viewer" and request["x-drwave-user"] == "val"
    assert "authorization" not in request


def test_an_unknown_user_is_refused_with_exit_2(
    pool: dict[str, str], config_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no such user in the pool  WHEN they try to sign in  THEN exit 2, a readable reason, nothing cached
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    argv = ["login", "--api-url", REMOTE, "--user-pool-id", pool["pool_id"], "--client-id", pool["client_id"]]
    assert main([*argv, "--username", "nobody@example.com", "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert "sign-in refused" in err and "Traceback" not in err and PASSWORD not in err
    assert not (config_home / "drwave" / "tokens.json").exists()
