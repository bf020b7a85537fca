"""The job tracker (functions/track_export): every started export's GES job followed to its end, and one
completion event for it, through both real handlers over moto and the fake GES.

The export function hands each new export to the tracker (tests/integration/tracker/test_tracking_handoff.py);
here the tracker checks the job (pending, running, success, failed, unknown to GES, past the timeout,
undocumented statuses, every GES failure), carries its state in the tracking message, dead-letters what it
cannot read, and puts exactly one event per job, whatever fails or is delivered twice. Jobs are checked
without waiting (JOB_POLL_INTERVAL_SECONDS=0): the tests assert what happens, never how long it takes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from ges_backup_export.core.errors import ConfigurationError
from ges_backup_export.core.message_format import EVENT_SOURCE, FAILED, SUCCEEDED, TIMED_OUT, format_time
from ges_backup_export.core.times import parse_time
from local.aws_proxy import AwsFault, AwsProxy, on_queue
from local.fake_ges import FakeGes, Fault
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, Graphs
from tests.tokens import CANARY, canary_token
from tests.tracker_stand_ins import CaughtEvent, Tracker, metric_values, sqs_record

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/tracked/"}
STEPS = ("pending", "running", "success")
HOUR = timedelta(hours=1)


def request(name: str, **changes: str) -> dict[str, str]:
    return {**REQUEST, "export_path": f"ges-backups/movies/{name}/", **changes}


def tracking_body(
    job_id: str, *, requested_at: datetime | None = None, started_at: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    """A tracking message as the export function sends it (the downstream message and when GES accepted
    the export: by default when it was requested), with `extra`."""
    requested_at = requested_at or datetime.now(UTC)
    return {
        "job_id": job_id,
        "project_id": PROJECT,
        "graph_id": "movies",
        "backup_id": MOVIES_BACKUP,
        "export_path": f"ges-backups/movies/{job_id}/",
        "trigger": "queue",
        "requested_at": format_time(requested_at),
        "started_at": format_time(started_at or requested_at),
        **extra,
    }


def accepted_long_ago(tracker: Tracker, job_id: str, ago: timedelta = 2 * HOUR) -> None:
    """The tracking messages waiting on the queue, sent again, `job_id`'s as if GES had accepted its
    export `ago` (its started_at moved back)."""
    for body in tracker.tracking_messages():
        if body["job_id"] == job_id:
            body["started_at"] = format_time(parse_time(body["started_at"]) - ago)
        tracker.send(body)


def expected(message: dict[str, Any], event: CaughtEvent, status: str, **found: str) -> dict[str, Any]:
    """The exact detail an event must have: the downstream message, the status, what GES gave, and
    checked_at (a UTC time, taken from the event)."""
    parse_time(event.detail["checked_at"])
    assert event.detail["checked_at"].endswith("Z")
    return {**message, "status": status, **found, "checked_at": event.detail["checked_at"]}


def job_times(ges: FakeGes, job_id: str) -> dict[str, str]:
    """begin_time and end_time (when given) as GES gives them for the job."""
    job = ges.jobs[job_id]
    return {key: job[key] for key in ("begin_time", "end_time") if job.get(key)}


def rechecks(aws: AwsProxy, tracker: Tracker) -> list[dict[str, Any]]:
    """The tracking messages the tracker sent to check a job again (they carry `checks`), with their
    DelaySeconds (0 when none was asked)."""
    sent = [p for p in aws.parameters_of("sqs.SendMessage") if on_queue(tracker.queue_url)(p)]
    found = [{**json.loads(p["MessageBody"]), "delay": int(p.get("DelaySeconds", 0))} for p in sent]
    return [body for body in found if "checks" in body]


def events_by_job(tracker: Tracker) -> dict[str, list[CaughtEvent]]:
    found: dict[str, list[CaughtEvent]] = {}
    for event in tracker.events():
        found.setdefault(event.detail["job_id"], []).append(event)
    return found


# --- 1. a job followed to its end -------------------------------------------------------------------------


def test_a_job_is_followed_through_pending_and_running_to_one_succeeded_event(
    function: Function, graphs: Graphs, tracker: Tracker, ges: FakeGes, aws: AwsProxy
) -> None:
    ges.job_script = STEPS
    message = function.invoke(REQUEST)
    aws.reset_counts()

    handled = tracker.drain()

    (event,) = tracker.events()
    job_id = message["job_id"]
    assert (event.source, event.detail_type) == (EVENT_SOURCE, SUCCEEDED)
    assert event.detail == expected(message, event, "success", **job_times(ges, job_id))
    assert "fail_reason" not in event.detail
    assert ges.status_calls(job_id) == 3
    assert (handled.received, handled.failed) == (3, 0)  # the message handed over, then two re-checks
    # The state travels in the message: the check count and GES's last status, never in an event.
    assert [(body["checks"], body["last_status"]) for body in rechecks(aws, tracker)] == [
        (1, "pending"),
        (2, "running"),
    ]
    assert aws.requests["events.PutEvents"] == 1


def test_a_failed_job_ends_with_one_failed_event_carrying_ges_s_reason(
    function: Function, graphs: Graphs, tracker: Tracker, ges: FakeGes
) -> None:
    message = function.invoke(REQUEST)
    job_id = message["job_id"]
    ges.script_job(job_id, ["running", "failed"], fail_reason="OBS bucket ges-backups is not reachable.")

    tracker.drain()

    (event,) = tracker.events()
    assert event.detail_type == FAILED
    assert event.detail == expected(
        message,
        event,
        "failed",
        **job_times(ges, job_id),
        fail_reason="OBS bucket ges-backups is not reachable.",
    )


@pytest.mark.parametrize(
    ("reason", "fail_reason"),
    [
        ("2 of 7 files were not written to OBS.", "2 of 7 files were not written to OBS."),
        ("", "GES says the job partially failed, without a reason: part of the backup is missing"),
    ],
    ids=["ges-reason", "no-reason"],
)
def test_a_partially_failed_job_ends_with_one_failed_event_carrying_ges_s_status(
    tracker: Tracker,
    ges: FakeGes,
    emitted_metrics: Callable[[], list[dict[str, Any]]],
    reason: str,
    fail_reason: str,
) -> None:
    """`partiallyFailed` (Huawei's job-status page lists it) is an end, not a job still going: a backup
    that partly landed has not landed."""
    job_id = ges.add_job(PROJECT, "movies", script=["running", "success"])
    times = {"begin_time": "2026-11-27T02:00:00", "end_time": "2026-11-27T02:01:30"}
    ges.inject(
        finished("partiallyFailed", *times.values(), fail_reason=reason),
        route="job_status",
        when=lambda call: job_id in call.path,
    )
    body = tracking_body(job_id)
    tracker.send(body)

    handled = tracker.drain()

    (event,) = tracker.events()
    message = {key: value for key, value in body.items() if key != "started_at"}
    assert event.detail_type == FAILED
    assert event.detail == expected(message, event, "partiallyFailed", **times, fail_reason=fail_reason)
    assert handled.received == 1  # ended at the first check, not checked again
    documents = emitted_metrics()
    assert sum(metric_values(documents, "ExportJobsFailed")) == 1
    assert sum(metric_values(documents, "ExportJobsSucceeded")) == 0
    assert metric_values(documents, "ExportJobSeconds") == [90.0]


@pytest.mark.parametrize("code", ["GES.7007", "GES.8301"], ids=["GES.7007", "older-spelling"])
def test_a_job_ges_does_not_know_ends_with_one_failed_event_saying_so(
    function: Function, graphs: Graphs, tracker: Tracker, ges: FakeGes, code: str
) -> None:
    message = function.invoke(REQUEST)
    job_id = message["job_id"]
    if code == "GES.7007":
        ges.forget_job(job_id)  # the fake answers GES.7007 for it
    else:
        ges.inject(Fault.ges_error(400, code, "The job does not exist."), route="job_status")

    tracker.drain()

    (event,) = tracker.events()
    assert event.detail_type == FAILED
    reason = f"GES does not know job {job_id} ({code}: The job does not exist.)"
    assert event.detail == expected(message, event, "unknown", fail_reason=reason)


def test_a_job_still_running_past_the_timeout_ends_with_one_timed_out_event(
    function: Function, graphs: Graphs, tracker: Tracker, ges: FakeGes
) -> None:
    """The timeout counts from `started_at`, when GES accepted the export: two hours ago, a timeout of one
    hour."""
    tracker.environment["JOB_TRACKING_TIMEOUT_SECONDS"] = "3600"
    ges.job_script = ("running",)
    message = function.invoke(request("late"))
    accepted_long_ago(tracker, message["job_id"])

    tracker.drain()

    (event,) = tracker.events()
    assert event.detail_type == TIMED_OUT
    assert event.detail == expected(message, event, "running", **job_times(ges, message["job_id"]))
    assert "end_time" not in event.detail


def test_a_job_within_the_timeout_is_checked_again_not_timed_out(
    tracker: Tracker, ges: FakeGes, aws: AwsProxy
) -> None:
    tracker.environment["JOB_TRACKING_TIMEOUT_SECONDS"] = "3600"
    job_id = ges.add_job(PROJECT, "movies", script=["running"])
    body = tracking_body(job_id, requested_at=datetime.now(UTC) - HOUR / 2, checks=5)

    assert tracker.invoke({"Records": [sqs_record(json.dumps(body))]}) == {"batchItemFailures": []}

    assert tracker.events() == []
    assert [(sent["checks"], sent["last_status"]) for sent in rechecks(aws, tracker)] == [(6, "running")]


def test_a_redriven_request_s_job_is_checked_again_not_timed_out_at_its_first_check(
    function: Function, graphs: Graphs, tracker: Tracker, ges: FakeGes, aws: AwsProxy
) -> None:
    """A request redriven two days after it was first asked for keeps its requested_at, but GES accepted
    its export just now: the job is new, and still running at its first check."""
    tracker.environment["JOB_TRACKING_TIMEOUT_SECONDS"] = "3600"
    ges.job_script = ("running", "success")
    asked = datetime.now(UTC) - timedelta(days=2)
    before = format_time(datetime.now(UTC))
    message = function.invoke(request("redriven", scheduled_time=format_time(asked)))

    first = tracker.poller().poll_once()

    assert (first.received, first.failed) == (1, 0)
    assert tracker.events() == []
    (recheck,) = rechecks(aws, tracker)
    assert (recheck["checks"], recheck["last_status"]) == (1, "running")
    assert before <= recheck["started_at"] <= format_time(datetime.now(UTC))
    tracker.drain()
    (event,) = tracker.events()
    assert (event.detail_type, event.detail["job_id"]) == (SUCCEEDED, message["job_id"])
    assert event.detail == expected(message, event, "success", **job_times(ges, message["job_id"]))


def test_a_tracking_message_without_started_at_counts_from_its_first_check(
    tracker: Tracker, ges: FakeGes, aws: AwsProxy
) -> None:
    """A message an older version sent (still in flight during an upgrade): its requested_at is two days
    old, yet its job is checked again, and the next check carries the first check's time as started_at."""
    tracker.environment["JOB_TRACKING_TIMEOUT_SECONDS"] = "3600"
    job_id = ges.add_job(PROJECT, "movies", script=["running", "running", "success"])
    body = tracking_body(job_id, requested_at=datetime.now(UTC) - timedelta(days=2))
    del body["started_at"]
    before = format_time(datetime.now(UTC))
    tracker.send(body)

    tracker.drain()

    (event,) = tracker.events()
    assert event.detail_type == SUCCEEDED
    assert event.detail == expected(body, event, "success", **job_times(ges, job_id))
    first, second = rechecks(aws, tracker)
    assert before <= first["started_at"] <= format_time(datetime.now(UTC))
    assert second["started_at"] == first["started_at"]  # kept from check to check


def test_past_the_timeout_without_an_answer_the_last_status_ges_gave_is_the_event_s(
    tracker: Tracker, ges: FakeGes
) -> None:
    """The status carried in the message from an earlier check is what a timed-out event says when GES
    does not answer at the last one."""
    tracker.environment["JOB_TRACKING_TIMEOUT_SECONDS"] = "3600"
    job_id = ges.add_job(PROJECT, "movies", script=["running"])
    body = tracking_body(job_id, requested_at=datetime.now(UTC) - 2 * HOUR, checks=9, last_status="running")
    ges.inject(Fault.http(503), route="job_status", times=3)
    tracker.send(body)

    tracker.drain()

    (event,) = tracker.events()
    message = {
        key: value for key, value in body.items() if key not in ("checks", "last_status", "started_at")
    }
    assert event.detail_type == TIMED_OUT
    assert event.detail == expected(message, event, "running")


# --- 2. the growing delay ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("checks", "delay"), [(0, 5), (1, 10), (2, 20), (7, 640), (8, 900), (60, 900)])
def test_a_job_not_ended_is_checked_again_with_a_growing_delay_of_at_most_900_seconds(
    tracker: Tracker, ges: FakeGes, aws: AwsProxy, checks: int, delay: int
) -> None:
    """The first check waits JOB_POLL_INTERVAL_SECONDS (the export function's DelaySeconds); each later
    one twice as long as the one before, up to SQS's longest delay."""
    tracker.environment["JOB_POLL_INTERVAL_SECONDS"] = "5"
    job_id = ges.add_job(PROJECT, "movies", script=["running"])
    body = tracking_body(job_id, checks=checks, last_status="pending")

    tracker.invoke({"Records": [sqs_record(json.dumps(body))]})

    (sent,) = rechecks(aws, tracker)
    assert sent == {**body, "checks": checks + 1, "last_status": "running", "delay": delay}


# --- 3. what GES answers ----------------------------------------------------------------------------------


def test_a_status_ges_never_documented_counts_as_running_and_is_logged(
    function: Function,
    graphs: Graphs,
    tracker: Tracker,
    ges: FakeGes,
    aws: AwsProxy,
    function_logs: Any,
) -> None:
    ges.job_script = ("exporting", "success")
    message = function.invoke(REQUEST)

    tracker.drain()

    (event,) = tracker.events()
    assert event.detail_type == SUCCEEDED
    assert [sent["last_status"] for sent in rechecks(aws, tracker)] == ["exporting"]
    (warning,) = [line for line in function_logs() if "never documented" in line["message"]]
    assert (warning["level"], warning["status"], warning["job_id"]) == (
        "WARNING",
        "exporting",
        message["job_id"],
    )


def test_a_status_ges_never_documented_until_the_timeout_ends_timed_out_with_it(
    tracker: Tracker, ges: FakeGes
) -> None:
    tracker.environment["JOB_TRACKING_TIMEOUT_SECONDS"] = "3600"
    job_id = ges.add_job(PROJECT, "movies", script=["queued"])
    tracker.send(tracking_body(job_id, requested_at=datetime.now(UTC) - 2 * HOUR))

    tracker.drain()

    (event,) = tracker.events()
    assert (event.detail_type, event.detail["status"]) == (TIMED_OUT, "queued")


def test_an_undocumented_status_is_carried_cut_to_a_bounded_length(
    tracker: Tracker, ges: FakeGes, aws: AwsProxy
) -> None:
    job_id = ges.add_job(PROJECT, "movies", script=["exporting-" + "x" * 5000])

    tracker.invoke({"Records": [sqs_record(json.dumps(tracking_body(job_id)))]})

    (sent,) = rechecks(aws, tracker)
    assert sent["last_status"] == ("exporting-" + "x" * 5000)[:64]


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http(429, 0),
        Fault.http(502),
        Fault.http(503),
        Fault.http(500),
        Fault.http(504),
        Fault.dropped(),
        Fault.slow(1.0),
    ],
    ids=["429", "502", "503", "500", "504", "connection-dropped", "no-answer-in-time"],
)
def test_a_status_read_ges_cannot_answer_now_is_retried_then_checked_again_later(
    function: Function,
    graphs: Graphs,
    tracker: Tracker,
    ges: FakeGes,
    aws: AwsProxy,
    fault: Fault,
) -> None:
    """A status read is safe to repeat: 500 and 504 too are retried (unlike an export), within
    GES_MAX_ATTEMPTS; when every attempt fails, the job is checked again later, not given up."""
    tracker.environment["GES_TIMEOUT_SECONDS"] = "0.3"
    attempts = int(tracker.environment["GES_MAX_ATTEMPTS"])
    ges.inject(fault, route="job_status", times=attempts)
    message = function.invoke(REQUEST)

    handled = tracker.drain()

    (event,) = tracker.events()
    assert event.detail_type == SUCCEEDED
    status_reads = [call for call in ges.calls if call.path.endswith("/status")]
    assert len(status_reads) == attempts + 1
    assert event.detail["job_id"] == message["job_id"]
    assert len(tracker.pauses) == attempts - 1  # waits between the attempts of the first check
    assert [(sent["checks"], "last_status" in sent) for sent in rechecks(aws, tracker)] == [(1, False)]
    assert handled.failed == 0


