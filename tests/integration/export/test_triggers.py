"""The three triggers (docs/requests.md), each driven with its sample event in events/."""

from __future__ import annotations

import pytest

from local.fake_ges import FakeGes
from tests.stand_ins import (
    FRIENDS_BACKUP,
    FRIENDS_PROJECT,
    MOVIES_BACKUP,
    PROJECT,
    Function,
    Graphs,
    sample_event,
)


def test_console_request_returns_the_downstream_message(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    result = function.invoke(sample_event("console_single.json"))

    assert result == {
        "job_id": result["job_id"],
        "project_id": PROJECT,
        "graph_id": "movies",
        "backup_id": MOVIES_BACKUP,
        "export_path": f"ges-backups/movies/console/{MOVIES_BACKUP}/",
        "trigger": "direct",
        "requested_at": result["requested_at"],
    }
    assert result["job_id"] in ges.jobs
    assert function.downstream() == [result]


def test_console_exports_list_returns_one_entry_per_request_in_order(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    result = function.invoke(sample_event("console_exports.json"))

    movies, friends = result["exports"]
    assert (movies["graph_id"], movies["backup_id"]) == ("movies", graphs.movies_latest)
    assert (friends["project_id"], friends["graph_id"], friends["backup_id"]) == (
        FRIENDS_PROJECT,
        "friends",
        FRIENDS_BACKUP,
    )
    assert {movies["trigger"], friends["trigger"]} == {"direct"}
    assert sorted(m["job_id"] for m in function.downstream()) == sorted([movies["job_id"], friends["job_id"]])


def test_schedule_v2_input_is_a_scheduled_run_at_its_tick_time(function: Function, graphs: Graphs) -> None:
    result = function.invoke(sample_event("schedule_v2_input.json"))

    assert result["trigger"] == "schedule"
    assert result["requested_at"] == "2026-11-27T02:00:00Z"
    assert result["export_path"] == "ges-backups/movies/2026-11-27/"
    assert result["backup_id"] == graphs.movies_latest
    assert function.downstream() == [result]


def test_eventbridge_envelope_takes_requests_from_detail_and_time_as_tick(
    function: Function, graphs: Graphs
) -> None:
    result = function.invoke(sample_event("eventbridge_envelope.json"))

    assert result["trigger"] == "schedule"
    assert result["requested_at"] == "2026-11-27T02:00:00Z"
    assert result["export_path"] == "ges-backups/movies/2026-11-27/"


@pytest.mark.parametrize("detail", [{}, None])
def test_eventbridge_envelope_without_request_is_an_error_not_a_silent_success(
    function: Function, graphs: Graphs, ges: FakeGes, detail: object
) -> None:
    event = sample_event("eventbridge_envelope.json")
    event["detail"] = detail

    error = function.invoke_failing(event)

    assert str(error).startswith("InvalidRequest: detail: ")
    assert ges.calls == []


def test_sqs_batch_sample_reports_no_failures_and_sends_every_job(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    result = function.invoke(sample_event("sqs_batch.json"))

    assert result == {"batchItemFailures": []}
    messages = function.downstream()
    assert len(messages) == 3 == len(ges.export_calls)
    assert {m["trigger"] for m in messages} == {"queue"}
    # The record's SentTimestamp (2026-11-27T02:00:00Z) is its time: a redelivery resolves the same path.
    assert {m["requested_at"] for m in messages} == {"2026-11-27T02:00:00Z"}
    assert {m["export_path"] for m in messages} == {
        f"ges-backups/movies/queue/{MOVIES_BACKUP}/",
        "ges-backups/movies/queue/2026-11-27/",
        "ges-backups/friends/queue/2026-11-27/",
    }


def test_messages_on_the_input_queue_are_delivered_by_the_poller(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    function.send(sample_event("console_single.json"))
    function.send(sample_event("console_exports.json"))

    totals = function.poller().drain()

    assert (totals.received, totals.succeeded, totals.failed) == (2, 2, 0)
    assert len(function.downstream()) == 3
    assert function.take("InputQueue") == []


def test_a_single_request_that_fails_raises_an_error_starting_with_its_code(
    function: Function, graphs: Graphs
) -> None:
    event = sample_event("console_single.json")
    event["backup_id"] = "no-such-backup"

    error = function.invoke_failing(event)

    assert str(error).startswith("GES.7024: ")
    assert function.downstream() == []


def test_one_failing_request_of_a_list_does_not_stop_the_others(function: Function, graphs: Graphs) -> None:
    event = sample_event("console_exports.json")
    event["exports"].insert(
        1, {"graph_id": "movies", "backup_id": "no-such-backup", "export_path": "bucket-1/x/"}
    )
    event["exports"].insert(2, {"graph_id": "movies"})

    entries = function.invoke(event)["exports"]

    assert [sorted(entry) for entry in entries[1:3]] == [["error"], ["error"]]
    assert entries[1]["error"]["code"] == "GES.7024"
    assert entries[2]["error"] == {"code": "InvalidRequest", "message": "exports[2].backup_id: is required"}
    assert [("job_id" in entry) for entry in entries] == [True, False, False, True]
    assert len(function.downstream()) == 2
