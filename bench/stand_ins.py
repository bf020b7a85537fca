"""The zero-latency local stand-ins every figure is measured against, and the function's environment.

moto in server mode behind the counting proxy (local.aws_proxy), and the fake GES without latency;
the queues, table and secret are the ones template.yaml declares (local.aws.deploy), and the function
gets the environment the template gives it, at the template's default log level.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from local.aws import REGION, Stack, aws_environment, deploy, moto_server
from local.aws_proxy import AwsProxy
from local.fake_ges import FakeGes

PROJECT = "0a1b2c3d4e5f67890a1b2c3d4e5f6789"
GRAPH = "movies"
BACKUP = "7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"


@dataclass
class StandIns:
    proxy: AwsProxy
    ges: FakeGes
    stack: Stack

    def function_environment(self) -> dict[str, str]:
        """What a fresh interpreter gets: the template's variables, what Lambda itself sets (its
        LoggingConfig among them), fake credentials and the proxy as every client's endpoint."""
        logging_config = self.stack.function_property("LoggingConfig")
        levels = self.stack.template["Mappings"]["ApplicationLogLevels"]
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": "ges-backup-export-bench",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.stack.function_property("MemorySize")),
            "AWS_LAMBDA_LOG_FORMAT": logging_config["LogFormat"],
            "AWS_LAMBDA_LOG_LEVEL": levels[self.stack.parameters["LogLevel"]]["Level"],
            **aws_environment(self.proxy.url),
            **self.stack.environment,
        }

    def empty_queues(self) -> None:
        """Purge every queue of the stack. moto's SendMessage takes longer the
        more messages the queue holds (7 ms on an empty queue, 55 ms with 2,000 waiting; real SQS does
        not slow down), so each measurement would otherwise pay for the messages earlier ones left."""
        sqs = boto3.client("sqs")
        for url in self.stack.queue_urls.values():
            sqs.purge_queue(QueueUrl=url)

    def new_request(self, label: str) -> dict[str, str]:
        """A request for an export nobody asked for yet (a path of its own)."""
        return {"graph_id": GRAPH, "backup_id": BACKUP, "export_path": f"bench-{label}/{uuid.uuid4().hex}/"}


@contextmanager
def running() -> Iterator[StandIns]:
    """Start the stand-ins and deploy the template's resources; this process's boto3 points at them.
    moto lets the benchmark purge a queue more often than once a minute (StandIns.empty_queues)."""
    os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"  # read by moto's own process
    with moto_server() as moto_url, AwsProxy(moto_url).running() as proxy, FakeGes() as ges:
        ges.latency = 0.0
        ges.add_backup(PROJECT, GRAPH, backup_id=BACKUP)
        os.environ.update(aws_environment(proxy.url))
        stack = deploy(
            f"bench-{uuid.uuid4().hex[:8]}",
            token_secret=ges.token,
            ges_endpoint=ges.url,
            overrides={"GesProjectId": PROJECT},
        )
        yield StandIns(proxy=proxy, ges=ges, stack=stack)


def queue_event(
    stand_ins: StandIns, bodies: list[dict[str, Any]], queue: str = "InputQueue"
) -> dict[str, Any]:
    """An SQS event source mapping's batch from `queue` (the export function's input queue unless named),
    built directly, so no receive or delete is counted."""
    queue_arn = stand_ins.stack.queue_arns[queue]
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": uuid.uuid4().hex,
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(json.dumps(body).encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for body in bodies
        ]
    }