def test_a_status_read_with_a_token_ges_rejects_reads_the_secret_again_once(
    function: Function, graphs: Graphs, tracker: Tracker, ges: FakeGes, aws: AwsProxy
) -> None:
    tracker.send(tracking_body(ges.add_job(PROJECT, "movies")))
    tracker.drain()  # the tracker's token is cached now
    tracker.events()
    message = function.invoke(REQUEST)
    new_token = ges.rotate_token(canary_token())
    boto3.client("secretsmanager").put_secret_value(SecretId=tracker.stack.secret_arn, SecretString=new_token)
    aws.reset_counts()

    tracker.drain()

    (event,) = tracker.events()
    assert (event.detail_type, event.detail["job_id"]) == (SUCCEEDED, message["job_id"])
    assert [call.status for call in ges.calls if call.path.endswith("/status")][-2:] == [401, 200]
    assert aws.requests["secretsmanager.GetSecretValue"] == 1
    assert rechecks(aws, tracker) == []  # the same check, not a later one


def test_a_token_rejected_again_after_the_reread_is_checked_again_later_not_failed(
    function: Function, graphs: Graphs, tracker: Tracker, ges: FakeGes
) -> None:
    message = function.invoke(REQUEST)
    new_token = ges.rotate_token(canary_token())  # the secret still holds the old one

    first = tracker.poller().poll_once()

    assert (first.received, first.failed) == (1, 0)
    assert tracker.events() == []
    boto3.client("secretsmanager").put_secret_value(SecretId=tracker.stack.secret_arn, SecretString=new_token)
    tracker.drain()
    (event,) = tracker.events()
    assert (event.detail_type, event.detail["job_id"]) == (SUCCEEDED, message["job_id"])


