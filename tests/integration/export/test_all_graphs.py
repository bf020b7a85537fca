"""`"graph_id": "*"`: one request for every graph of the project (docs/requests.md, "Every graph ...").

Directly and on a schedule the graphs run in place, as a list; from the queue the request fans out onto
the input queue, one message per graph. Each graph is then its own request: its own export, idempotency,
failure and result entry.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.aws_proxy import AwsFault, AwsProxy, on_queue
from local.fake_ges import FakeGes, Fault
from tests.stand_ins import PROJECT, Function, Graphs

EVERY_GRAPH = {"graph_id": "*", "backup_id": "latest", "export_path": "ges-backups/{graph_id}/{date}/"}
TICK = "2026-11-27T02:00:00Z"
ALWAYS = None


@pytest.fixture
def project(ges: FakeGes, graphs: Graphs) -> list[str]:
    """The project's graphs in GES's order: movies (from `graphs`), people (running), archive (stopped)."""
    for graph_id in ("people", "archive"):
        ges.add_backup(PROJECT, graph_id, start_timestamp=1_795_600_000_000)
    ges.add_graph(PROJECT, "archive", status="900")
    return ["movies", "people", "archive"]


def graph_of(entry: dict[str, Any]) -> str:
    return str(entry.get("graph_id") or entry["error"]["message"].removeprefix("graph ").split()[0])


def test_every_graph_is_exported_on_its_own_and_a_stopped_one_is_reported_with_ges_s_reason(
    function: Function, project: list[str], ges: FakeGes
) -> None:
    result = function.invoke({**EVERY_GRAPH, "scheduled_time": TICK})

    entries = result["exports"]
    assert [graph_of(entry) for entry in entries] == project
    assert [entry["export_path"] for entry in entries[:2]] == [
        "ges-backups/movies/2026-11-27/",
        "ges-backups/people/2026-11-27/",
    ]
    assert entries[2] == {
        "error": {
            "code": "GES.7001",
            "message": f"graph archive (project {PROJECT}): The graph is not running.",
        }
    }
    assert sorted(message["graph_id"] for message in function.downstream()) == ["movies", "people"]
    (dead,) = function.take("InputDeadLetterQueue")
    assert dead.attributes["error_code"] == "GES.7001"
    assert "exports[2]: GES.7001: graph archive" in dead.attributes["error_message"]
    assert dead.body == {**EVERY_GRAPH, "graph_id": "archive", "scheduled_time": TICK}


def test_the_graph_list_is_read_page_after_page(function: Function, ges: FakeGes) -> None:
    graph_ids = [f"g{index:03}" for index in range(105)]
    for graph_id in graph_ids:
        ges.add_backup(PROJECT, graph_id, start_timestamp=1_795_600_000_000)

    result = function.invoke({**EVERY_GRAPH, "scheduled_time": TICK})

    assert [entry["graph_id"] for entry in result["exports"]] == graph_ids
    pages = [call.query for call in ges.calls if call.path == f"/v2/{PROJECT}/graphs"]
    assert [page["offset"] for page in pages] == ["0", "100"]
    assert len(ges.export_calls) == len(set(ges.exported_paths)) == 105


def test_a_second_run_exports_nothing_again(function: Function, project: list[str], ges: FakeGes) -> None:
    request = {**EVERY_GRAPH, "scheduled_time": TICK}
    first = function.invoke(request)
    exports = len(ges.export_calls)

    second = function.invoke(request)

    assert second["exports"][:2] == first["exports"][:2]
    assert len(ges.export_calls) == exports + 1  # only the stopped graph is asked again, and refused again
    assert len(function.downstream()) == 2


def test_an_every_graph_entry_expands_in_place_within_a_list(
    function: Function, project: list[str], ges: FakeGes
) -> None:
    before = {"graph_id": "movies", "backup_id": "latest", "export_path": "other/first/"}
    after = {"graph_id": "people", "backup_id": "latest", "export_path": "other/last/"}

    result = function.invoke({"exports": [before, EVERY_GRAPH, after]})

    assert [graph_of(entry) for entry in result["exports"]] == ["movies", *project, "people"]


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"export_path": "ges-backups/all/{date}/"}, "export_path", "must contain {graph_id}"),
        ({"backup_id": "7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"}, "backup_id", 'must be "latest"'),
    ],
)
def test_a_request_whose_graphs_would_share_a_directory_or_a_backup_is_refused(
    function: Function, project: list[str], ges: FakeGes, changes: dict[str, str], field: str, problem: str
) -> None:
    error = function.invoke_failing({**EVERY_GRAPH, **changes})
    listed = function.invoke({"exports": [{**EVERY_GRAPH, **changes}]})

    assert str(error).startswith(f"InvalidRequest: {field}: {problem}")
    assert listed["exports"][0]["error"]["message"].startswith(f"exports[0].{field}: {problem}")
    assert ges.calls == []


def test_a_project_without_graphs_is_an_error_naming_it(function: Function, ges: FakeGes) -> None:
    error = function.invoke_failing({**EVERY_GRAPH, "scheduled_time": TICK})

    assert error.code == "InvalidRequest"
    assert f"GES lists no graph in project {PROJECT}" in str(error)
    assert str(error).endswith(f"[requested_at {TICK}]")  # a redrive of the failed run lists them then
    assert ges.export_calls == []


def test_a_graph_list_that_cannot_be_read_is_the_entry_s_error(
    function: Function, project: list[str], ges: FakeGes, pauses: list[float]
) -> None:
    ges.inject(Fault.http(503), route="list_graphs", times=100)
    movies = {"graph_id": "movies", "backup_id": "latest", "export_path": "other/movies/"}

    result = function.invoke({"exports": [movies, {**EVERY_GRAPH, "scheduled_time": TICK}]})

    assert result["exports"][0]["graph_id"] == "movies"
    assert result["exports"][1]["error"]["code"] == "GesUnavailable"
    (dead,) = function.take("InputDeadLetterQueue")
    assert dead.body == {**EVERY_GRAPH, "scheduled_time": TICK}  # a redrive lists the graphs at that time


def test_a_project_of_more_graphs_than_a_list_holds_dead_letters_its_failed_graph_alone(
    function: Function, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduled "*" over 120 graphs, one of them stopped: the dead-letter queue gets that graph's request
    alone, which the function accepts when redriven (a list of all 120 it would refuse: at most 100)."""
    monkeypatch.setenv("GES_CONCURRENCY", "16")
    graph_ids = [f"g{index:03d}" for index in range(120)]
    for graph_id in graph_ids:
        ges.add_backup(PROJECT, graph_id, start_timestamp=1_795_600_000_000)
    ges.add_graph(PROJECT, "g042", status="900")

    result = function.invoke({**EVERY_GRAPH, "scheduled_time": TICK})

    assert [graph_of(entry) for entry in result["exports"]] == graph_ids
    (dead,) = function.take("InputDeadLetterQueue")
    assert dead.body == {**EVERY_GRAPH, "graph_id": "g042", "scheduled_time": TICK}
    assert dead.attributes["error_message"].startswith("exports[42]: GES.7001: graph g042 ")
    assert len(function.downstream()) == 119
    ges.add_graph(PROJECT, "g042")  # started again
    function.send(dead.raw_body)
    function.poller().drain()
    assert [(message["graph_id"], message["requested_at"]) for message in function.downstream()] == [
        ("g042", TICK)
    ]


