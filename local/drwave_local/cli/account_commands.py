"""The commands for a deployed stack: `drwave login`, `drwave logout`, `drwave console publish`.

Exit codes: 0 done, 2 a bad option, an unknown stack or a refused sign-in, 1 AWS could not be reached.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from drwave_local.cli.auth import (
    AuthError,
    TokenStore,
    cognito_client,
    region_of_pool,
    session_from,
    sign_in,
)
from drwave_local.cli.stack import StackError, require, stack_outputs

ACCOUNT_COMMANDS = frozenset({"login", "logout", "console"})
LOGIN_OUTPUTS = ("ApiUrl", "UserPoolId", "UserPoolClientId")


class UsageError(Exception):
    """A bad combination of options."""


def add_account_commands(commands: Any) -> None:
    """Register login, logout and console on the `drwave` subparsers."""
    login = commands.add_parser("login", help="sign in to a deployed stack's user pool (SRP; tokens cached, 0600)")
    where = login.add_argument_group("which stack (--stack, or all three of the others)")
    where.add_argument("--stack", help="CloudFormation stack name: its ApiUrl, UserPoolId and UserPoolClientId")
    where.add_argument("--api-url", help="the stack's ApiUrl output")
    where.add_argument("--user-pool-id", help="the stack's UserPoolId output")
    where.add_argument("--client-id", help="the stack's UserPoolClientId output (the CLI's app client)")
    login.add_argument("--region", help="Region of the stack (default: the user pool's, or your AWS config's)")
    login.add_argument("--username", help="your e-mail address in the user pool (default: asked)")
    login.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin's first line (a first sign-in's new password, or a TOTP code, next)",
    )
    logout = commands.add_parser("logout", help="forget the cached tokens of a deployed stack")
    logout.add_argument("--stack", help="the stack signed in to with `drwave login --stack`")
    logout.add_argument("--api-url", help="the API URL signed in to")
    logout.add_argument("--region", help="Region of --stack")
    logout.add_argument("--all", action="store_true", help="forget every cached sign-in")
    console = commands.add_parser("console", help="the web console of a deployed stack")
    sub = console.add_subparsers(dest="action", required=True)
    publish = sub.add_parser("publish", help="upload the console and its config.json to the stack's bucket")
    publish.add_argument("--stack", required=True, help="CloudFormation stack name")
    publish.add_argument("--region", help="Region of the stack (default: your AWS config's)")
    publish.add_argument("--dry-run", action="store_true", help="list what would be uploaded, upload nothing")


def run_account_command(args: argparse.Namespace, stdin: IO[str] | None = None) -> int:
    """Run login, logout or console publish; errors go to stderr, never a traceback."""
    try:
        if args.command == "login":
            return login(args, stdin or sys.stdin)
        if args.command == "logout":
            return logout(args)
        return publish_console(args)
    except (UsageError, StackError, AuthError, FileNotFoundError) as err:
        print(f"drwave: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("drwave: interrupted", file=sys.stderr)
        return 130


# --- login / logout -------------------------------------------------------------------------------------------


def _login_target(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """(api url, user pool id, client id, region) from --stack or from the three flags."""
    flags = {"--api-url": args.api_url, "--user-pool-id": args.user_pool_id, "--client-id": args.client_id}
    if args.stack:
        given = [name for name, value in flags.items() if value]
        if given:
            raise UsageError(f"--stack: give the stack or {', '.join(flags)}, not both ({', '.join(given)})")
        outputs = require(stack_outputs(args.stack, args.region), LOGIN_OUTPUTS, args.stack)
        api_url, pool_id, client_id = (outputs[k] for k in LOGIN_OUTPUTS)
    else:
        missing = [name for name, value in flags.items() if not value]
        if missing:
            raise UsageError(f"name the stack (--stack NAME) or give {', '.join(missing)} too")
        api_url, pool_id, client_id = args.api_url, args.user_pool_id, args.client_id
    if not api_url.startswith(("https://", "http://")):
        raise UsageError(f"--api-url: {api_url!r} is not an http(s) URL")
    region = region_of_pool(pool_id)
    if args.region and args.region != region:
        raise UsageError(f"--region {args.region}: the user pool {pool_id} is in {region}")
    return api_url.rstrip("/"), pool_id, client_id, region


class _Answers:
    """Where the password and any follow-up answer come from: stdin's lines, or the terminal (never echoed)."""

    def __init__(self, from_stdin: bool, stdin: IO[str], ask: Callable[[str], str] = getpass.getpass) -> None:
        self.lines: Iterator[str] | None = iter(stdin.read().splitlines()) if from_stdin else None
        self.ask = ask

    def secret(self, prompt: str, what: str) -> str:
        if self.lines is not None:
            value = next(self.lines, "")
            if not value:
                raise AuthError(f"{what}: expected on the next line of stdin (--password-stdin)")
            return value
        value = self.ask(prompt)
        if not value:
            raise AuthError(f"{what}: nothing entered")
        return value

    def new_password(self, username: str) -> str:
        if self.lines is not None:
            return self.secret("", f"{username} must choose a new password on this first sign-in; the new password")
        first = self.secret(f"New password for {username} (first sign-in): ", "new password")
        if self.ask("Repeat the new password: ") != first:
            raise AuthError("the new passwords differ; nothing changed")
        return first

    def mfa_code(self, username: str) -> str:
        return self.secret(f"Authenticator code for {username}: ", "the authenticator (TOTP) code")