def test_another_refusal_of_the_status_read_is_logged_and_checked_again_later(
    function: Function, graphs: Graphs, tracker: Tracker, ges: FakeGes, function_logs: Any
) -> None:
    ges.inject(Fault.ges_error(403, "GES.0016", "Resource not found"), route="job_status")
    function.invoke(REQUEST)

    tracker.drain()

    (event,) = tracker.events()
    assert event.detail_type == SUCCEEDED
    (error,) = [line for line in function_logs() if line["level"] == "ERROR"]
    assert "GES.0016" in error["error"]


# --- 4. tracking messages that cannot be read -------------------------------------------------------------


def bad_bodies() -> list[tuple[str, str]]:
    good = tracking_body("5b1f0d7c9e2a4f6b8d0c1e3a5f7b9d2e")
    missing = {key: value for key, value in good.items() if key != "export_path"}
    return [
        ("{not json", "body: is not valid JSON (JSONDecodeError)"),
        ("[1, 2]", "body: must be a JSON object, got an array"),
        (json.dumps(missing), "export_path: is required, a non-empty string"),
        (json.dumps({**good, "job_id": ""}), "job_id: is required, a non-empty string"),
        (json.dumps({**good, "trigger": None}), "trigger: is required, a non-empty string"),
        (json.dumps({**good, "graph_id": "../movies"}), "graph_id: must be 1 to 64 letters"),
        (json.dumps({**good, "requested_at": "2026-11-27T02:00:00"}), "requested_at: must carry its UTC"),
        (json.dumps({**good, "started_at": "2026-11-27T02:00:00"}), "started_at: must carry its UTC"),
        (json.dumps({**good, "started_at": 7}), "started_at: must be an ISO-8601 time string"),
        (json.dumps({**good, "checks": -1}), "checks: must be a whole number, at least 0"),
        (json.dumps({**good, "checks": True}), "checks: must be a whole number, at least 0"),
        (json.dumps({**good, "last_status": 7}), "last_status: must be a string of at most 64"),
    ]