# -- from the queue: fanned out, one message per graph -----------------------------------------------


def test_from_the_queue_each_graph_gets_its_own_message_with_the_request_s_time(
    function: Function, project: list[str], ges: FakeGes
) -> None:
    function.send(EVERY_GRAPH)
    fanned = function.poller().poll_once()

    messages = function.take("InputQueue")

    assert (fanned.succeeded, ges.export_calls) == (1, [])
    assert sorted(message.body["graph_id"] for message in messages) == sorted(project)
    assert all(message.body == {**EVERY_GRAPH, "graph_id": message.body["graph_id"]} for message in messages)
    assert len({message.attributes["requested_at"] for message in messages}) == 1


def test_fanned_out_graphs_export_once_each_however_often_the_request_arrives(
    function: Function, project: list[str], ges: FakeGes
) -> None:
    for _ in range(3):  # the same request sent three times, as by a producer that retried
        function.send({**EVERY_GRAPH, "scheduled_time": TICK})

    function.poller(redelivery_delay=0).drain()

    assert sorted(message["graph_id"] for message in function.downstream()) == ["movies", "people"]
    assert len(ges.export_calls) == 2 + 3  # one per running graph; the stopped one refused each time
    dead = function.take("InputDeadLetterQueue")
    assert [message.body["graph_id"] for message in dead] == ["archive"] * 3
    assert all(message.attributes["error_code"] == "GES.7001" for message in dead)


def test_a_fan_out_that_sqs_refuses_is_retried_and_still_exports_once(
    function: Function, project: list[str], ges: FakeGes, aws: AwsProxy
) -> None:
    input_queue = function.stack.queue_urls["InputQueue"]
    aws.inject(
        "sqs.SendMessageBatch", AwsFault.error(400, "InvalidParameterValue"), when=on_queue(input_queue)
    )
    function.send({**EVERY_GRAPH, "scheduled_time": TICK})

    first = function.poller(redelivery_delay=0).poll_once()
    function.poller(redelivery_delay=0).drain()

    assert first.failed == 1
    assert sorted(message["graph_id"] for message in function.downstream()) == ["movies", "people"]
    assert len(ges.export_calls) == 3
