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

Once the export environments run again after the kill, restore tests run beside them (RestoreSoak): the
restore tester's schedule ticks in two processes of their own, some delivered twice, over the exports of
movies the trackers recorded meanwhile, and its follow-up queue consumed by two execution environments of
its own; with faults on the import (429, 503, 401, a 500 and a reset after GES started it: unknown
outcomes, settled as a person would), on the import job's status, on the follow-up's sends, and on the
delete (a 503, a refusal). GES must start at most one import per test, none may be sent to GES again after
it may have started, and every test must end with exactly one event, of the kind its faults make it.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from ges_backup_export.core.message_format import format_time
from ges_backup_export.restore.history import History
from ges_backup_export.restore.settle import is_import
from local.aws import catch_events, queue_depth, take_messages
from local.aws_proxy import AwsFault, AwsProxy, on_queue
from local.fake_ges import Call, FakeGes, Fault, exporting_to
from local.fake_obs import imported_backups, make_persistence
from local.lambda_runtime import poll_until_stopped
from local.tls import local_tls
from ops.settle import main as settle
from ops.settlement import Settlement
from tests import reliability
from tests.restore_stand_ins import DEAD_LETTERS as RESTORE_DEAD_LETTERS
from tests.restore_stand_ins import FOLLOW_UPS, HISTORY, TESTER, TESTER_CODE, invoke_ticks
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, ges_over_tls, wait_for
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
EXPORT_EVENT = "GES Backup Export"  # the detail types of the tracker's events start so
RESTORE_EVENT = "GES Backup Restore Test"  # and the restore tests'


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
        code: tuple[str, int] = (TRACKER_CODE, 0),
    ) -> None:
        """`tracker`: another function's environment, for its environments on `queue`: the tracker's by
        default; `code`, that function's CodeUri and its event source's BatchSize (0: the tracker's)."""
        self.input_queue = function.stack.queue_urls[queue]
        self._count = count
        self._spawn = multiprocessing.get_context("spawn")
        self._stop = self._spawn.Event()
        code_uri, batch_size = code
        if tracker is None:
            batch_size = function.stack.batch_size()
        elif not batch_size:
            batch_size = function.stack.batch_size(TRACKER)
        self._arguments = (
            self.input_queue,
            function.stack.queue_arns[queue],
            batch_size,
            1,
            self._stop,
            None if tracker is None else code_uri,
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


def run_pollers(
    function: Function, ges: FakeGes, killed: list[str], restarted: Callable[[], None] = lambda: None
) -> list[int | None]:
    """Run the environments until the input queue is empty; kill them all once, while GES holds an export
    to one of the `killed` paths, then call `restarted` once they run again. Returns the exit codes of the
    last environments."""
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
    restarted()
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
        if is_import(unknown.export):  # a restore test's import: RestoreSoak settles those
            continue
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


def unanswered_puts(aws: AwsProxy, kind: str = EXPORT_EVENT) -> list[dict[str, Any]]:
    """The details of the events (of detail types starting with `kind`) of each put that EventBridge (moto)
    handled after the function had stopped waiting (a loaded machine): the function could not know it was
    put, so its retry may announce the job (or the restore test) again."""
    puts = aws.unanswered_of("events.PutEvents")
    return [
        json.loads(entry["Detail"])
        for put in puts
        for entry in put["Entries"]
        if entry["DetailType"].startswith(kind)
    ]


def announced_once(events: int, unanswered: bool) -> bool:
    """One completion event; or, after a put whose answer never reached the tracker, one or two."""
    return events == 1 or (unanswered and events == 2)


def completion_events(caught_url: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [json.loads(message["Body"]) for message in take_messages(caught_url)]
    return events


# --- the restore tests beside the exports -------------------------------------------------------------
# Once the export environments run again after the kill, the restore tester runs too: two processes of
# schedule ticks (EventBridge Scheduler invoking it, a failed run invoked again) and two execution
# environments on its follow-up queue (its event source's MaximumConcurrency), over the exports of movies
# the trackers recorded in the history meanwhile. One tick of `"*"` tests every graph of the project: movies
# (imported into itself), the scratch graphs (nothing to restore: no export of theirs), a persistence-edition
# graph (skipped). A tick per scratch graph tests movies' exports into that graph (RestoreTestTargetGraphId),
# each with its own fault, so that every GES call of a test is told apart by its graph. Some ticks are
# delivered twice (at once, or later). An import left unknown is settled as a person would (ops.settle,
# after looking at the graph's jobs in GES), and its tick invoked again.
TESTER_ENVIRONMENTS = 2
SCRATCH_GRAPHS = [f"scratch-{i}" for i in range(8)]
PERSISTENT_GRAPH = "persistent"
# A tick this far back: every export of movies that ended before it is in the history by then (recorded as
# its job is seen to succeed), so that every retry of a tick draws from the same exports.
TICK_MARGIN = timedelta(seconds=10)
TICK_ATTEMPTS = 6  # a failed run is invoked again, 1 s later, up to this many times in all
RESTORE_SECONDS = 90  # from the restart to the restore tests' end
RESTORE_PASSED = f"{RESTORE_EVENT} Passed"
RESTORE_FAILED = f"{RESTORE_EVENT} Failed"
UNSTARTED_IMPORT = "scratch-2"  # GES answers 500: it started nothing (settled not-started, invoked again)
BROKEN_OFF_IMPORT = "scratch-3"  # reset after GES started the import (settled started, as its job)
REFUSED_DELETE = "scratch-5"  # GES refuses the delete: a failed test naming the backup left
SENDS_REFUSED = "scratch-7"  # the follow-up's first sends refused
NOT_STARTING = {429, 502, 503, 401}  # import answers that say GES started nothing


def into(graph_id: str) -> Callable[[Call], bool]:
    """For `inject(when=...)`: the requests about one graph."""
    return lambda call: f"/graphs/{graph_id}/" in call.path


def inject_restore_faults(ges: FakeGes, aws: AwsProxy, function: Function) -> None:
    """Faults on the restore tests' way, each on one scratch graph's test (so each fires)."""
    ges.inject(Fault.http(503), route="import_backup", when=into("scratch-0"))
    ges.inject(Fault.http(429, 0), route="import_backup", when=into("scratch-1"))
    ges.inject(Fault.http(500), route="import_backup", when=into(UNSTARTED_IMPORT))
    ges.inject(Fault.reset_after(), route="import_backup", when=into(BROKEN_OFF_IMPORT))
    ges.inject(Fault.http(503), route="delete_backup", when=into("scratch-4"))
    refused = Fault.ges_error(400, "GES.0001", "Incorrect parameter.")
    ges.inject(refused, route="delete_backup", when=into(REFUSED_DELETE))
    ges.inject(Fault.http(401), route="import_backup", when=into("scratch-6"))
    ges.inject(Fault.http(503), route="job_status", when=into("scratch-1"), times=2)
    to_follow_ups = on_queue(function.stack.queue_urls[FOLLOW_UPS])
    aws.inject(
        "sqs.SendMessage",
        AwsFault.error(503),
        times=2,
        when=lambda parameters: to_follow_ups(parameters) and SENDS_REFUSED in parameters["MessageBody"],
    )


def graph_name(graph_id: str) -> str:
    return "soak_" + graph_id.replace("-", "_")


def import_jobs(ges: FakeGes) -> dict[str, list[str]]:
    """The import jobs GES started, by the graph imported into (as a person finds them in GES's job list:
    by the graph's name)."""
    graphs = {graph_name(graph_id): graph_id for graph_id in ("movies", *SCRATCH_GRAPHS)}
    jobs: dict[str, list[str]] = {}
    for job_id, job in ges.jobs.items():
        if job["job_name"] == "ImportBackup":
            jobs.setdefault(graphs[job["related_graph"]], []).append(job_id)
    return jobs


def posted_imports(ges: FakeGes) -> Counter[str]:
    """Import requests that may have started an import (answers that say GES started nothing left out), by
    the graph imported into."""
    return Counter(
        call.path.split("/graphs/")[1].split("/")[0]
        for call in ges.calls
        if call.method == "POST" and call.path.rstrip("/").endswith("/backups/import")
        and call.status not in NOT_STARTING
    )  # fmt: skip


def restore_key(detail: dict[str, Any]) -> tuple[str, str, bool]:
    """A restore test, as its event names it: the graph imported into, the tick, whether it imported."""
    return detail["graph_id"], detail["requested_at"], "job_id" in detail


class RestoreSoak:
    """The restore tests of the soak (see above), run on a thread of their own beside the exports."""

    def __init__(self, function: Function, ges: FakeGes, tmp_path: Path) -> None:
        self.function = function
        self.ges = ges
        self.reports = tmp_path / "ticks"
        self.reports.mkdir()
        self.environment = {
            **function.stack.environment_of(TESTER),
            "JOB_POLL_INTERVAL_SECONDS": "0",
            "GES_ENDPOINT": ges.url,
        }
        (source,) = [
            event
            for event in function.stack.template["Resources"][TESTER]["Properties"]["Events"].values()
            if event["Type"] == "SQS"
        ]
        batch_size = int(source["Properties"]["BatchSize"])
        self.followers = Environments(
            function, TESTER_ENVIRONMENTS, FOLLOW_UPS, self.environment, (TESTER_CODE, batch_size)
        )
        self._spawn = multiprocessing.get_context("spawn")
        self._thread = threading.Thread(target=self._run, name="restore-soak", daemon=True)
        self._error: BaseException | None = None
        self.ticks: dict[str, dict[str, Any]] = {}  # the tick of each graph's test, by the graph
        self.all_tick = ""
        self.target_tick = ""
        self.tick_codes: list[int | None] = []
        self.settled: dict[str, str] = {}  # graph -> started / not-started
        self.started_at = 0.0

    @staticmethod
    def seed(ges: FakeGes) -> None:
        """The graphs the restore tests import into, besides movies."""
        for graph_id in ("movies", *SCRATCH_GRAPHS):
            ges.add_graph(PROJECT, graph_id, name=graph_name(graph_id))
        make_persistence(ges, PROJECT, PERSISTENT_GRAPH)
        ges.obs.import_script = ("pending", "running", "success")

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.followers.start()
        self._thread.start()

    def _run(self) -> None:
        try:
            self._test()
        except BaseException as error:  # raised again by finish()
            self._error = error

    def _test(self) -> None:
        tick = self._first_tick()
        self.target_tick, self.all_tick = format_time(tick), format_time(tick + timedelta(seconds=1))
        every = {"graph_id": "*", "selection": "latest", "scheduled_time": self.all_tick}
        targets = {
            graph_id: {
                "graph_id": "movies",
                "selection": "random" if i % 2 else "latest",
                "target_graph_id": graph_id,
                "scheduled_time": self.target_tick,
            }
            for i, graph_id in enumerate(SCRATCH_GRAPHS)
        }
        self.ticks = {"movies": every, **targets}
        again = [targets[graph_id] for graph_id in ("scratch-0", "scratch-3", REFUSED_DELETE)]
        self._invoke([[every, *targets.values()], [every, *again, every]])
        self._settle_unknown_imports()
        # The ticks of settled imports invoked again: the one not started imports now, the one started is
        # a duplicate.
        if self.settled:
            self._invoke([[self.ticks[graph_id] for graph_id in sorted(self.settled)]])

    def _first_tick(self) -> datetime:
        """A tick TICK_MARGIN back, once the history holds an export of movies that ended before it."""
        history = History(self.function.stack.physical[HISTORY], boto3.client("dynamodb"))
        deadline = time.monotonic() + RESTORE_SECONDS
        while True:
            tick = datetime.now(UTC).replace(microsecond=0) - TICK_MARGIN
            if history.within(PROJECT, "movies", tick - timedelta(days=1), tick):
                return tick
            assert time.monotonic() < deadline, "no export of movies was recorded in the history"
            time.sleep(0.5)

    def _invoke(self, runs: list[list[dict[str, Any]]]) -> None:
        """Each list of ticks in an execution environment of its own, all at once, until all are done."""
        processes = [
            self._spawn.Process(
                target=invoke_ticks,
                args=(
                    events,
                    self.environment,
                    str(self.reports / f"{uuid.uuid4().hex}.jsonl"),
                    TICK_ATTEMPTS,
                    1.0,
                ),
            )
            for events in runs
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=RESTORE_SECONDS)
            self.tick_codes.append(process.exitcode)

    def _settle_unknown_imports(self) -> None:
        """What a person does for each import left unknown: look for the graph's import job in GES; settle
        it started as that job, or not started."""
        stack = self.function.stack
        where = ["--table", stack.table_name, "--downstream", stack.queue_urls["DownstreamQueue"]]
        where += ["--restore-queue", stack.queue_urls[FOLLOW_UPS]]
        for unknown in Settlement(stack.table_name, boto3.client("dynamodb")).unknown():
            if not is_import(unknown.export):
                continue
            graph_id = unknown.export["graph_id"]
            jobs = import_jobs(self.ges).get(graph_id, [])
            assert len(jobs) <= 1, f"graph {graph_id} has {len(jobs)} import jobs"
            if jobs:
                arguments = ["started", unknown.reference, "--job-id", jobs[0]]
            else:
                arguments = ["not-started", unknown.reference]
            assert settle([*where, *arguments]) == 0
            self.settled[graph_id] = arguments[0]

    def finish(self) -> None:
        """Wait for the restore tests' end: the ticks run, the follow-up queue empty."""
        self._thread.join(timeout=max(1.0, self.started_at + RESTORE_SECONDS - time.monotonic()))
        if self._error is not None:
            raise self._error
        assert not self._thread.is_alive(), f"the restore tests did not end in {RESTORE_SECONDS} s"
        wait_until_tracked(self.function.stack.queue_urls[FOLLOW_UPS])

    def stop(self) -> list[int | None]:
        return self.followers.stop() if self.started_at else []

    def outcomes(self) -> list[dict[str, Any]]:
        """Every invocation of a tick, as the ticks' processes reported it."""
        return [
            json.loads(line)
            for report in sorted(self.reports.glob("*.jsonl"))
            for line in report.read_text().splitlines()
        ]

    def expected(self) -> dict[tuple[str, str, bool], str]:
        """Each restore test, as restore_key names it, and the detail type of its one event."""
        tests = {("movies", self.all_tick, True): RESTORE_PASSED}
        for graph_id in SCRATCH_GRAPHS:
            tests[(graph_id, self.all_tick, False)] = RESTORE_FAILED  # nothing to restore
            tests[(graph_id, self.target_tick, True)] = (
                RESTORE_FAILED if graph_id == REFUSED_DELETE else RESTORE_PASSED
            )
        return tests


@pytest.fixture
def tls_ges(ges: FakeGes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGes]:
    """The soak's GES, over TLS: every execution environment the soak starts trusts it."""
    with ges_over_tls(ges, local_tls(tmp_path), monkeypatch) as fake:
        yield fake


RestoreKey = tuple[str, str, bool]  # restore_key: a restore test as the soak tells them apart


@dataclass(frozen=True)
class ExportTally:
    """What became of the soak's export requests and their jobs, counted from what the run left: the
    downstream queue, the dead-letter queue, GES's calls and the events a rule caught."""

    delivered: Counter[str]
    dead: dict[str, str | None]
    stranded: dict[str, str | None]
    lost: list[str]
    duplicate_exports: int
    sent_twice: list[str]
    injected: list[str]
    events: list[dict[str, Any]]
    untracked: list[str]
    unexpected: list[str]
    unanswered: int

    @classmethod
    def of(
        cls,
        function: Function,
        ges: FakeGes,
        aws: AwsProxy,
        downstream: list[dict[str, Any]],
        caught_events: list[dict[str, Any]],
        expected_paths: list[str],
        poisoned: dict[str, str],
        unknown_targets: dict[str, list[str]],
    ) -> ExportTally:
        jobs = {message["export_path"]: message["job_id"] for message in downstream}
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
        stranded = {
            json.loads(body)["export_path"]: code for body, code in dead.items() if body not in poisoned
        }
        lost = [path for path in expected_paths if not delivered[path] and path not in stranded]
        lost += [body for body in poisoned if body not in dead]
        events = [event for event in caught_events if event["detail-type"].startswith(EXPORT_EVENT)]
        announced = Counter(event["detail"]["job_id"] for event in events)
        unanswered = {detail["job_id"] for detail in unanswered_puts(aws)}
        return cls(
            delivered=delivered,
            dead=dead,
            stranded=stranded,
            lost=lost,
            duplicate_exports=sum(count - 1 for count in accepted.values()),
            sent_twice=[path for path in expected_paths if posted(ges, path) > 1],
            injected=[path for paths in unknown_targets.values() for path in paths],
            events=events,
            untracked=[job for job in jobs.values() if not announced_once(announced[job], job in unanswered)],
            unexpected=[job for job in announced if job not in jobs.values()],
            unanswered=len(unanswered),
        )

    def record(self, messages: int) -> None:
        """Into the reliability table (docs/reliability.md)."""
        reliability.add("soak_messages", messages)
        reliability.add("soak_lost", len(self.lost))
        reliability.add("duplicate_exports", self.duplicate_exports + len(self.sent_twice))
        reliability.add("soak_unknown_outcomes", len(self.injected))
        reliability.add("soak_untracked", len(self.untracked) + len(self.unexpected))


@dataclass(frozen=True)
class RestoreTally:
    """What became of the restore tests run beside the exports: their events, and GES's import jobs."""

    tests: dict[RestoreKey, str]
    events: list[dict[str, Any]]
    unended: list[RestoreKey]
    started_imports: dict[str, list[Any]]
    duplicate_imports: int
    imported_twice: list[str]

    @property
    def imports(self) -> int:
        return sum(len(started) for started in self.started_imports.values())

    @classmethod
    def of(
        cls, restore: RestoreSoak, ges: FakeGes, aws: AwsProxy, caught_events: list[dict[str, Any]]
    ) -> RestoreTally:
        tests = restore.expected()
        events = [event for event in caught_events if event["detail-type"].startswith(RESTORE_EVENT)]
        announced = Counter(restore_key(event["detail"]) for event in events)
        unanswered = {restore_key(detail) for detail in unanswered_puts(aws, RESTORE_EVENT)}
        unended = [test for test in tests if not announced_once(announced[test], test in unanswered)]
        unended += [test for test in announced if test not in tests]
        started_imports = import_jobs(ges)
        # Each graph is imported into by one test only: its import requests that may have started it, but
        # for one a person settled as not started (its tick then imported again, as the runbook says).
        imported_twice = [
            graph_id
            for graph_id, count in posted_imports(ges).items()
            if count - (restore.settled.get(graph_id) == "not-started") > 1
        ]
        return cls(
            tests=tests,
            events=events,
            unended=unended,
            started_imports=started_imports,
            duplicate_imports=sum(len(started) - 1 for started in started_imports.values()),
            imported_twice=imported_twice,
        )

    def record(self) -> None:
        reliability.add("soak_restore_tests", len(self.tests))
        reliability.add("duplicate_imports", self.duplicate_imports + len(self.imported_twice))
        reliability.add("soak_restore_unended", len(self.unended))


@pytest.mark.timeout(SOAK_SECONDS + TRACKING_SECONDS + 60)
def test_soak_loses_nothing_and_exports_each_request_once(
    function: Function, tls_ges: FakeGes, aws: AwsProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ges = tls_ges
    monkeypatch.setenv("GES_TIMEOUT_SECONDS", SOAK_GES_TIMEOUT)
    monkeypatch.setenv("GES_CONCURRENCY", SOAK_CONCURRENCY)
    monkeypatch.setenv("JOB_POLL_INTERVAL_SECONDS", "0")  # each job's first check at once
    for queue in ("InputQueue", TRACKING_QUEUE, FOLLOW_UPS):
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
    RestoreSoak.seed(ges)
    inject_restore_faults(ges, aws, function)
    send_all(function.stack.queue_urls["InputQueue"], bodies)
    tracker_environment = {
        **function.stack.environment_of(TRACKER),
        "JOB_POLL_INTERVAL_SECONDS": "0",
        "GES_ENDPOINT": ges.url,
    }
    trackers = Environments(function, TRACKERS, TRACKING_QUEUE, tracker_environment)
    restore = RestoreSoak(function, ges, tmp_path)
    trackers.start()
    began = time.monotonic()
    try:
        assert run_pollers(function, ges, unknown_targets["killed"], restore.start) == [0] * POLLERS
        exported = time.monotonic()
        downstream = function.downstream()
        jobs = {message["export_path"]: message["job_id"] for message in downstream}
        settled = settle_started_unknowns(function, jobs)
        wait_until_tracked(function.stack.queue_urls[TRACKING_QUEUE])
        tracked = time.monotonic()
        restore.finish()
        restored = time.monotonic()
    finally:
        tracker_codes = trackers.stop()
        restore_codes = restore.stop()
    print(
        f"soak timings: exports {exported - began:.1f} s, tracking {tracked - began:.1f} s, restore tests "
        f"from {restore.started_at - began:.1f} s to {restored - began:.1f} s"
    )

    caught_events = completion_events(caught)
    exports = ExportTally.of(
        function, ges, aws, downstream, caught_events, expected_paths, poisoned, unknown_targets
    )
    restores = RestoreTally.of(restore, ges, aws, caught_events)
    exports.record(len(bodies))
    restores.record()
    print(
        f"soak: {len(jobs)} exports started, {len(exports.events)} completion events, {settled} settled, "
        f"{len(exports.stranded)} dead-lettered as unknown, {exports.unanswered} jobs put without an answer "
        f"in time; {len(restores.tests)} restore tests, {len(restores.events)} restore events, "
        f"{restores.imports} imports, settled {restore.settled}, {len(restore.outcomes())} tick invocations"
    )
    assert exports.lost == []
    assert exports.duplicate_exports == 0
    assert exports.sent_twice == [], "an export that may have started was sent to GES again"
    # Each injected unknown outcome ends dead-lettered as unknown, sent to GES once, unless a killed
    # invocation held its lock before sending it (waiting for a GES slot): then its lock was found
    # abandoned, and it ends unknown without ever being sent. So may any export whose invocation was
    # killed around it, but no valid request ends dead-lettered for another reason.
    assert {path for path in exports.injected if exports.stranded.get(path) != UNKNOWN} == set()
    assert all(posted(ges, path) <= 1 for path in exports.injected)
    assert (
        sum(posted(ges, path) for path in exports.injected)
        >= len(exports.injected) - POLLERS * BATCH_IN_FLIGHT
    )
    assert set(exports.stranded.values()) <= {UNKNOWN}, "a valid request was dead-lettered (with this reason)"
    assert set(exports.delivered) | set(exports.stranded) == set(expected_paths)
    assert all(count == 1 for count in exports.delivered.values()), "a job_id was sent downstream twice"
    # A poison request that takes a lock (a valid request GES refuses) ends unknown instead of with GES's
    # refusal when a killed invocation held its lock: it may have been sent.
    refused = {body: code for body, code in exports.dead.items() if body in poisoned}
    assert {body: code for body, code in refused.items() if code != poisoned[body]} == {
        body: UNKNOWN
        for body, code in refused.items()
        if code == UNKNOWN and poisoned[body].startswith("GES.")
    }
    # The tracker: every started export's job announced exactly once, and nothing else announced.
    assert tracker_codes == [0] * TRACKERS
    assert exports.untracked == [], "a started export's job has no completion event, or more than one"
    assert exports.unexpected == []
    assert {event["detail-type"] for event in exports.events} == {"GES Backup Export Succeeded"}
    assert function.take("TrackingDeadLetterQueue") == []
    # The restore tests beside them: GES started one import per test, none was sent again after it may have
    # started, each test ended with its one event (of the kind its fault makes it), nothing was lost.
    outcomes = restore.outcomes()
    assert restore_codes == [0] * TESTER_ENVIRONMENTS
    assert restore.tick_codes == [0] * len(restore.tick_codes)
    assert [outcome for outcome in outcomes if outcome["outcome"] == "crash"] == []
    assert restores.duplicate_imports == 0, "GES started two imports for one restore test"
    assert restores.imported_twice == [], "an import that may have started was sent to GES again"
    assert restores.unended == [], "a restore test has no event, or more than one, or one it should not have"
    assert {restore_key(event["detail"]): event["detail-type"] for event in restores.events} == restores.tests
    assert set(restores.started_imports) == {"movies", *SCRATCH_GRAPHS}
    # Every tick ended well at last; the imports left unknown were left for a person, who settled them.
    done = {
        json.dumps(outcome["event"], sort_keys=True) for outcome in outcomes if outcome["outcome"] == "ok"
    }
    assert [tick for tick in restore.ticks.values() if json.dumps(tick, sort_keys=True) not in done] == []
    assert {UNSTARTED_IMPORT: "not-started", BROKEN_OFF_IMPORT: "started"}.items() <= restore.settled.items()
    unknown = Settlement(function.stack.table_name, boto3.client("dynamodb")).unknown()
    assert [entry.reference for entry in unknown if is_import(entry.export)] == []
    skipped = [
        test
        for outcome in outcomes
        if outcome["outcome"] == "ok"
        for test in outcome["result"]["restore_tests"]
        if test["graph_id"] == PERSISTENT_GRAPH
    ]
    assert skipped
    assert {test["outcome"] for test in skipped} == {"skipped"}
    # What each test imported was deleted, but for the refused delete: that backup is left, and named.
    (refused,) = [
        event["detail"]
        for event in restores.events
        if restore_key(event["detail"])[0:2] == (REFUSED_DELETE, restore.target_tick)
    ]
    left = {graph_id: imported_backups(ges, PROJECT, graph_id) for graph_id in ("movies", *SCRATCH_GRAPHS)}
    assert {
        graph_id: [backup["id"] for backup in backups] for graph_id, backups in left.items() if backups
    } == {REFUSED_DELETE: [refused["imported_backup_id"]]}
    assert refused["deleted"] is False
    assert all(
        event["detail"]["deleted"] for event in restores.events if event["detail-type"] == RESTORE_PASSED
    )
    assert function.take(RESTORE_DEAD_LETTERS) == []
    assert ges.faults_fired
    assert aws.faults_fired