@pytest.mark.parametrize(("body", "reason"), bad_bodies())
def test_a_tracking_message_that_cannot_be_read_is_dead_lettered_with_its_reason_at_once(
    tracker: Tracker, ges: FakeGes, body: str, reason: str
) -> None:
    tracker.send(body)

    handled = tracker.drain()

    assert (handled.received, handled.failed) == (1, 0)  # acknowledged, never retried
    (dead,) = tracker.dead_letters()
    assert dead.raw_body == body
    assert dead.attributes["error_code"] == "InvalidRequest"
    assert dead.attributes["error_message"].startswith(reason)
    assert ges.calls == []
    assert tracker.events() == []


def test_without_a_dead_letter_queue_an_unreadable_message_is_left_to_the_redrive_policy(
    tracker: Tracker, ges: FakeGes
) -> None:
    tracker.environment["DEAD_LETTER_QUEUE_URL"] = ""
    tracker.send("{not json")

    handled = tracker.drain()

    max_receives = int(tracker.stack.parameters["MaxReceiveCount"])
    assert (handled.received, handled.failed) == (max_receives, max_receives)
    (dead,) = tracker.dead_letters()  # moved there by SQS, as the template's redrive policy says
    assert dead.raw_body == "{not json"
    assert ges.calls == []


def test_a_fifo_tracking_queue_is_a_configuration_error_naming_it_and_nothing_is_checked(
    tracker: Tracker, ges: FakeGes
) -> None:
    """Each re-check would reuse the first message's deduplication id and SQS would drop it, so a job
    still running at its first check would never be announced: refused before any GES call."""
    job_id = ges.add_job(PROJECT, "movies", script=["running"])
    tracker.environment["TRACKING_QUEUE_URL"] = tracker.queue_url + ".fifo"

    with pytest.raises(ConfigurationError) as refused:
        tracker.invoke({"Records": [sqs_record(json.dumps(tracking_body(job_id)))]})

    assert str(refused.value).startswith(
        "ConfigurationError: TRACKING_QUEUE_URL must be a standard SQS queue"
    )
    assert ges.calls == []
    assert tracker.events() == []


