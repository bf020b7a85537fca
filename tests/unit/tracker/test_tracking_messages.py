"""Tracking messages (parse_tracking_message) and one check of a job (Tracker.check) on stubs: what a
message must hold, what the next check carries, the growing delay, and the timeout's edge (counted from
`started_at`, never `requested_at`), at a given time rather than the clock's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from ges_backup_export.aws.queues import SqsQueue
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import GesRefused, GesUnavailable, InvalidRequest
from ges_backup_export.core.message_format import FAILED, SUCCEEDED, TIMED_OUT, TrackingMessage
from ges_backup_export.tracker.checks import Tracker, parse_tracking_message

REQUESTED = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
MESSAGE = {
    "job_id": "ff8080815f9a3c84015f9a438ff70001",
    "project_id": "0a1b2c3d4e5f67890a1b2c3d4e5f6789",
    "graph_id": "movies",
    "backup_id": "7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b",
    "export_path": "ges-backups/movies/2026-11-27/",
    "trigger": "schedule",
    "requested_at": "2026-11-27T02:00:00Z",
}
# As the export function sends it: GES accepted the export when it was requested.
TRACKED = {**MESSAGE, "started_at": "2026-11-27T02:00:00Z"}
DAYS_BEFORE = "2026-11-25T02:00:00Z"  # a request time two days older (a redriven request keeps its own)


def refusal(body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        parse_tracking_message(body if isinstance(body, str) else json.dumps(body))
    return raised.value


# --- parse_tracking_message -------------------------------------------------------------------------------


def test_a_downstream_message_is_a_tracking_message() -> None:
    assert parse_tracking_message(json.dumps(MESSAGE)) == MESSAGE


def test_what_the_tracker_carries_is_kept() -> None:
    carried = {**TRACKED, "checks": 4, "last_status": "running"}

    assert parse_tracking_message(json.dumps(carried)) == carried


@pytest.mark.parametrize("field", list(MESSAGE))
@pytest.mark.parametrize("value", [None, "", 7, ["x"]], ids=["missing", "empty", "number", "array"])
def test_every_field_of_the_downstream_message_is_required_a_non_empty_string(field: str, value: Any) -> None:
    body = (
        {**MESSAGE, field: value} if value is not None else {k: v for k, v in MESSAGE.items() if k != field}
    )

    error = refusal(body)

    assert (error.field, error.message) == (field, f"{field}: is required, a non-empty string")


@pytest.mark.parametrize("field", ["job_id", "project_id", "graph_id"])
def test_ids_are_ges_ids(field: str) -> None:
    assert refusal({**MESSAGE, field: "a/b"}).field == field


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ("not json", "body", "is not valid JSON (JSONDecodeError)"),
        ("[" * 100_000, "body", "is not valid JSON (RecursionError)"),
        ('"a string"', "body", "must be a JSON object, got a string"),
        ({**MESSAGE, "requested_at": "yesterday"}, "requested_at", "must be an ISO-8601 time"),
        ({**MESSAGE, "requested_at": "2026-11-27T02:00:00"}, "requested_at", "must carry its UTC offset"),
        ({**MESSAGE, "started_at": "2026-11-27T02:00:00"}, "started_at", "must carry its UTC offset"),
        ({**MESSAGE, "started_at": "soon"}, "started_at", "must be an ISO-8601 time such as"),
        ({**MESSAGE, "started_at": ""}, "started_at", "must be an ISO-8601 time such as"),
        ({**MESSAGE, "started_at": 7}, "started_at", "must be an ISO-8601 time string, got a number"),
        ({**MESSAGE, "started_at": None}, "started_at", "must be an ISO-8601 time string, got null"),
        ({**MESSAGE, "checks": -1}, "checks", "must be a whole number, at least 0"),
        ({**MESSAGE, "checks": 1.5}, "checks", "must be a whole number, at least 0"),
        ({**MESSAGE, "checks": False}, "checks", "must be a whole number, at least 0"),
        ({**MESSAGE, "last_status": None}, "last_status", "must be a string of at most 64 characters"),
        ({**MESSAGE, "last_status": "x" * 65}, "last_status", "must be a string of at most 64 characters"),
    ],
)
def test_a_message_that_cannot_be_checked_is_refused_naming_what_is_wrong(
    body: Any, field: str, problem: str
) -> None:
    error = refusal(body)

    assert error.field == field
    assert error.message.startswith(f"{field}: {problem}")


# --- Tracker.check on stubs -------------------------------------------------------------------------------


class StubGes:
    """GES's answers to status calls, in order; an exception in the list is raised."""

    def __init__(self, *answers: dict[str, Any] | Exception) -> None:
        self.answers = list(answers)

    def job_status(self, project_id: str, graph_id: str, job_id: str, deadline: Deadline) -> dict[str, Any]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class StubAnnouncer:
    def __init__(self) -> None:
        self.announced: list[tuple[str, dict[str, Any]]] = []

    def announce(self, detail_type: str, detail: dict[str, Any]) -> bool:
        self.announced.append((detail_type, dict(detail)))
        return True


class StubSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **request: Any) -> dict[str, str]:
        self.sent.append(request)
        return {"MessageId": str(len(self.sent))}


