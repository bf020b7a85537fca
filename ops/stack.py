"""A deployed stack's outputs, which name the queues and the table the operator tools work on."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError


class StackError(Exception):
    """The stack cannot be read, or lacks an output; worded for the person running a tool."""


def stack_outputs(stack: str) -> dict[str, str]:
    """The outputs of a deployed stack, by key."""
    cloudformation: Any = boto3.client("cloudformation")  # untyped: the project has no stubs for it
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except (BotoCoreError, ClientError) as error:
        raise StackError(f"cannot read stack {stack!r}: {error}") from None
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def output(outputs: dict[str, str], key: str, stack: str) -> str:
    if key not in outputs:
        raise StackError(f"stack {stack!r} has no output {key}: is it a ges-backup-export stack?")
    return outputs[key]