# --- 5. putting the event ---------------------------------------------------------------------------------

REFUSED_ENTRY = {
    "FailedEntryCount": 1,
    "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "injected refusal"}],
}


@pytest.mark.parametrize(
    ("fault", "times"),
    [
        (AwsFault.error(500, "InternalException"), 1),
        (AwsFault.error(400, "ThrottlingException"), 2),
        (AwsFault.answer(REFUSED_ENTRY), 1),
        (AwsFault.answer(REFUSED_ENTRY), 3),
    ],
    ids=["call-fails", "throttled-twice", "entry-refused", "entry-refused-three-times"],
)
def test_a_failed_put_retries_the_message_and_the_event_is_put_exactly_once(
    function: Function,
    graphs: Graphs,
    tracker: Tracker,
    ges: FakeGes,
    aws: AwsProxy,
    fault: AwsFault,
    times: int,
) -> None:
    """The whole call, or one entry EventBridge refused (FailedEntryCount): the record is reported failed,
    SQS delivers it again, and the job is announced once. The SDK never repeats a put by itself."""
    message = function.invoke(REQUEST)
    aws.inject("events.PutEvents", fault, times=times)
    aws.reset_counts()

    handled = tracker.drain()

    (event,) = tracker.events()
    assert (event.detail_type, event.detail["job_id"]) == (SUCCEEDED, message["job_id"])
    assert (handled.received, handled.failed) == (times + 1, times)
    assert aws.requests["events.PutEvents"] == times + 1
    assert tracker.dead_letters() == []


