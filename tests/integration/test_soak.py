"""The soak: 500 queue messages with duplicates, poison and transient faults, through four execution
environments at once (processes, each with its own poller, as Lambda scales an SQS event source).

Every valid export must be started exactly once with its job_id downstream, every poison message must sit
in the dead-letter queue with its reason, and nothing may be lost. The run is bounded: it stops when the
input queue is empty (visible and in flight), or fails after SOAK_SECONDS.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from collections import Counter

import boto3
import pytest

from local.aws import queue_depth
from local.aws_proxy import AwsFault, AwsProxy, on_queue
from local.fake_ges import FakeGes, Fault
from local.lambda_runtime import poll_until_stopped
from tests import reliability
from tests.stand_ins import MOVIES_BACKUP, Function, Graphs

MESSAGES = 500
DUPLICATES = MESSAGES * 20 // 100
POISON = MESSAGES * 5 // 100
POLLERS = 4
SOAK_SECONDS = 240
SEED = 20261127
DEAD_LETTERS = "InputDeadLetterQueue"


def poison(i: int) -> tuple[str, str]:
    """The i-th message that can never succeed, and the reason it must be dead-lettered with."""
    request = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": f"poison/{i:02d}/"}
    kinds = [
        (f"{{not json {i}", "InvalidRequest"),
        (json.dumps({**request, "export_path": None}).replace("movies", f"movies-{i}"), "InvalidRequest"),
        (json.dumps({**request, "graph_id": "../movies"}), "InvalidRequest"),
        (json.dumps({**request, "endpoint": "https://ges.example.com"}), "InvalidRequest"),
        (json.dumps({**request, "backup_id": "gone"}), "GES.7024"),
    ]
    return kinds[i % len(kinds)]


def soak_bodies(rng: random.Random) -> tuple[list[str], list[str], dict[str, str]]:
    """The shuffled message bodies, the export paths that must be exported, and poison body -> reason."""
    unique = MESSAGES - DUPLICATES - POISON
    valid = [
        json.dumps({"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": f"soak/{i:04d}/"})
        for i in range(unique)
    ]
    poisoned = dict(poison(i) for i in range(POISON))
    bodies = valid + [rng.choice(valid) for _ in range(DUPLICATES)] + list(poisoned)
    rng.shuffle(bodies)
    return bodies, [json.loads(body)["export_path"] for body in valid], poisoned


def inject_transient_faults(rng: random.Random, ges: FakeGes, aws: AwsProxy, function: Function) -> None:
    """Transient faults at random places among the first GES exports and AWS requests (fixed in number)."""
    for _ in range(MESSAGES // 2):
        transient = rng.random() < 0.1
        ges.inject(
            rng.choice([Fault.http(503), Fault.http(502), Fault.http(429, 0)]) if transient else Fault()
        )
    to_downstream = on_queue(function.stack.queue_urls["DownstreamQueue"])
    aws.inject(
        "sqs.SendMessage",
        AwsFault.error(503),
        times=10,
        when=lambda parameters: to_downstream(parameters) and rng.random() < 0.1,
    )
    aws.inject("dynamodb.PutItem", AwsFault.error(500, "InternalServerError"), times=10)


def send_all(queue_url: str, bodies: list[str]) -> None:
    sqs = boto3.client("sqs")
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])]
        assert not sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")


def run_pollers(function: Function) -> list[int | None]:
    """POLLERS execution environments, each a process with its own poller, until the input queue is
    empty; returns their exit codes."""
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    input_queue = function.stack.queue_urls["InputQueue"]
    arguments = (
        input_queue,
        function.stack.queue_arns["InputQueue"],
        function.stack.queue_batch_size(),
        1,
        stop,
    )
    processes = [spawn.Process(target=poll_until_stopped, args=arguments) for _ in range(POLLERS)]
    for process in processes:
        process.start()
    deadline = time.monotonic() + SOAK_SECONDS
    while time.monotonic() < deadline and queue_depth(input_queue) != (0, 0):
        time.sleep(0.5)
    stop.set()
    for process in processes:
        process.join(timeout=30)
    assert queue_depth(input_queue) == (0, 0), f"the soak did not finish in {SOAK_SECONDS} s"
    return [process.exitcode for process in processes]


@pytest.mark.timeout(SOAK_SECONDS + 60)
def test_soak_loses_nothing_and_exports_each_request_once(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy
) -> None:
    rng = random.Random(SEED)
    bodies, expected_paths, poisoned = soak_bodies(rng)
    inject_transient_faults(rng, ges, aws, function)
    send_all(function.stack.queue_urls["InputQueue"], bodies)

    assert run_pollers(function) == [0] * POLLERS

    delivered = Counter(message["export_path"] for message in function.downstream())
    accepted = Counter(
        call.body["export_path"]
        for call in ges.export_calls
        if call.status == 200 and isinstance(call.body, dict)
    )
    dead = {
        message.raw_body: message.attributes.get("error_code")
        for message in function.take("InputDeadLetterQueue")
    }
    stranded = {json.loads(body)["export_path"]: code for body, code in dead.items() if body not in poisoned}
    lost = [path for path in expected_paths if not delivered[path] and path not in stranded]
    lost += [body for body in poisoned if body not in dead]
    duplicate_exports = sum(count - 1 for count in accepted.values())
    reliability.add("soak_messages", len(bodies))
    reliability.add("soak_lost", len(lost))
    reliability.add("duplicate_exports", duplicate_exports)

    assert lost == []
    assert stranded == {}, "a valid request was dead-lettered (with this reason)"
    assert duplicate_exports == 0
    assert set(accepted) == set(delivered) == set(expected_paths)
    assert all(count == 1 for count in delivered.values()), "a job_id was sent downstream twice"
    assert dead == poisoned
    assert ges.faults_fired
    assert aws.faults_fired