def login(args: argparse.Namespace, stdin: IO[str]) -> int:
    """Sign in, cache the session under the API URL, say how to use it."""
    api_url, pool_id, client_id, region = _login_target(args)
    username = args.username
    if not username:
        if args.password_stdin or not stdin.isatty():
            raise UsageError("--username: required when the password comes from stdin")
        username = input("Username (e-mail): ").strip()
    if not username:
        raise UsageError("--username: empty")
    answers = _Answers(args.password_stdin, stdin)
    password = answers.secret(f"Password for {username}: ", "password")
    result = sign_in(
        cognito_client(region),
        pool_id,
        client_id,
        username,
        password,
        new_password=answers.new_password,
        mfa_code=answers.mfa_code,
    )
    session = session_from(
        result,
        api_url=api_url,
        region=region,
        pool_id=pool_id,
        client_id=client_id,
        username=username,
        stack=args.stack,
        now=time.time(),
    )
    store = TokenStore()
    store.put(session)
    until = datetime.fromtimestamp(session.expires_at, UTC).strftime("%H:%M UTC")
    print(f"signed in to {api_url} as {username} (ID token until {until}, then refreshed; cached in {store.path})")
    print(f"use it: drwave executions list --api-url {api_url}   (or: export DRWAVE_API_URL={api_url})")
    return 0


def logout(args: argparse.Namespace) -> int:
    """Forget one cached session (or all)."""
    chosen = [name for name, value in (("--stack", args.stack), ("--api-url", args.api_url)) if value]
    if (args.all and chosen) or len(chosen) > 1:
        raise UsageError("logout: give one of --stack, --api-url or --all")
    if not chosen and not args.all:
        raise UsageError("logout: which sign-in? --stack NAME, --api-url URL or --all")
    url = None
    if args.stack:
        url = require(stack_outputs(args.stack, args.region), ("ApiUrl",), args.stack)["ApiUrl"]
    elif args.api_url:
        url = args.api_url
    store = TokenStore()
    gone = store.remove(url)
    if not gone:
        print(f"drwave: not signed in to {url or 'any stack'}; nothing to forget")
        return 0
    for forgotten in gone:
        print(f"signed out of {forgotten} (cached tokens removed)")
    return 0


# --- console publish ------------------------------------------------------------------------------------------


def publish_console(args: argparse.Namespace, s3: Any = None) -> int:
    """Upload the console bundle and its config.json to the stack's console bucket."""
    from drwave_local.cli.publish import CONSOLE_OUTPUTS, publish, uploads  # noqa: PLC0415

    outputs = require(stack_outputs(args.stack, args.region), CONSOLE_OUTPUTS, args.stack)
    planned = uploads(outputs)
    bucket = outputs["ConsoleBucketName"]
    for upload in planned:
        print(f"{'would upload' if args.dry_run else 'upload'} s3://{bucket}/{upload.key} ({upload.content_type})")
    if args.dry_run:
        return 0
    if s3 is None:
        import boto3  # noqa: PLC0415 - only this command uploads

        s3 = boto3.client("s3", region_name=args.region)
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        publish(s3, bucket, planned)
    except ClientError as err:
        error = err.response.get("Error", {})
        raise StackError(f"s3://{bucket}: {error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as err:
        raise StackError(f"s3://{bucket}: {err}") from None
    print(f"published the console: {outputs['ConsoleUrl']}")
    return 0