def test_a_put_that_got_no_answer_is_retried_with_the_message_and_said_to_maybe_announce_twice(
    function: Function, graphs: Graphs, tracker: Tracker, aws: AwsProxy, function_logs: Any
) -> None:
    """EventBridge has no idempotency key: a put sent whose answer never came may have put the event. The
    SDK does not repeat it behind the tracker's back; the message is retried, and a WARNING names the job
    that may be announced twice. (Here the proxy dropped the connection before moto saw the put.)"""
    message = function.invoke(REQUEST)
    aws.inject("events.PutEvents", AwsFault.dropped())
    aws.reset_counts()

    handled = tracker.drain()

    (event,) = tracker.events()
    assert event.detail["job_id"] == message["job_id"]
    assert (handled.received, handled.failed) == (2, 1)
    assert aws.requests["events.PutEvents"] == 2
    (warning,) = [line for line in function_logs() if "gave no answer to the put" in line["message"]]
    assert (warning["level"], warning["job_id"]) == ("WARNING", message["job_id"])


def test_when_the_announcement_cannot_be_recorded_after_the_put_the_message_is_still_done(
    function: Function, graphs: Graphs, tracker: Tracker, aws: AwsProxy, function_logs: Any
) -> None:
    """Raising would have the message retried and the event put twice: the put stands, and is logged."""
    message = function.invoke(REQUEST)
    aws.inject(
        "dynamodb.UpdateItem",
        AwsFault.error(500, "InternalServerError"),
        times=2,
        when=lambda parameters: ":announce#" in json.dumps(parameters.get("Key")),
    )

    handled = tracker.drain()

    assert (handled.received, handled.failed) == (1, 0)
    (event,) = tracker.events()
    assert event.detail["job_id"] == message["job_id"]
    assert any("was not completed after its work was done" in line["message"] for line in function_logs())


# --- 6. exactly one event per job -------------------------------------------------------------------------


def test_a_tracking_message_delivered_twice_announces_its_job_once(
    tracker: Tracker, ges: FakeGes, aws: AwsProxy
) -> None:
    job_id = ges.add_job(PROJECT, "movies", script=STEPS)
    body = tracking_body(job_id)
    tracker.send(body)
    tracker.send(body)

    tracker.drain()

    (event,) = tracker.events()
    assert event.detail["job_id"] == job_id
    assert aws.requests["events.PutEvents"] == 1


def test_a_message_whose_event_was_put_but_which_was_not_deleted_announces_nothing_again(
    function: Function, graphs: Graphs, tracker: Tracker, ges: FakeGes, aws: AwsProxy
) -> None:
    message = function.invoke(REQUEST)
    delivered = tracker.receive_without_deleting()
    assert tracker.invoke(delivered) == {"batchItemFailures": []}
    assert len(tracker.events()) == 1

    again = tracker.drain()  # the same message, delivered again

    assert again.received == 1
    assert tracker.events() == []
    assert aws.requests["events.PutEvents"] == 1
    assert ges.status_calls(message["job_id"]) == 2


def test_a_job_already_announced_is_not_announced_again_however_it_ended_since(
    tracker: Tracker, ges: FakeGes
) -> None:
    """A late copy of a tracking message finds the job forgotten by GES: the job was announced, so no
    second (failed) event."""
    job_id = ges.add_job(PROJECT, "movies")
    tracker.send(tracking_body(job_id))
    tracker.drain()
    ges.forget_job(job_id)
    tracker.send(tracking_body(job_id, checks=3))

    tracker.drain()

    assert [event.detail_type for event in tracker.events()] == [SUCCEEDED]


# --- 7. metrics and the token -----------------------------------------------------------------------------


def finished(status: str, begin: str, end: str, **extra: str) -> Fault:
    """GES's answer for an ended job, with the times given."""
    return Fault(status=200, body={"status": status, "begin_time": begin, "end_time": end, **extra})


