"""From what a trigger delivers to submissions: queue events, direct and scheduled events, SQS bodies.

(Named apart from tests/integration/export/test_triggers.py: the test directories are not packages, so two
test modules with one basename cannot be collected in the same run.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ges_backup_export.core.errors import InvalidRequest
from ges_backup_export.export.triggers import (
    MAX_EXPORTS_PER_EVENT,
    Batch,
    Submission,
    Trigger,
    batch_from_body,
    batch_from_event,
    is_queue_event,
    record_time,
)

NOW = datetime(2026, 11, 27, 9, 30, 15, tzinfo=UTC)
TICK = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SENT = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
OWN = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


def request(graph_id: str = "movies", **fields: Any) -> dict[str, Any]:
    return {
        "graph_id": graph_id,
        "backup_id": "latest",
        "export_path": "ges-backups/{graph_id}/{date}/",
        **fields,
    }


def envelope(detail: object, time: object = "2026-11-27T02:00:00Z") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/nightly"],
        "detail": detail,
    }


def sqs_record(**fields: Any) -> dict[str, Any]:
    return {"messageId": "m-1", "body": json.dumps(request()), "eventSource": "aws:sqs", **fields}


def only(batch: Batch) -> Submission:
    assert not batch.is_list
    assert len(batch.entries) == 1
    entry = batch.entries[0]
    assert isinstance(entry, Submission)
    return entry


def refused_event(event: object) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        batch_from_event(event, NOW)
    return caught.value


# --- is_queue_event -----------------------------------------------------------------------------------


def test_sqs_batch_is_a_queue_event() -> None:
    assert is_queue_event({"Records": [sqs_record(), sqs_record(messageId="m-2")]})


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(request(), id="request"),
        pytest.param({"exports": [request()]}, id="exports"),
        pytest.param(envelope(request()), id="envelope"),
        pytest.param({"Records": [{"eventSource": "aws:s3"}]}, id="s3-records"),
        pytest.param({"Records": [{"EventSource": "aws:sns"}]}, id="sns-records"),
        pytest.param({"Records": [sqs_record(), {"eventSource": "aws:s3"}]}, id="mixed-records"),
        pytest.param({"Records": [sqs_record(), "not-a-record"]}, id="record-not-an-object"),
        pytest.param({"Records": "aws:sqs"}, id="records-not-a-list"),
        pytest.param({"Records": {"eventSource": "aws:sqs"}}, id="records-an-object"),
        pytest.param([sqs_record()], id="list"),
        pytest.param(None, id="null"),
        pytest.param("Records", id="string"),
    ],
)
def test_other_events_are_not_queue_events(event: object) -> None:
    assert not is_queue_event(event)


# --- batch_from_event: direct ---------------------------------------------------------------------------


def test_direct_request_is_a_single_direct_submission_at_now() -> None:
    submission = only(batch_from_event(request(), NOW))

    assert submission.trigger is Trigger.DIRECT
    assert submission.requested_at == NOW
    assert submission.request.graph_id == "movies"


def test_direct_request_with_scheduled_time_is_a_schedule_at_that_time() -> None:
    submission = only(batch_from_event(request(scheduled_time="2026-11-26T23:00:00Z"), NOW))

    assert submission.trigger is Trigger.SCHEDULE
    assert submission.requested_at == OWN


def test_scheduled_time_with_offset_becomes_utc_requested_at() -> None:
    submission = only(batch_from_event(request(scheduled_time="2026-11-27T00:00:00+01:00"), NOW))

    assert submission.requested_at == datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


def test_a_scheduled_time_up_to_five_minutes_after_the_invocation_s_clock_is_taken() -> None:
    submission = only(batch_from_event(request(scheduled_time="2026-11-27T09:35:15Z"), NOW))

    assert submission.requested_at == datetime(2026, 11, 27, 9, 35, 15, tzinfo=UTC)


@pytest.mark.parametrize("time", ["2026-11-27T09:35:16Z", "2026-11-28T02:00:00Z", "9999-12-31T23:59:59Z"])
def test_a_scheduled_time_further_ahead_is_refused_naming_it(time: str) -> None:
    """`latest` pinned to a time that has not come would resolve to a newer backup on a later retry."""
    error = refused_event(request(scheduled_time=time))

    assert error.field == "scheduled_time"
    assert "more than 5 minutes after this invocation's clock (2026-11-27T09:30:15Z)" in error.message


def test_a_future_scheduled_time_is_refused_in_a_list_entry_and_a_queue_body() -> None:
    future = request(scheduled_time="2026-11-27T10:00:00Z")
    batch = batch_from_event({"exports": [request(), future]}, NOW)
    queued = batch_from_body(json.dumps({"exports": [future]}), SENT, NOW)

    assert [type(entry).__name__ for entry in batch.entries] == ["Submission", "InvalidRequest"]
    (error,) = queued.entries
    assert isinstance(error, InvalidRequest)
    assert error.field == "exports[0].scheduled_time"


def test_invalid_single_request_is_raised() -> None:
    error = refused_event(request(graph_id="../x"))

    assert error.field == "graph_id"


def test_unknown_field_of_a_single_request_is_raised_by_name() -> None:
    assert refused_event(request(exprt_path="x")).field == "exprt_path"


@pytest.mark.parametrize("event", [None, [], [request()], "text", 3, True])
def test_event_that_is_not_an_object_is_refused(event: object) -> None:
    assert refused_event(event).field == "event"


def test_empty_event_is_refused_as_a_request_without_fields() -> None:
    assert refused_event({}).field == "graph_id"


# --- batch_from_event: exports list ---------------------------------------------------------------------


def test_exports_list_gives_one_entry_per_request_in_order() -> None:
    batch = batch_from_event({"exports": [request("a"), request("b"), request("c")]}, NOW)

    assert batch.is_list
    assert [entry.request.graph_id for entry in batch.entries if isinstance(entry, Submission)] == [
        "a",
        "b",
        "c",
    ]


def test_exports_list_of_one_is_still_a_list() -> None:
    batch = batch_from_event({"exports": [request()]}, NOW)

    assert batch.is_list
    assert len(batch.entries) == 1


def test_exports_entries_are_direct_at_now() -> None:
    batch = batch_from_event({"exports": [request("a"), request("b")]}, NOW)

    submissions = [entry for entry in batch.entries if isinstance(entry, Submission)]
    assert len(submissions) == len(batch.entries)
    assert {(entry.trigger, entry.requested_at) for entry in submissions} == {(Trigger.DIRECT, NOW)}


def test_invalid_entry_is_kept_as_its_error_in_place() -> None:
    batch = batch_from_event({"exports": [request("a"), request("../b"), request("c")]}, NOW)

    first, second, third = batch.entries
    assert isinstance(first, Submission)
    assert first.request.graph_id == "a"
    assert isinstance(second, InvalidRequest)
    assert second.field == "exports[1].graph_id"
    assert isinstance(third, Submission)
    assert third.request.graph_id == "c"


def test_every_invalid_entry_is_named_by_its_index() -> None:
    batch = batch_from_event({"exports": [[], request(colour="red"), request(), {"graph_id": "x"}]}, NOW)

    fields = [entry.field if isinstance(entry, InvalidRequest) else None for entry in batch.entries]
    assert fields == ["exports[0]", "exports[1].colour", None, "exports[3].backup_id"]


def test_entry_with_its_own_scheduled_time_is_a_schedule_at_that_time() -> None:
    batch = batch_from_event(
        {"exports": [request("a"), request("b", scheduled_time="2026-11-26T23:00:00Z")]}, NOW
    )

    first, second = batch.entries
    assert isinstance(first, Submission)
    assert isinstance(second, Submission)
    assert (first.trigger, first.requested_at) == (Trigger.DIRECT, NOW)
    assert (second.trigger, second.requested_at) == (Trigger.SCHEDULE, OWN)


def test_nested_exports_list_is_an_invalid_entry() -> None:
    batch = batch_from_event({"exports": [{"exports": [request()]}]}, NOW)

    (entry,) = batch.entries
    assert isinstance(entry, InvalidRequest)
    assert entry.field == "exports[0].exports"


@pytest.mark.parametrize(
    "exports",
    [
        pytest.param([], id="empty"),
        pytest.param(None, id="null"),
        pytest.param(request(), id="object"),
        pytest.param("movies", id="string"),
        pytest.param([request()] * (MAX_EXPORTS_PER_EVENT + 1), id="too-many"),
    ],
)
def test_exports_that_is_not_a_list_of_1_to_max_is_refused(exports: object) -> None:
    error = refused_event({"exports": exports})

    assert error.field == "exports"
    assert f"1 to {MAX_EXPORTS_PER_EVENT}" in error.message


def test_exports_list_of_the_maximum_size_is_accepted() -> None:
    batch = batch_from_event({"exports": [request()] * MAX_EXPORTS_PER_EVENT}, NOW)

    assert len(batch.entries) == MAX_EXPORTS_PER_EVENT


@pytest.mark.parametrize("extra", ["graph_id", "project_id", "export", "note"])
def test_key_beside_exports_is_refused_by_name(extra: str) -> None:
    error = refused_event({"exports": [request()], extra: "x"})

    assert error.field == extra
    assert "beside exports" in error.message


# --- batch_from_event: EventBridge envelope ---------------------------------------------------------------


def test_envelope_request_is_a_schedule_at_the_envelope_time() -> None:
    submission = only(batch_from_event(envelope(request()), NOW))

    assert submission.trigger is Trigger.SCHEDULE
    assert submission.requested_at == TICK


def test_envelope_time_with_offset_becomes_utc() -> None:
    submission = only(batch_from_event(envelope(request(), time="2026-11-27T03:00:00+01:00"), NOW))

    assert submission.requested_at == TICK


def test_request_scheduled_time_wins_over_the_envelope_time() -> None:
    submission = only(batch_from_event(envelope(request(scheduled_time="2026-11-26T23:00:00Z")), NOW))

    assert submission.trigger is Trigger.SCHEDULE
    assert submission.requested_at == OWN


def test_envelope_exports_are_schedules_at_the_envelope_time() -> None:
    batch = batch_from_event(envelope({"exports": [request("a"), request("b")]}), NOW)

    assert batch.is_list
    submissions = [entry for entry in batch.entries if isinstance(entry, Submission)]
    assert len(submissions) == len(batch.entries)
    assert {(entry.trigger, entry.requested_at) for entry in submissions} == {(Trigger.SCHEDULE, TICK)}


def test_envelope_entry_errors_are_named_under_detail() -> None:
    batch = batch_from_event(envelope({"exports": [request("a"), request("a.b")]}), NOW)

    error = batch.entries[1]
    assert isinstance(error, InvalidRequest)
    assert error.field == "detail.exports[1].graph_id"


def test_envelope_single_request_error_is_named_under_detail() -> None:
    assert refused_event(envelope(request(backup_id="a/b"))).field == "detail.backup_id"


def test_key_beside_exports_in_detail_is_named_under_detail() -> None:
    assert refused_event(envelope({"exports": [request()], "x": 1})).field == "detail.x"


def test_bad_exports_in_detail_is_named_under_detail() -> None:
    assert refused_event(envelope({"exports": []})).field == "detail.exports"


@pytest.mark.parametrize("detail", [{}, None])
def test_envelope_without_a_request_is_refused(detail: object) -> None:
    error = refused_event(envelope(detail))

    assert error.field == "detail"
    assert "no export request" in error.message


@pytest.mark.parametrize("detail", [[], "movies", 0])
def test_envelope_whose_detail_is_not_an_object_is_refused(detail: object) -> None:
    assert refused_event(envelope(detail)).field == "detail"


@pytest.mark.parametrize("time", [None, "", "yesterday", "2026-11-27T02:00:00", 1795744800])
def test_envelope_without_a_valid_time_is_refused(time: object) -> None:
    assert refused_event(envelope(request(), time=time)).field == "time"


def test_envelope_without_a_time_key_is_refused() -> None:
    event = envelope(request())
    del event["time"]

    assert refused_event(event).field == "time"


def test_event_with_detail_type_but_no_detail_is_a_direct_request_with_unknown_fields() -> None:
    event = {"detail-type": "Scheduled Event", **request()}

    assert refused_event(event).field == "detail-type"


# --- batch_from_body -----------------------------------------------------------------------------------


def test_body_request_is_a_queue_submission_at_its_sent_time() -> None:
    submission = only(batch_from_body(json.dumps(request()), SENT, NOW))

    assert submission.trigger is Trigger.QUEUE
    assert submission.requested_at == SENT


def test_body_request_with_scheduled_time_stays_a_queue_submission_at_that_time() -> None:
    submission = only(batch_from_body(json.dumps(request(scheduled_time="2026-11-26T23:00:00Z")), SENT, NOW))

    assert submission.trigger is Trigger.QUEUE
    assert submission.requested_at == OWN


def test_body_exports_are_queue_submissions_with_errors_in_place() -> None:
    batch = batch_from_body(json.dumps({"exports": [request("a"), request("b!")]}), SENT, NOW)

    first, second = batch.entries
    assert batch.is_list
    assert isinstance(first, Submission)
    assert (first.trigger, first.requested_at) == (Trigger.QUEUE, SENT)
    assert isinstance(second, InvalidRequest)
    assert second.field == "exports[1].graph_id"


def test_body_holding_an_envelope_is_not_unwrapped() -> None:
    with pytest.raises(InvalidRequest) as caught:
        batch_from_body(json.dumps(envelope(request())), SENT, NOW)

    assert caught.value.field in {"account", "detail", "detail-type", "id"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("{", id="unclosed"),
        pytest.param("{'graph_id': 'movies'}", id="single-quotes"),
        pytest.param('{"graph_id": "movies",}', id="trailing-comma"),
        pytest.param("graph_id=movies", id="form"),
        pytest.param('{"graph_id": "movies"} extra', id="trailing-data"),
    ],
)
def test_body_that_is_not_json_is_refused(body: str) -> None:
    with pytest.raises(InvalidRequest, match="is not valid JSON") as caught:
        batch_from_body(body, SENT, NOW)

    assert caught.value.field == "body"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 100_000, id="open-arrays"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="closed-arrays"),
        pytest.param('{"a":' * 100_000 + "1" + "}" * 100_000, id="nested-objects"),
    ],
)
def test_deeply_nested_body_is_an_invalid_request_not_a_recursion_error(body: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        batch_from_body(body, SENT, NOW)

    assert caught.value.field == "body"


@pytest.mark.parametrize("body", ["null", "[]", '"movies"', "42", "true", "NaN"])
def test_body_that_is_json_but_not_an_object_is_refused(body: str) -> None:
    with pytest.raises(InvalidRequest, match="must be a JSON object") as caught:
        batch_from_body(body, SENT, NOW)

    assert caught.value.field == "request"


def test_body_error_message_names_the_json_problem_without_the_body() -> None:
    with pytest.raises(InvalidRequest) as caught:
        batch_from_body("{not json at all", SENT, NOW)

    assert "not json at all" not in str(caught.value)


# --- record_time -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epoch_ms", "expected"),
    [
        ("1795744800000", datetime(2026, 11, 27, 2, 0, tzinfo=UTC)),
        ("1795744800123", datetime(2026, 11, 27, 2, 0, 0, 123000, tzinfo=UTC)),
        ("0", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_sent_timestamp_in_epoch_milliseconds_is_read_as_utc(epoch_ms: str, expected: datetime) -> None:
    assert record_time(None, epoch_ms, NOW) == expected


def test_sent_time_is_timezone_aware_utc() -> None:
    assert record_time(None, "1795744800000", NOW).tzinfo == UTC


@pytest.mark.parametrize(
    "epoch_ms",
    [None, "", "abc", "1.7e12", "1795744800000.5", "9" * 30, "-" + "9" * 30, "0x10"],
)
def test_unreadable_sent_timestamp_gives_now(epoch_ms: str | None) -> None:
    assert record_time(None, epoch_ms, NOW) == NOW


def test_a_requested_at_attribute_wins_over_the_sent_timestamp() -> None:
    at = record_time("2026-11-26T02:00:00Z", "1795744800000", NOW)

    assert at == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def test_a_malformed_requested_at_attribute_is_an_invalid_request_naming_it() -> None:
    with pytest.raises(InvalidRequest, match="message attribute requested_at"):
        record_time("yesterday", "1795744800000", NOW)
