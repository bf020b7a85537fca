"""`make stand-ins`: the stand-ins left running for the operator tools, as docs/operations.md rehearses
the runbook on them. Started as a person starts it (a process of its own), then driven from outside:
a fault through the fake GES's control route makes an export's outcome unknown, the export function
dead-letters it, `ops.settle` lists it, and Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[3]
REQUEST = {"graph_id": "movies", "backup_id": "latest", "export_path": "ges-backups/movies/rehearsal/"}


def clean_environment() -> dict[str, str]:
    """This machine's environment but for what a test run sets: the stand-ins set their own."""
    return {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "GES_"))}


def read_environment(path: Path) -> dict[str, str]:
    """The `export NAME=value` lines the stand-ins write."""
    pairs = (line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines())
    return {name: value for name, value in pairs}


@pytest.fixture
def stand_ins(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    env_file = tmp_path / "stand-ins.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "local.stand_ins", "--env-file", str(env_file), "--log-file",
         str(tmp_path / "stand-ins.log"), "--redelivery-seconds", "1"],
        cwd=ROOT, env=clean_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not env_file.exists() or not env_file.read_text().endswith("\n"):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the stand-ins did not come up in 90 s"
            time.sleep(0.2)
        yield process, read_environment(env_file)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def post(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the fake, on loopback
        return json.loads(answer.read())


def dead_lettered(sqs: Any, queue_url: str, timeout: float = 60) -> dict[str, Any]:
    """The first message of the dead-letter queue, left in it (visible again at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MessageAttributeNames=["All"], VisibilityTimeout=0, WaitTimeSeconds=1
        ).get("Messages", [])
        if messages:
            return dict(messages[0])
    raise AssertionError(f"nothing reached {queue_url} in {timeout} s")


def test_a_fault_injected_from_outside_leaves_an_unknown_export_to_settle(
    stand_ins: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    process, environment = stand_ins
    sqs = boto3.client(
        "sqs",
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        region_name=environment["AWS_DEFAULT_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    post(environment["GES_ENDPOINT"] + "/_fake/faults", {"route": "export", "status": 500, "times": 1})
    sqs.send_message(QueueUrl=environment["INPUT_QUEUE_URL"], MessageBody=json.dumps(REQUEST))
    message = dead_lettered(sqs, environment["INPUT_DEAD_LETTER_QUEUE_URL"])
    listed = subprocess.run(
        [sys.executable, "-m", "ops.settle", "--table", environment["IDEMPOTENCY_TABLE_NAME"], "--downstream",
         environment["DOWNSTREAM_QUEUE_URL"], "--tracking", environment["TRACKING_QUEUE_URL"]],
        cwd=ROOT, env={**clean_environment(), **environment}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)

    assert message["MessageAttributes"]["error_code"]["StringValue"] == "ExportOutcomeUnknown"
    assert json.loads(message["Body"]) == REQUEST
    assert listed.returncode == 0, listed.stderr
    assert "1 exports with an unknown outcome" in listed.stdout
    assert "path ges-backups/movies/rehearsal/" in listed.stdout
    assert process.returncode == 0, output
    assert "stopping the stand-ins" in output
    assert "Traceback" not in output
