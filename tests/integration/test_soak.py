"""The soak: 500 queue messages with duplicates, poison, transient faults and unknown outcomes, through
four execution environments at once (processes, each with its own poller, as Lambda scales an SQS event
source), each with at most GES_CONCURRENCY (8) calls to GES at a time, which are killed once
mid-invocation.

GES is served over TLS (local/tls.py), as in AWS. Every valid export must be started exactly once with
its job_id downstream, or end dead-lettered as ExportOutcomeUnknown when GES may have started it (the
injected 500s, answers too slow after sending, garbage instead of a TLS answer after the request, resets
after the request, answers no JSON reader decodes, and the invocations killed while holding an export's
lock), having been sent to GES once; every poison message must sit in the dead-letter queue with its
reason, and nothing may be lost.

Meanwhile the job tracker runs in two execution environments of its own on the tracking queue, through
GES status faults (503s, undecodable answers, garbage, resets), refused tracking sends and failed
PutEvents: every started export's job (every job_id delivered downstream) must end with exactly one
completion event, caught by a rule, and no job with two (but for a put EventBridge handled after the
tracker gave up waiting for its answer, which a loaded machine can cause: the tracker cannot know it was
put, says so, and may announce that job twice).
A job_id delivered by an invocation killed before its export was recorded (so dead-lettered as unknown)
is settled as a person would (`ops.settle started`), which hands it to the tracker. The run is bounded: it
stops when the input queue and then the tracking queue are empty (visible and in flight), or fails after
SOAK_SECONDS.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from local.aws import catch_events, queue_depth, take_messages
from local.aws_proxy import AwsFault, AwsProxy, on_queue
from local.fake_ges import FakeGes, Fault, exporting_to
from local.lambda_runtime import poll_until_stopped
from local.tls import local_tls
from ops.settle import main as settle
from ops.settlement import Settlement
from tests import reliability
from tests.stand_ins import MOVIES_BACKUP, Function, ges_over_tls, wait_for
from tests.tracker_stand_ins import TRACKER, TRACKER_CODE, TRACKING_QUEUE

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

MESSAGES = 500
DUPLICATES = MESSAGES * 20 // 100
POISON = MESSAGES * 5 // 100
POLLERS = 4
SOAK_SECONDS = 240
TRACKING_SECONDS = 120  # after the exports: the last jobs' checks and events
SEED = 20261127
DEAD_LETTERS = "InputDeadLetterQueue"
UNKNOWN = "ExportOutcomeUnknown"
ANSWERED_500 = 10
TOO_SLOW = 5  # answered after GES_TIMEOUT_SECONDS
KILLED = 2  # held by GES while every execution environment is killed
BROKEN_OFF = 3  # each: garbage instead of the TLS answer, a reset, an undecodable body (after GES started it)
SOAK_GES_TIMEOUT = "1"
SOAK_CONCURRENCY = "8"  # GES calls at once, in each environment
BATCH_IN_FLIGHT = 10  # records of a batch in flight at once (up to twice SOAK_CONCURRENCY)
# The input and tracking queues' visibility timeout in the soak, so that a message nobody holds any more
# comes back in seconds rather than after the template's 720 s (input) or 360 s (tracking): the records of
# killed invocations, and, under load, tracking messages SQS counts in flight although no tracker got
# them (seen as a tracking queue still holding a message in flight long after every tracker went idle,
# with no tracker log line or error for it; on AWS such a message returns after 360 s).
SOAK_VISIBILITY = 10
TRANSIENT_STATUSES = {429, 502, 503}
TRACKERS = 2  # the tracker's execution environments
JOB_STEPS = ("pending", "running", "success")  # every job, one step per status check
STATUS_FAULTS = 20  # 503s on the first status checks (each check tries GES_MAX_ATTEMPTS times)
STATUS_ANSWER_FAULTS = 6  # status answers that cannot be read: undecodable, garbage, reset
PUT_FAULTS = 6  # failed PutEvents attempts (botocore tries each call twice)
TRACKING_SEND_FAULTS = 10  # refused sends to the tracking queue (the export function's and the tracker's)


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


def inject_unknown_outcomes(rng: random.Random, ges: FakeGes, paths: list[str]) -> dict[str, list[str]]:
    """GES answers some exports so that their outcome is unknown, on paths chosen at random; returns the
    paths by what happens to them. Injected before the transient faults, which apply to any path."""
    counts = {"500": ANSWERED_500, "slow": TOO_SLOW, "killed": KILLED}
    counts |= {"garbage": BROKEN_OFF, "reset": BROKEN_OFF, "undecodable": BROKEN_OFF}
    chosen = iter(rng.sample(paths, sum(counts.values())))
    targets = {kind: [next(chosen) for _ in range(count)] for kind, count in counts.items()}
    faults = {
        "500": Fault.http(500),
        "slow": Fault.slow(3.0),
        "killed": Fault.slow(3.0),
        "garbage": Fault.garbage_after(),
        "reset": Fault.reset_after(),
        "undecodable": Fault.undecodable(200),
    }
    for kind, kind_paths in targets.items():
        for path in kind_paths:
            ges.inject(faults[kind], when=exporting_to(path))
    return targets


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


def inject_tracking_faults(rng: random.Random, ges: FakeGes, aws: AwsProxy, function: Function) -> None:
    """Faults on the tracker's way (fixed in number, each fires): GES status reads, the tracking queue's
    sends at random, EventBridge's PutEvents."""
    ges.inject(Fault.http(503), route="job_status", times=STATUS_FAULTS)
    for fault in (Fault.undecodable(200), Fault.garbage_after(), Fault.reset_after()):
        ges.inject(fault, route="job_status", times=STATUS_ANSWER_FAULTS // 3)
    to_tracking = on_queue(function.stack.queue_urls[TRACKING_QUEUE])
    aws.inject(
        "sqs.SendMessage",
        AwsFault.error(503),
        times=TRACKING_SEND_FAULTS,
        when=lambda parameters: to_tracking(parameters) and rng.random() < 0.1,
    )
    aws.inject("events.PutEvents", AwsFault.error(500, "InternalException"), times=PUT_FAULTS)


def send_all(queue_url: str, bodies: list[str]) -> None:
    sqs = boto3.client("sqs")
    for start in range(0, len(bodies), 10):
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
        ]
        assert not sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")


