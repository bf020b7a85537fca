"""Exactly once, even when things die halfway: an export GES may have started is never sent to GES
again by a machine, `latest` means one backup for every retry of a request, and nothing ends only in a
result that no one reads.

Each test reproduces a way the promise broke, through the real handler over the stand-ins.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ges_backup_export.core.message_format import MAX_MESSAGE_BYTES, format_time, message_size
from ges_backup_export.export.deduplication import EXPORT_KEY_PREFIX
from local.aws_proxy import AwsFault, AwsProxy, on_queue
from local.fake_ges import FakeGes, Fault, exporting_to
from local.lambda_runtime import ROOT, invoke_once
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, Graphs, sample_event, wait_for
from tests.tokens import CANARY

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/once/"}
DEAD_LETTERS = "InputDeadLetterQueue"
ALWAYS = None


def posts_to(ges: FakeGes, request: dict[str, str]) -> int:
    return sum(1 for call in ges.export_calls if exporting_to(request["export_path"])(call))


# --- 1. an export whose outcome is unknown is remembered, never POSTed again -----------------------------


@pytest.mark.parametrize(
    ("fault", "timeout"),
    [(Fault.http(500), "10"), (Fault.slow(1.0), "0.3")],
    ids=["500", "no-answer-after-sending"],
)
def test_a_list_record_retried_for_its_transient_entry_never_posts_its_unknown_entry_again(
    function: Function,
    graphs: Graphs,
    ges: FakeGes,
    pauses: list[float],
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault,
    timeout: str,
) -> None:
    monkeypatch.setenv("GES_TIMEOUT_SECONDS", timeout)
    unknown = {**REQUEST, "export_path": "ges-backups/movies/a/"}
    transient = {**REQUEST, "export_path": "ges-backups/movies/b/"}
    ges.inject(fault, when=exporting_to(unknown["export_path"]))
    ges.inject(Fault.http(503), times=3, when=exporting_to(transient["export_path"]))
    function.send({"exports": [unknown, transient]})

    first = function.poller().poll_once()
    then = function.poller().drain()

    assert (first.failed, then.received) == (1, 1)  # retried for the transient entry
    assert posts_to(ges, unknown) == 1
    assert [message["export_path"] for message in function.downstream()] == [transient["export_path"]]
    (dead,) = function.take(DEAD_LETTERS)
    assert dead.attributes["error_code"] == "ExportOutcomeUnknown"
    assert dead.attributes["error_message"].startswith("exports[0]: ExportOutcomeUnknown: ")


def test_a_reason_with_characters_sqs_refuses_is_escaped_and_ges_is_asked_once(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    """SQS refuses a whole message for one such character in an attribute: unescaped, the record could
    never reach its dead-letter queue, and each redelivery POSTed the export again."""
    ges.inject(Fault(status=500, body={"error_code": "GES.7006", "error_msg": "engine\x00 fault \ufffe"}))
    function.send(REQUEST)

    function.poller().drain()

    (dead,) = function.take(DEAD_LETTERS)
    assert dead.attributes["error_code"] == "ExportOutcomeUnknown"
    assert "engine\\x00 fault \\ufffe" in dead.attributes["error_message"]
    assert posts_to(ges, REQUEST) == 1


def test_a_dead_letter_send_that_failed_is_retried_without_posting_again(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy
) -> None:
    dead_letters = function.stack.queue_urls[DEAD_LETTERS]
    aws.inject("sqs.SendMessage", AwsFault.error(503), times=ALWAYS, when=on_queue(dead_letters))
    ges.inject(Fault.http(504))
    function.send(REQUEST)

    first = function.poller().poll_once()
    aws.clear_faults()
    function.poller().drain()

    assert first.failed == 1
    (dead,) = function.take(DEAD_LETTERS)
    assert dead.attributes["error_code"] == "ExportOutcomeUnknown"
    assert posts_to(ges, REQUEST) == 1


def test_an_invocation_killed_after_its_post_left_leaves_the_export_unknown(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    """Lambda ends an invocation that times out or runs out of memory; its lock outlives it until its
    time is up, and then the export must count as unknown: the POST may have reached GES."""
    ges.inject(Fault.slow(2.0))  # GES takes its time to answer, and the invocation dies meanwhile
    process = multiprocessing.get_context("spawn").Process(target=invoke_once, args=(REQUEST, 120.0))
    process.start()
    wait_for(lambda: posts_to(ges, REQUEST) == 1, timeout=60)
    process.kill()
    process.join()
    wait_for(lambda: ges.jobs, timeout=10)  # GES did start it
    function.expire_locks()  # the dead invocation's time runs out

    error = function.invoke_failing(REQUEST)
    function.send(REQUEST)
    function.poller().drain()

    assert error.code == "ExportOutcomeUnknown"
    assert "ended (timed out or ran out of memory)" in error.message
    (dead,) = function.take(DEAD_LETTERS)
    assert dead.attributes["error_code"] == "ExportOutcomeUnknown"
    assert posts_to(ges, REQUEST) == 1
    assert function.downstream() == []


def test_expiring_a_lock_released_meanwhile_leaves_no_record_behind(function: Function) -> None:
    """The tests' stand-in for a killed invocation's time running out must not create a record without a
    status (an UpdateItem on a missing key creates one): Powertools cannot read such a record, and every
    later request for its key fails. The soak lost a completion event to one, whose announce lock the job
    tracker had released between the soak's scan and its update."""
    function.expire_lock(f"{EXPORT_KEY_PREFIX}#released-meanwhile")

    assert function.idempotency_records() == []