def test_the_tracker_counts_each_job_once_by_how_it_ended_and_how_long_ges_took(
    tracker: Tracker, ges: FakeGes, emitted_metrics: Callable[[], list[dict[str, Any]]]
) -> None:
    tracker.environment["JOB_TRACKING_TIMEOUT_SECONDS"] = "3600"
    succeeded, failed, late = (ges.add_job(PROJECT, "movies", script=["running"]) for _ in range(3))
    ges.inject(
        finished("success", "2026-11-27T02:00:05", "2026-11-27T02:07:35"),
        route="job_status",
        times=2,
        when=lambda call: succeeded in call.path,
    )
    ges.inject(
        finished("failed", "2026-11-27T03:00:00", "2026-11-27T03:00:42", fail_reason="OBS refused"),
        route="job_status",
        when=lambda call: failed in call.path,
    )
    for job_id in (succeeded, failed, succeeded):  # the first one twice
        tracker.send(tracking_body(job_id))
    tracker.send(tracking_body(late, requested_at=datetime.now(UTC) - 2 * HOUR))

    tracker.drain()

    documents = emitted_metrics()
    assert documents
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert (directive["Namespace"], directive["Dimensions"]) == ("GesBackupExport", [["service"]])
        names = {metric["Name"] for metric in directive["Metrics"]}
        assert set(document) == {"_aws", "service", *names}
        assert document["service"] == "ges-backup-export"
    counts = {
        name: sum(metric_values(documents, name))
        for name in ("ExportJobsSucceeded", "ExportJobsFailed", "ExportJobsTimedOut")
    }
    assert counts == {"ExportJobsSucceeded": 1, "ExportJobsFailed": 1, "ExportJobsTimedOut": 1}
    assert sorted(metric_values(documents, "ExportJobSeconds")) == [42.0, 450.0]  # end - begin
    assert CANARY not in json.dumps(documents)
    assert Counter(event.detail_type for event in tracker.events()) == {SUCCEEDED: 1, FAILED: 1, TIMED_OUT: 1}


@pytest.mark.parametrize(
    ("begin", "end"),
    [
        ("2026-11-27T02:00:05", "2026-11-27T02:07:35"),
        ("2026-11-27 02:00:05", "2026-11-27 02:07:35"),
        ("2026-11-27 02:00:05", "2026-11-27T02:07:35"),
    ],
    ids=["T", "space", "mixed"],
)
def test_how_long_a_job_took_is_counted_whichever_way_ges_writes_its_times(
    tracker: Tracker, ges: FakeGes, emitted_metrics: Callable[[], list[dict[str, Any]]], begin: str, end: str
) -> None:
    """GES writes begin_time and end_time as yyyy-MM-ddTHH:mm:ss (the SDK, the Chinese pages) or
    yyyy-MM-dd HH:mm:ss (the current English page): both are read; the event keeps GES's spelling."""
    job_id = ges.add_job(PROJECT, "movies")
    ges.inject(finished("success", begin, end), route="job_status", when=lambda call: job_id in call.path)
    tracker.send(tracking_body(job_id))

    tracker.drain()

    (event,) = tracker.events()
    assert (event.detail["begin_time"], event.detail["end_time"]) == (begin, end)
    assert metric_values(emitted_metrics(), "ExportJobSeconds") == [450.0]


@pytest.mark.parametrize("style", ["T", "space"])
def test_the_fake_ges_writes_job_times_either_way_and_the_tracker_reads_both(
    function: Function,
    graphs: Graphs,
    tracker: Tracker,
    ges: FakeGes,
    emitted_metrics: Callable[[], list[dict[str, Any]]],
    style: str,
) -> None:
    ges.job_time_style = style
    ges.job_script = STEPS
    message = function.invoke(REQUEST)

    tracker.drain()

    (event,) = tracker.events()
    times = job_times(ges, message["job_id"])
    assert event.detail == expected(message, event, "success", **times)
    separator = "T" if style == "T" else " "
    assert all(value[10] == separator for value in times.values())
    begin, end = (datetime.fromisoformat(times[key]) for key in ("begin_time", "end_time"))
    assert metric_values(emitted_metrics(), "ExportJobSeconds") == [(end - begin).total_seconds()]
    ges.reset()
    assert ges.job_time_style == "T"


