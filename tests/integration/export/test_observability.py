"""What the function writes about its work: ids on every line, and never the token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from local.fake_ges import FakeGes, Fault
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, Graphs, sample_event
from tests.tokens import CANARY

Logs = Callable[[], list[dict[str, Any]]]
REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/o/"}


def test_every_line_about_a_queue_record_carries_its_graph_backup_and_message_ids(
    function: Function, graphs: Graphs, function_logs: Logs
) -> None:
    function.invoke(sample_event("sqs_batch.json"))

    lines = function_logs()
    assert len(lines) >= 6
    for line in lines:
        assert line["message_id"] in {
            "4c1f6b0e-8d2a-4f3b-9e5c-7a1d2b3c4d5e",
            "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
        }
        assert line["graph_id"] in {"movies", "friends"}
        assert line["backup_id"]
    started = [line for line in lines if line["message"] == "GES started the export"]
    assert all(line["backup_id"] != "latest" and line["job_id"] for line in started)


def test_ids_of_one_request_do_not_stay_on_the_lines_of_the_next(
    function: Function, graphs: Graphs, function_logs: Logs
) -> None:
    function.invoke(sample_event("sqs_batch.json"))
    function.invoke({"exports": [{"graph_id": "nope"}]})

    failed, dead_lettered = function_logs()[-2:]
    assert (failed["message"], dead_lettered["message"]) == (
        "export failed",
        "request sent to the dead-letter queue",
    )
    for last in (failed, dead_lettered):
        assert "message_id" not in last
        assert "graph_id" not in last


def test_a_failure_line_carries_its_code(function: Function, graphs: Graphs, function_logs: Logs) -> None:
    function.invoke_failing({**REQUEST, "backup_id": "gone"})

    (failure,) = [line for line in function_logs() if line["level"] == "ERROR"]
    assert (failure["error_code"], failure["graph_id"], failure["backup_id"]) == (
        "GES.7024",
        "movies",
        "gone",
    )


def test_a_token_echoed_by_ges_is_scrubbed_from_errors_logs_and_dead_letters(
    function: Function, graphs: Graphs, ges: FakeGes, function_logs: Logs
) -> None:
    echo = Fault.ges_error(400, "GES.0001", f"Incorrect parameter: header X-Auth-Token={ges.token}")
    ges.inject(echo)
    error = function.invoke_failing(REQUEST)
    ges.inject(echo)
    function.send(REQUEST)
    function.poller().drain()

    assert error.message == f"graph movies (project {PROJECT}): Incorrect parameter: header X-Auth-Token=***"
    (dead,) = function.take("InputDeadLetterQueue")
    assert dead.attributes["error_message"] == error.message
    assert CANARY not in repr(function_logs())


def test_no_token_anywhere_through_a_bad_day(
    function: Function, graphs: Graphs, ges: FakeGes, function_logs: Logs
) -> None:
    """Success, a rotated token, a rejected token, GES errors, timeouts: the token shows up nowhere."""
    seen: list[Any] = [function.invoke(REQUEST)]
    for fault in (
        Fault.http(401),
        Fault.http(500),
        Fault.dropped(),
        Fault.ges_error(403, "GES.7041", "denied"),
    ):
        ges.inject(fault)
        seen.append(function.invoke({"exports": [{**REQUEST, "export_path": f"b-1/{len(seen)}/"}]}))
    ges.rotate_token()
    seen.append(function.invoke_failing({**REQUEST, "export_path": "b-1/rotated/"}))
    seen.extend(message.raw_body for message in function.take("DownstreamQueue"))

    assert len(seen) == 8
    assert CANARY not in repr(seen) + repr(function_logs())
    assert all(ges.token not in repr(item) for item in seen)