def test_a_body_too_large_to_dead_letter_with_its_whole_reason_keeps_what_fits(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    request = json.dumps(REQUEST)
    body = request[:-1] + " " * (MAX_MESSAGE_BYTES - len(request) - 100) + "}"  # valid, and 100 bytes short
    ges.inject(Fault.http(500))
    function.send(body)

    function.poller().drain()

    (dead,) = function.take(DEAD_LETTERS)
    assert dead.raw_body == body
    assert dead.attributes["error_code"] == "ExportOutcomeUnknown"
    assert dead.attributes["error_message"].endswith("...")
    assert message_size(dead.raw_body, dead.attributes) <= MAX_MESSAGE_BYTES
    assert posts_to(ges, REQUEST) == 1


@pytest.mark.parametrize("tracked", [False, True], ids=["without-tracker", "with-tracker"])
def test_an_unknown_export_costs_what_a_new_one_costs_and_a_duplicate_stays_one_request(
    function: Function,
    graphs: Graphs,
    ges: FakeGes,
    aws: AwsProxy,
    monkeypatch: pytest.MonkeyPatch,
    tracked: bool,
) -> None:
    """The record of the lock carries "the POST may have left": no marker item, no fourth request (the job
    tracker's message, when TRACKING_QUEUE_URL is set, is the one more)."""
    if not tracked:
        monkeypatch.setenv("TRACKING_QUEUE_URL", "")
    function.invoke({**REQUEST, "export_path": "ges-backups/movies/warm/"})  # the token is cached
    aws.reset_counts()
    function.invoke(REQUEST)
    new = dict(aws.requests)
    aws.reset_counts()
    function.invoke(REQUEST)
    duplicate = dict(aws.requests)
    aws.reset_counts()
    ges.inject(Fault.http(500))
    function.invoke_failing({**REQUEST, "export_path": "ges-backups/movies/unknown/"})
    unknown = dict(aws.requests)

    sends = 2 if tracked else 1
    assert new == {"dynamodb.PutItem": 1, "sqs.SendMessage": sends, "dynamodb.UpdateItem": 1}
    assert duplicate == {"dynamodb.PutItem": 1}
    assert unknown == {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1}


# --- 2. `latest` means the same backup for every retry of one request -----------------------------------


TICK = "2026-11-27T02:00:00Z"
TICK_MS = 1_795_744_800_000


def test_a_retry_after_a_failed_send_exports_the_backup_latest_meant_the_first_time(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy
) -> None:
    tick = {"graph_id": "movies", "backup_id": "latest", "export_path": "b-1/pinned/", "scheduled_time": TICK}
    downstream = function.stack.queue_urls["DownstreamQueue"]
    aws.inject("sqs.SendMessage", AwsFault.error(503), times=ALWAYS, when=on_queue(downstream))
    assert function.invoke_failing(tick).code == "DeliveryFailed"
    aws.clear_faults()
    # Meanwhile a backup that was running at the tick has finished: newer, but not there at the tick.
    ges.add_backup(PROJECT, "movies", start_timestamp=TICK_MS - 1_800_000, end_timestamp=TICK_MS + 1_800_000)

    retried = function.invoke(tick)

    assert retried["backup_id"] == graphs.movies_latest
    assert len(ges.export_calls) == 1
    assert function.downstream() == [retried]


def test_latest_with_no_backup_finished_by_the_request_s_time_is_refused_naming_the_time(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    early = {"graph_id": "movies", "backup_id": "latest", "export_path": "b-1/early/"}

    error = function.invoke_failing({**early, "scheduled_time": "2026-11-01T00:00:00Z"})

    assert error.code == "InvalidRequest"
    assert error.message.startswith("backup_id: latest: ")
    assert "finished at or before the request's time, 2026-11-01T00:00:00Z" in error.message
    assert ges.export_calls == []


def test_latest_pinned_to_a_time_that_has_not_come_is_refused_so_a_retry_cannot_pick_a_newer_backup(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    """A tick an hour ahead would let `latest` resolve, on a retry after an unknown outcome, to a backup
    finished meanwhile, and POST that second export: refused before any GES call, naming the field."""
    ahead = format_time(datetime.now(UTC) + timedelta(hours=1))
    request = {
        "graph_id": "movies",
        "backup_id": "latest",
        "export_path": "b-1/{date}/",
        "scheduled_time": ahead,
    }

    error = function.invoke_failing(request)
    function.send(request)
    function.poller().drain()

    assert error.code == "InvalidRequest"
    assert error.message.startswith(f"scheduled_time: {ahead} is more than 5 minutes after")
    (dead,) = function.take(DEAD_LETTERS)
    assert dead.attributes["error_message"].startswith("scheduled_time: ")
    assert ges.calls == []


# --- 4. the token at DEBUG, under the Lambda runtime's logging ------------------------------------------


RUNTIME_LOGGING = """
    import logging, sys
    # What the Lambda Python runtime does before it imports a handler: the root logger at the function's
    # level (AWS_LAMBDA_LOG_LEVEL), with a handler that writes every record.
    logging.basicConfig(
        stream=sys.stdout, level=logging.DEBUG, format="%(levelname)s %(name)s %(message)s", force=True
    )
    logging.getLogger("probe").debug("debug lines are written")
    from local.lambda_runtime import LocalContext, load_handler
    handler = load_handler()
    request = {request}
    print(handler(request, LocalContext()))
    print(handler({{**request, "export_path": "ges-backups/movies/debug-2/"}}, LocalContext()))
"""


def test_no_token_reaches_the_logs_at_debug_under_the_runtime_s_logging(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    ges.inject(Fault.http(401))  # the secret is read a second time, bypassing the cache
    request = {**REQUEST, "export_path": "ges-backups/movies/debug-1/"}
    script = textwrap.dedent(RUNTIME_LOGGING).format(request=repr(request))

    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )

    output = run.stdout + run.stderr
    assert run.returncode == 0, output.replace(CANARY, "<token>")
    assert output.count("'job_id'") == 2
    assert "DEBUG probe debug lines are written" in output
    assert CANARY not in output, "a GES token reached the logs"


# --- 5. time limits that hold --------------------------------------------------------------------------


def test_an_answer_that_trickles_in_is_cut_at_the_timeout_and_the_export_is_unknown(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests' timeout applies per socket read: an answer sent a byte at a time used to keep the
    function waiting far past GES_TIMEOUT_SECONDS (and past its own deadline)."""
    monkeypatch.setenv("GES_TIMEOUT_SECONDS", "1")
    ges.inject(Fault.trickle(0.05))  # the whole answer would take about 12 s

    started = time.monotonic()
    error = function.invoke_failing(REQUEST)
    waited = time.monotonic() - started

    assert error.code == "ExportOutcomeUnknown"
    assert "no complete answer within 1s" in error.message
    assert waited < 6, "the attempt outlived its budget"
    assert posts_to(ges, REQUEST) == 1


# --- 6. a batch whose every record failed ----------------------------------------------------------------


def test_a_batch_whose_every_record_failed_is_answered_with_its_failures_not_raised(
    function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float]
) -> None:
    event: dict[str, Any] = sample_event("sqs_batch.json")
    ges.inject(Fault.http(503), times=100)

    result = function.invoke(event)

    assert result == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