def test_the_token_appears_in_no_event_metric_or_log_line(
    function: Function,
    graphs: Graphs,
    tracker: Tracker,
    ges: FakeGes,
    function_logs: Any,
    emitted_metrics: Callable[[], list[dict[str, Any]]],
) -> None:
    """The token is a canary: any slice of it in anything captured fails the suite (tests/conftest.py);
    here a rejected token, a re-read, a refusal and every kind of event, all at DEBUG."""
    tracker.environment["JOB_TRACKING_TIMEOUT_SECONDS"] = "3600"
    ok = function.invoke(request("ok"))
    failed = function.invoke(request("failed"))
    unknown = function.invoke(request("unknown"))
    late = function.invoke(request("late"))
    accepted_long_ago(tracker, late["job_id"])
    ges.script_job(failed["job_id"], ["failed"], fail_reason="OBS said no")
    ges.forget_job(unknown["job_id"])
    ges.script_job(late["job_id"], ["running"])
    ges.inject(Fault.ges_error(403, "GES.0016", "Resource not found"), route="job_status")
    new_token = ges.rotate_token(canary_token())
    boto3.client("secretsmanager").put_secret_value(SecretId=tracker.stack.secret_arn, SecretString=new_token)

    tracker.drain()

    events = tracker.events()
    assert {event.detail["job_id"] for event in events} == {
        message["job_id"] for message in (ok, failed, unknown, late)
    }
    texts = [
        json.dumps([event.detail for event in events]),
        json.dumps(emitted_metrics()),
        json.dumps(function_logs()),
    ]
    assert all(CANARY not in text for text in texts)
    assert all(new_token[:40] not in text for text in texts)


# --- 8. end to end ----------------------------------------------------------------------------------------


def test_end_to_end_every_started_export_ends_with_exactly_one_completion_event(
    function: Function, graphs: Graphs, tracker: Tracker, ges: FakeGes, aws: AwsProxy, pauses: list[float]
) -> None:
    """Export requests on the input queue, duplicates among them, through the export function's poller,
    then the tracker's: a succeeded, a failed, a timed-out and an unknown job, while GES answers 503 to an
    export and to every attempt of a status check, SQS refuses a tracking send (kept, sent by SQS's
    redelivery of the record) and EventBridge a put; then every tracking message delivered once more."""
    tracker.environment["JOB_TRACKING_TIMEOUT_SECONDS"] = "3600"
    ges.job_script = STEPS
    asked = {
        "ok": request("e2e-ok"),
        "failed": request("e2e-failed"),
        "late": request("e2e-late"),
        "unknown": request("e2e-unknown"),
    }
    for body in [*asked.values(), asked["ok"], asked["late"], asked["failed"]]:
        function.send(body)
    ges.inject(Fault.http(503), times=2)
    tracking_sends = on_queue(tracker.queue_url)

    # Both tracking sends of one export fail (the first, and the owed one right after it, each tried twice
    # by botocore), whichever order the batch's records run in.
    def ok_tracked(sent: dict[str, Any]) -> bool:
        return tracking_sends(sent) and "e2e-ok" in sent.get("MessageBody", "")

    aws.inject("sqs.SendMessage", AwsFault.error(503), times=4, when=ok_tracked)

    exported = function.poller().drain()

    jobs = {name: message["job_id"] for name, message in _by_name(function.downstream(), asked).items()}
    assert set(jobs) == set(asked)
    assert exported.failed >= 1  # the record whose tracking sends all failed, redelivered
    ges.script_job(jobs["failed"], ["running", "failed"], fail_reason="OBS refused the export.")
    ges.script_job(jobs["late"], ["running"])
    accepted_long_ago(tracker, jobs["late"])  # GES accepted it two hours ago: past the timeout
    ges.forget_job(jobs["unknown"])
    ges.inject(Fault.http(503), route="job_status", times=int(tracker.environment["GES_MAX_ATTEMPTS"]))
    aws.inject("events.PutEvents", AwsFault.error(500, "InternalException"))

    tracked = tracker.drain()
    # The timed-out job ends after all (its messages delivered again now carry a recent started_at, the
    # export function's): announced already, it is not announced again.
    ges.script_job(jobs["late"], ["success"])
    for sent in aws.parameters_of("sqs.SendMessage"):  # every tracking message, delivered again
        if tracking_sends(sent):
            tracker.send(sent["MessageBody"])
    tracker.drain()

    found = events_by_job(tracker)
    assert {name: [event.detail_type for event in found[job_id]] for name, job_id in jobs.items()} == {
        "ok": [SUCCEEDED],
        "failed": [FAILED],
        "late": [TIMED_OUT],
        "unknown": [FAILED],
    }
    assert set(found) == set(jobs.values())
    assert found[jobs["failed"]][0].detail["fail_reason"] == "OBS refused the export."
    assert (
        found[jobs["unknown"]][0].detail["fail_reason"].startswith(f"GES does not know job {jobs['unknown']}")
    )
    assert tracked.failed == 1  # the failed put
    assert tracker.dead_letters() == []
    assert function.take("InputDeadLetterQueue") == []
    assert len(ges.export_calls) == 4 + 2  # four exports, two of them answered 503 first


def _by_name(messages: list[dict[str, Any]], asked: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """The downstream messages by the name of the request they answer (each exactly once)."""
    paths = {request["export_path"]: name for name, request in asked.items()}
    found: dict[str, dict[str, Any]] = {}
    for message in messages:
        name = paths[message["export_path"]]
        assert name not in found, f"{name} delivered twice"
        found[name] = message
    return found