def check(
    *answers: dict[str, Any] | Exception,
    message: dict[str, Any] = TRACKED,
    after: timedelta = timedelta(minutes=5),
    poll: int = 30,
    timeout: int = 86_400,
) -> tuple[StubAnnouncer, StubSqs]:
    """One check of `message`, `after` its request (and the export's start), with GES answering
    `answers`."""
    announcer, sqs = StubAnnouncer(), StubSqs()
    tracker = Tracker(
        cast(Any, StubGes(*answers)),
        cast(Any, announcer),
        SqsQueue("https://sqs.eu-west-1.amazonaws.com/123456789012/tracking", cast(Any, sqs)),
        poll_interval_seconds=poll,
        timeout_seconds=timeout,
    )
    tracker.check(cast(TrackingMessage, message), Deadline.after_ms(60_000), now=REQUESTED + after)
    return announcer, sqs


def test_an_ended_job_is_announced_with_exactly_the_contract_s_detail() -> None:
    answer = {"status": "success", "begin_time": "2026-11-27T02:00:30", "end_time": "2026-11-27T02:04:00"}

    announcer, sqs = check({**answer, "job_progress": 1.0, "fail_reason": ""})

    detail = {**MESSAGE, **answer, "checked_at": "2026-11-27T02:05:00Z"}
    assert announcer.announced == [(SUCCEEDED, detail)]
    assert sqs.sent == []


def test_a_failed_job_s_reason_is_cut_and_a_missing_one_said() -> None:
    long_reason, _ = check({"status": "failed", "fail_reason": "x" * 5000})
    no_reason, _ = check({"status": "failed"})

    assert [kind for kind, _ in long_reason.announced] == [FAILED]
    assert long_reason.announced[0][1]["fail_reason"] == "x" * 1024
    assert no_reason.announced[0][1]["fail_reason"] == "GES gave no reason"


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("3 files missing", "3 files missing"),
        (None, "GES says the job partially failed, without a reason: part of the backup is missing"),
    ],
)
def test_a_partially_failed_job_is_an_end_announced_as_failed_with_ges_s_status(
    reason: str | None, said: str
) -> None:
    answer = {
        "status": "partiallyFailed",
        "begin_time": "2026-11-27 02:00:30",
        "end_time": "2026-11-27 02:04:00",
    }

    announcer, sqs = check({**answer, "fail_reason": reason}, after=timedelta(days=3), timeout=3600)

    assert announcer.announced == [
        (FAILED, {**MESSAGE, **answer, "fail_reason": said, "checked_at": "2026-11-30T02:00:00Z"})
    ]
    assert sqs.sent == []


def test_carried_state_stays_out_of_the_event() -> None:
    announcer, _ = check({"status": "success"}, message={**TRACKED, "checks": 7, "last_status": "running"})

    ((_, detail),) = announcer.announced
    assert "checks" not in detail
    assert "last_status" not in detail
    assert "started_at" not in detail


@pytest.mark.parametrize(("checks", "delay"), [(0, 30), (1, 60), (4, 480), (5, 900), (10**6, 900)])
def test_a_job_not_ended_goes_back_on_the_queue_with_a_growing_delay(checks: int, delay: int) -> None:
    announcer, sqs = check({"status": "running"}, message={**TRACKED, "checks": checks})

    assert announcer.announced == []
    (request,) = sqs.sent
    assert request["DelaySeconds"] == delay
    assert json.loads(request["MessageBody"]) == {**TRACKED, "checks": checks + 1, "last_status": "running"}


def test_with_no_answer_the_next_check_keeps_the_last_status_ges_gave() -> None:
    carried = {**TRACKED, "checks": 2, "last_status": "pending"}

    _, sqs = check(GesUnavailable("GES answered 503"), message=carried)

    (request,) = sqs.sent
    assert json.loads(request["MessageBody"]) == {**carried, "checks": 3}


@pytest.mark.parametrize(("seconds", "timed_out"), [(3600, False), (3601, True)])
def test_the_timeout_counts_from_when_ges_accepted_the_export_not_from_the_request(
    seconds: int, timed_out: bool
) -> None:
    """A request redriven two days after it was first asked for keeps its requested_at; its job is new."""
    redriven = {**TRACKED, "requested_at": DAYS_BEFORE}

    announcer, sqs = check(
        {"status": "pending"}, message=redriven, after=timedelta(seconds=seconds), timeout=3600
    )

    assert [kind for kind, _ in announcer.announced] == ([TIMED_OUT] if timed_out else [])
    assert len(sqs.sent) == (0 if timed_out else 1)


def test_a_message_without_started_at_counts_from_its_first_check_and_carries_that_time_on() -> None:
    """A tracking message an older version sent (in flight during an upgrade) has no started_at."""
    older = {**MESSAGE, "requested_at": DAYS_BEFORE}

    announcer, sqs = check({"status": "running"}, message=older, after=timedelta(minutes=5), timeout=3600)

    assert announcer.announced == []
    (request,) = sqs.sent
    first_check = "2026-11-27T02:05:00Z"
    assert json.loads(request["MessageBody"]) == {
        **older,
        "started_at": first_check,
        "checks": 1,
        "last_status": "running",
    }


def test_an_ended_job_past_the_timeout_is_announced_as_it_ended() -> None:
    announcer, _ = check({"status": "success"}, after=timedelta(days=3), timeout=3600)

    assert [kind for kind, _ in announcer.announced] == [SUCCEEDED]


def test_a_job_ges_does_not_know_is_failed_with_the_last_status_it_had() -> None:
    unknown = GesRefused(400, "GES.7007", "The job does not exist.")

    announcer, _ = check(unknown, message={**TRACKED, "checks": 3, "last_status": "running"})

    ((kind, detail),) = announcer.announced
    assert kind == FAILED
    assert detail["status"] == "running"
    assert (
        detail["fail_reason"]
        == f"GES does not know job {MESSAGE['job_id']} (GES.7007: The job does not exist.)"
    )
