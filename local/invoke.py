"""`make invoke`: one event through a function's real handler, on the local stand-ins; the Docker-free
`sam local invoke`.

    make invoke EVENT=events/console_single.json                 # any file of events/, or your own
    make invoke EVENT=- < my-request.json                        # the event from stdin
    make invoke EVENT=events/sqs_batch.json FUNCTION=ExportBackupFunction

It starts moto (Secrets Manager, DynamoDB, SQS, EventBridge), the fake GES, seeded with the graphs and
the job the sample events name, and the fake IAM; creates the resources template.yaml declares; gives
the function the environment the template wires; invokes its handler once with the event; and prints
the function's log lines, the result (or the error), what the invocation left on the stack's queues,
and the completion events it put. For the token rotation function, the event's SecretId and
ClientRequestToken are replaced by the local token secret and a version Secrets Manager would have
registered at AWSPENDING. Exit status 0 when the handler returned, 1 when it raised, 2 for a bad event
file or function name.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from local.aws import (
    FUNCTION,
    Stack,
    aws_environment,
    catch_events,
    deploy,
    moto_server,
    string_attributes,
    take_messages,
)
from local.fake_ges import SAMPLE_PROJECT_ID, FakeGes, seed_sample_graphs
from local.fake_iam import FakeIam
from local.lambda_runtime import LocalContext
from local.lambda_runtime import load_function as load_function_handler
from local.restore import RESTORE_TESTER, follow_imports, seed_sample_history
from local.restore import environment as restore_environment
from local.rotation import ROTATION_FUNCTION, prepare_rotation


class InvokeError(Exception):
    """A bad event or function name, worded for the person running `make invoke`."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__.splitlines()[0])
    parser.add_argument("event", help="a JSON event file, or - for standard input")
    parser.add_argument(
        "--function", default=FUNCTION, help=f"a function of template.yaml (default {FUNCTION})"
    )
    args = parser.parse_args(argv)
    try:
        event = read_event(args.event)
        with moto_server() as aws_url, FakeGes() as ges, FakeIam() as iam:
            seed_sample_graphs(ges)
            os.environ.update(aws_environment(aws_url))
            overrides = {"GesProjectId": SAMPLE_PROJECT_ID}
            stack = deploy("invoke", token_secret=ges.token, ges_endpoint=ges.url, overrides=overrides)
            seed_sample_history(stack, ges)  # the export the restore samples test (local/restore.py)
            function_properties(stack, args.function)
            if args.function == ROTATION_FUNCTION:
                event = prepare_rotation_event(stack, ges, iam, event)
            return invoke(stack, args.function, event)
    except InvokeError as error:
        print(f"make invoke: {error}", file=sys.stderr)
        return 2


def read_event(name: str) -> Any:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as error:
        raise InvokeError(f"cannot read the event: {error}") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise InvokeError(f"the event is not JSON: {error}") from None


def invoke(stack: Stack, function: str, event: Any) -> int:
    """Invoke the function once; print its log lines, its result or error, and the queues after it."""
    properties = function_properties(stack, function)
    caught = catch_events(stack)
    os.environ.update(stack.environment_of(function))
    if function == RESTORE_TESTER:  # its import jobs are followed to their end, without waiting
        os.environ.update(restore_environment(stack))
    logs = io.StringIO()
    # Powertools' log handler binds to stdout when the function's modules are imported: import them here.
    with contextlib.redirect_stdout(logs):
        handler = load_function_handler(properties["CodeUri"], properties["Handler"])
        try:
            result, failed = handler(event, LocalContext()), False
            if function == RESTORE_TESTER:
                follow_imports(stack, handler)
        except Exception as error:  # shown to the person, as the console shows a failed test event
            result, failed = {"errorType": type(error).__name__, "errorMessage": str(error)}, True
    print(f"{function}: {len(logs.getvalue().splitlines())} log lines")
    for line in logs.getvalue().splitlines():
        print(f"  {line}")
    print("\nError:" if failed else "\nResult:")
    print(json.dumps(result, indent=2))
    print_queues(stack, caught)
    return 1 if failed else 0


def function_properties(stack: Stack, function: str) -> dict[str, Any]:
    """A function of the template (CodeUri, Handler, Environment, ...), or InvokeError naming the others."""
    resources = stack.template["Resources"]
    resource = resources.get(function)
    if not resource or resource.get("Type") != "AWS::Serverless::Function":
        functions = [key for key, value in resources.items() if value["Type"] == "AWS::Serverless::Function"]
        raise InvokeError(f"no function {function!r} in template.yaml; its functions: {', '.join(functions)}")
    properties: dict[str, Any] = resource["Properties"]
    return properties


def prepare_rotation_event(stack: Stack, ges: FakeGes, iam: FakeIam, event: Any) -> Any:
    """The rotation step `event` asks for, on the local token secret and a new pending version of it."""
    if not isinstance(event, dict):
        raise InvokeError("a rotation event is a JSON object: SecretId, ClientRequestToken, Step")
    ges.accept_tokens_from(iam)
    version = prepare_rotation(stack, iam).start()
    print(f"   the event's SecretId and ClientRequestToken become {stack.secret_arn} and {version}\n")
    return {**event, "SecretId": stack.secret_arn, "ClientRequestToken": version}


def print_queues(stack: Stack, caught: str) -> None:
    """What the invocation left on the stack's queues, and the completion events it put."""
    print("\nQueues after the invocation:")
    for logical_id, url in {**stack.queue_urls, "(completion events caught by a rule)": caught}.items():
        messages = take_messages(url)
        print(f"  {logical_id}: {len(messages)} messages")
        for message in messages:
            reason = string_attributes(message)
            print(f"    {message['Body']}" + (f"  {reason}" if reason else ""))


if __name__ == "__main__":
    sys.exit(main())