class Environments:
    """`count` execution environments of a function (the export function's by default), each a process with
    its own poller on the function's queue."""

    def __init__(
        self,
        function: Function,
        count: int = POLLERS,
        queue: str = "InputQueue",
        tracker: dict[str, str] | None = None,
    ) -> None:
        """`tracker`: the tracker's environment, for the tracker's environments on the tracking queue."""
        self.input_queue = function.stack.queue_urls[queue]
        self._count = count
        self._spawn = multiprocessing.get_context("spawn")
        self._stop = self._spawn.Event()
        batch_size = function.stack.batch_size() if tracker is None else function.stack.batch_size(TRACKER)
        self._arguments = (
            self.input_queue,
            function.stack.queue_arns[queue],
            batch_size,
            1,
            self._stop,
            None if tracker is None else TRACKER_CODE,
            tracker,
        )
        self.processes: list[multiprocessing.process.BaseProcess] = []

    def start(self) -> None:
        self.processes = [
            self._spawn.Process(target=poll_until_stopped, args=self._arguments) for _ in range(self._count)
        ]
        for process in self.processes:
            process.start()

    def kill(self) -> None:
        """Lambda ends them mid-invocation (a timeout, out of memory): no cleanup, no answer."""
        for process in self.processes:
            process.kill()
            process.join()

    def stop(self) -> list[int | None]:
        self._stop.set()
        for process in self.processes:
            process.join(timeout=30)
        return [process.exitcode for process in self.processes]


