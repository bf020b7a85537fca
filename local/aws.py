"""The AWS side of a local run: moto in server mode, and the resources template.yaml declares, created in it.

The queues (with their redrive policies), the idempotency table and the functions' environments are read
from the template, so a local run and the tests use what a deployment would use. Only the secret's
value and the parameters a deployment would be given (the GES endpoint, the secret ARN) come from here.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import signal
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from moto import backends
from moto.server import ThreadedMotoServer

from local.template import function_properties, load_template, parameter_defaults

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.synchronize import Event as EventLike

    from mypy_boto3_sqs.literals import QueueAttributeNameType

REGION = "eu-west-1"
MOTO_START_SECONDS = 60
FUNCTION = "ExportBackupFunction"
# What boto3 needs to talk to moto; never real credentials.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto on a free loopback port, in a process of its own; yields its URL, for AWS_ENDPOINT_URL.

    Its own process, so that moto (the most CPU-hungry stand-in: it parses every request in Python) does
    not share one interpreter lock with the fake GES, the proxy and the code under test."""
    spawn = multiprocessing.get_context("spawn")
    address, child_end = spawn.Pipe(duplex=False)
    stop = spawn.Event()
    process = spawn.Process(target=_serve_moto, args=(child_end, stop), daemon=True)
    process.start()
    try:
        started = time.monotonic()
        while not address.poll(0.1):
            if not process.is_alive() or time.monotonic() - started > MOTO_START_SECONDS:
                raise RuntimeError(f"moto server did not start (exit code {process.exitcode})")
        host, port = address.recv()
        yield f"http://{host}:{port}"
    finally:
        stop.set()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()


def _serve_moto(address: Connection, stop: EventLike) -> None:
    """The moto process: serve until `stop` is set. Ctrl-C (`make stand-ins`) is the parent's to handle: it
    sets `stop`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _list_moto_modules_once()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    address.send(server.get_host_and_port())
    stop.wait()
    server.stop()


def _list_moto_modules_once() -> None:
    """moto 5.2's server lists its own package directory (a `stat` per service) on every request, to
    tell a service from a host name (werkzeug_app.get_backend_for_host): a quarter of its time under the
    benchmark's load. The list cannot change while the server runs, so it is read once."""
    modules = list(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: iter(modules)


@dataclass
class Stack:
    """The resources of one local deployment, by the template's logical ids."""

    name: str
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    table_name: str = ""
    secret_arn: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL or table name

    def environment_of(self, function: str) -> dict[str, str]:
        """A function's environment as the template wires it, from the stack's parameters and resources
        (`environment` is the export function's)."""
        variables = function_properties(self.template, function)["Environment"]["Variables"]
        return {key: _resolve(value, self.parameters, self.physical) for key, value in variables.items()}

    def function_property(self, name: str, function: str = FUNCTION) -> Any:
        """A property of a function (the export function's by default) as SAM deploys it, Globals merged."""
        return function_properties(self.template, function)[name]

    def batch_size(self, function: str = FUNCTION) -> int:
        """BatchSize of a function's SQS event source (the export function's by default)."""
        for event in self.function_property("Events", function).values():
            if event["Type"] == "SQS":
                return int(_resolve(event["Properties"]["BatchSize"], self.parameters, {}))
        raise LookupError("the template has no SQS event")


def deploy(
    name: str, token_secret: str, ges_endpoint: str, overrides: Mapping[str, str] | None = None
) -> Stack:
    """Create the template's queues, table and (given) secret in the AWS that boto3 points at."""
    template = load_template()
    parameters = {**parameter_defaults(template), "GesEndpoint": ges_endpoint, **(overrides or {})}
    stack = Stack(name=name, template=template, parameters=parameters)
    resources: dict[str, Any] = template["Resources"]
    stack.secret_arn = boto3.client("secretsmanager").create_secret(
        Name=f"{name}-ges-token", SecretString=token_secret
    )["ARN"]
    parameters["GesTokenSecretArn"] = stack.secret_arn
    for logical_id in _queues_in_creation_order(resources):
        _create_queue(stack, logical_id, resources[logical_id]["Properties"], parameters)
    tables = {  # the idempotency table first (`table_name`), then the restore tests' history
        key: _create_table(f"{name}-{key}", value["Properties"])
        for key, value in resources.items()
        if value["Type"] == "AWS::DynamoDB::Table"
    }
    stack.table_name = next(iter(tables.values()))
    stack.physical = {**stack.queue_urls, **tables}
    stack.environment = stack.environment_of(FUNCTION)
    return stack


def _queues_in_creation_order(resources: dict[str, Any]) -> list[str]:
    """Dead-letter queues first: a redrive policy needs its target's ARN."""
    queues = [key for key, value in resources.items() if value["Type"] == "AWS::SQS::Queue"]
    return sorted(queues, key=lambda key: "RedrivePolicy" in resources[key].get("Properties", {}))


def _create_queue(
    stack: Stack, logical_id: str, properties: dict[str, Any], parameters: dict[str, str]
) -> None:
    attributes: dict[QueueAttributeNameType, str] = {
        key: str(_resolve(properties[key], parameters, {}))
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize", "FifoQueue")
        if key in properties
    }
    redrive = properties.get("RedrivePolicy")
    if redrive:
        target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": stack.queue_arns[target],
                "maxReceiveCount": int(_resolve(redrive["maxReceiveCount"], parameters, {})),
            }
        )
    suffix = ".fifo" if attributes.get("FifoQueue") == "true" else ""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"{stack.name}-{logical_id}{suffix}", Attributes=attributes)["QueueUrl"]
    stack.queue_urls[logical_id] = url
    stack.queue_arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]


def _create_table(name: str, properties: dict[str, Any]) -> str:
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode=properties["BillingMode"],
    )
    ttl = properties["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
    )
    return name


def _resolve(value: Any, parameters: Mapping[str, str], physical: Mapping[str, str]) -> str:
    """A template value as the deployed function would see it: a Ref to a parameter or to a resource."""
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        return physical[ref] if ref in physical else parameters[ref]
    if isinstance(value, dict):
        raise ValueError(f"the local stack cannot resolve {value}")
    return str(value).lower() if isinstance(value, bool) else str(value)


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """The environment that sends every boto3 client to moto."""
    return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint_url}


def take_messages(queue_url: str) -> list[dict[str, Any]]:
    """Every message now in the queue, with its attributes, removed from it."""
    sqs = boto3.client("sqs")
    taken: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
    ).get("Messages", []):
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        taken.extend(dict(message) for message in batch)
    return taken


def queue_depth(queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue, as SQS approximates them."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def string_attributes(message: Mapping[str, Any]) -> dict[str, str]:
    """A received message's string message attributes, by name."""
    return {name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()}


def catch_events(stack: Stack, source: str = "ges-backup-export") -> str:
    """An EventBridge rule on the stack's bus that sends every event of `source` to a new queue (what an
    operator's rule would do); returns the queue's URL. moto delivers PutEvents to SQS targets."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"{stack.name}-caught-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    bus = stack.parameters.get("EventBusName", "default")
    rule = f"{stack.name}-completions"
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "caught", "Arn": arn}])
    return url
