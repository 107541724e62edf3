"""The outputs of a deployed drwave stack (CloudFormation), for `drwave login` and `drwave console publish`."""

from __future__ import annotations

from typing import Any


class StackError(Exception):
    """The stack cannot be read, or lacks an output a command needs (the message says which)."""


def stack_outputs(stack: str, region: str | None = None, cloudformation: Any = None) -> dict[str, str]:
    """OutputKey -> OutputValue of the stack (boto3's default credentials and Region unless told)."""
    import boto3  # noqa: PLC0415 - only the commands that talk to AWS load the SDK
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        client = cloudformation or boto3.client("cloudformation", region_name=region)
        stacks = client.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as err:
        message = err.response.get("Error", {}).get("Message", str(err))
        raise StackError(f"--stack {stack}: {message}") from None
    except BotoCoreError as err:  # no credentials, no Region, no network
        raise StackError(f"--stack {stack}: cannot read the stack's outputs: {err}") from None
    if not stacks:
        raise StackError(f"--stack {stack}: no such stack")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def require(outputs: dict[str, str], keys: tuple[str, ...], stack: str) -> dict[str, str]:
    """The named outputs, or a StackError naming the missing ones (an older stack: deploy it again)."""
    missing = [key for key in keys if not outputs.get(key)]
    if missing:
        raise StackError(
            f"--stack {stack}: the stack has no output {', '.join(missing)} (deploy this version of the template)"
        )
    return {key: outputs[key] for key in keys}