def run_pollers(function: Function, ges: FakeGes, killed: list[str]) -> list[int | None]:
    """Run the environments until the input queue is empty; kill them all once, while GES holds an export
    to one of the `killed` paths. Returns the exit codes of the last environments."""
    environments = Environments(function)
    environments.start()
    deadline = time.monotonic() + SOAK_SECONDS
    while not any(exporting_to(path)(call) for call in ges.export_calls for path in killed):
        assert time.monotonic() < deadline, "no export to a path to kill on came"
        time.sleep(0.02)
    environments.kill()
    wait_for(lambda: all(path in ges.exported_paths for path in killed if posted(ges, path)), timeout=10)
    function.expire_locks()  # the killed invocations' time runs out
    environments.start()
    while time.monotonic() < deadline and queue_depth(environments.input_queue) != (0, 0):
        time.sleep(0.5)
    codes = environments.stop()
    assert queue_depth(environments.input_queue) == (0, 0), f"the soak did not finish in {SOAK_SECONDS} s"
    return codes


def posted(ges: FakeGes, path: str) -> int:
    """Export requests to `path` that may have started an export (answers that say GES started nothing
    left out)."""
    return sum(
        1 for call in ges.export_calls if exporting_to(path)(call) and call.status not in TRANSIENT_STATUSES
    )


def settle_started_unknowns(function: Function, jobs: dict[str, str]) -> int:
    """What a person does for an export left unknown whose job_id did reach the downstream queue (its
    invocation was killed after sending, before recording it): `ops.settle started` with that job_id, which
    hands the job to the tracker. `jobs`: job_id by export path. Returns how many were settled."""
    queues = function.stack.queue_urls
    where = ["--table", function.stack.table_name, "--downstream", queues["DownstreamQueue"]]
    settled = 0
    for unknown in Settlement(function.stack.table_name, boto3.client("dynamodb")).unknown():
        job_id = jobs.get(unknown.export["export_path"])
        if job_id is not None:
            arguments = [
                "--tracking",
                queues[TRACKING_QUEUE],
                "started",
                unknown.reference,
                "--job-id",
                job_id,
            ]
            assert settle([*where, *arguments]) == 0
            settled += 1
    return settled


def wait_until_tracked(queue_url: str) -> None:
    deadline = time.monotonic() + TRACKING_SECONDS
    while time.monotonic() < deadline and queue_depth(queue_url) != (0, 0):
        time.sleep(0.5)
    assert queue_depth(queue_url) == (0, 0), f"the tracker did not finish in {TRACKING_SECONDS} s"


def unanswered_puts(aws: AwsProxy) -> set[str]:
    """The jobs a put was made for that EventBridge (moto) handled after the tracker had stopped waiting
    (a loaded machine): the tracker could not know it was put, so its retry may announce the job again."""
    puts = aws.unanswered_of("events.PutEvents")
    return {json.loads(entry["Detail"])["job_id"] for put in puts for entry in put["Entries"]}


def announced_once(events: int, unanswered: bool) -> bool:
    """One completion event; or, after a put whose answer never reached the tracker, one or two."""
    return events == 1 or (unanswered and events == 2)


def completion_events(caught_url: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [json.loads(message["Body"]) for message in take_messages(caught_url)]
    return events


@pytest.fixture
def tls_ges(ges: FakeGes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGes]:
    """The soak's GES, over TLS: every execution environment the soak starts trusts it."""
    with ges_over_tls(ges, local_tls(tmp_path), monkeypatch) as fake:
        yield fake


@pytest.mark.timeout(SOAK_SECONDS + TRACKING_SECONDS + 60)
def test_soak_loses_nothing_and_exports_each_request_once(
    function: Function, tls_ges: FakeGes, aws: AwsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    ges = tls_ges
    monkeypatch.setenv("GES_TIMEOUT_SECONDS", SOAK_GES_TIMEOUT)
    monkeypatch.setenv("GES_CONCURRENCY", SOAK_CONCURRENCY)
    monkeypatch.setenv("JOB_POLL_INTERVAL_SECONDS", "0")  # each job's first check at once
    for queue in ("InputQueue", TRACKING_QUEUE):
        boto3.client("sqs").set_queue_attributes(
            QueueUrl=function.stack.queue_urls[queue],
            Attributes={"VisibilityTimeout": str(SOAK_VISIBILITY)},
        )
    ges.job_script = JOB_STEPS
    caught = catch_events(function.stack)
    rng = random.Random(SEED)
    bodies, expected_paths, poisoned = soak_bodies(rng)
    unknown_targets = inject_unknown_outcomes(rng, ges, expected_paths)
    inject_transient_faults(rng, ges, aws, function)
    inject_tracking_faults(random.Random(SEED + 1), ges, aws, function)
    send_all(function.stack.queue_urls["InputQueue"], bodies)
    tracker_environment = {
        **function.stack.environment_of(TRACKER),
        "JOB_POLL_INTERVAL_SECONDS": "0",
        "GES_ENDPOINT": ges.url,
    }
    trackers = Environments(function, TRACKERS, TRACKING_QUEUE, tracker_environment)
    trackers.start()
    try:
        assert run_pollers(function, ges, unknown_targets["killed"]) == [0] * POLLERS
        downstream = function.downstream()
        jobs = {message["export_path"]: message["job_id"] for message in downstream}
        settled = settle_started_unknowns(function, jobs)
        wait_until_tracked(function.stack.queue_urls[TRACKING_QUEUE])
    finally:
        tracker_codes = trackers.stop()

    delivered = Counter(message["export_path"] for message in downstream)
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
    sent_twice = [path for path in expected_paths if posted(ges, path) > 1]
    injected = [path for paths in unknown_targets.values() for path in paths]
    events = completion_events(caught)
    announced = Counter(event["detail"]["job_id"] for event in events)
    unanswered = unanswered_puts(aws)
    untracked = [
        job_id for job_id in jobs.values() if not announced_once(announced[job_id], job_id in unanswered)
    ]
    unexpected = [job_id for job_id in announced if job_id not in jobs.values()]
    reliability.add("soak_messages", len(bodies))
    reliability.add("soak_lost", len(lost))
    reliability.add("duplicate_exports", duplicate_exports + len(sent_twice))
    reliability.add("soak_unknown_outcomes", len(injected))
    reliability.add("soak_untracked", len(untracked) + len(unexpected))
    print(
        f"soak: {len(jobs)} exports started, {len(events)} completion events, {settled} settled, "
        f"{len(stranded)} dead-lettered as unknown, {len(unanswered)} jobs put without an answer in time"
    )

    assert lost == []
    assert duplicate_exports == 0
    assert sent_twice == [], "an export that may have started was sent to GES again"
    # Each injected unknown outcome ends dead-lettered as unknown, sent to GES once, unless a killed
    # invocation held its lock before sending it (waiting for a GES slot): then its lock was found
    # abandoned, and it ends unknown without ever being sent. So may any export whose invocation was
    # killed around it, but no valid request ends dead-lettered for another reason.
    assert {path for path in injected if stranded.get(path) != UNKNOWN} == set()
    assert all(posted(ges, path) <= 1 for path in injected)
    assert sum(posted(ges, path) for path in injected) >= len(injected) - POLLERS * BATCH_IN_FLIGHT
    assert set(stranded.values()) <= {UNKNOWN}, "a valid request was dead-lettered (with this reason)"
    assert set(delivered) | set(stranded) == set(expected_paths)
    assert all(count == 1 for count in delivered.values()), "a job_id was sent downstream twice"
    # A poison request that takes a lock (a valid request GES refuses) ends unknown instead of with GES's
    # refusal when a killed invocation held its lock: it may have been sent.
    refused = {body: code for body, code in dead.items() if body in poisoned}
    assert {body: code for body, code in refused.items() if code != poisoned[body]} == {
        body: UNKNOWN
        for body, code in refused.items()
        if code == UNKNOWN and poisoned[body].startswith("GES.")
    }
    # The tracker: every started export's job announced exactly once, and nothing else announced.
    assert tracker_codes == [0] * TRACKERS
    assert untracked == [], "a started export's job has no completion event, or more than one"
    assert unexpected == []
    assert {event["detail-type"] for event in events} == {"GES Backup Export Succeeded"}
    assert function.take("TrackingDeadLetterQueue") == []
    assert ges.faults_fired
    assert aws.faults_fired
