"""Idempotency (docs/failures.md): one GES export and one downstream message per export identity."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest

from local.fake_ges import FakeGes, Fault
from tests.stand_ins import MOVIES_BACKUP, Function, Graphs, sample_event, wait_for

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/nightly/"}


def test_the_same_export_asked_twice_reaches_ges_once(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    first = function.invoke(REQUEST)
    second = function.invoke(REQUEST)

    assert second == first
    assert len(ges.export_calls) == 1
    assert function.downstream() == [first]


def test_the_same_export_from_every_trigger_reaches_ges_once(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    direct = function.invoke(REQUEST)
    scheduled = function.invoke({**REQUEST, "scheduled_time": "2026-11-27T02:00:00Z"})
    function.send(REQUEST)
    function.send({"exports": [REQUEST]})
    queued = function.poller().drain()
    envelope = sample_event("eventbridge_envelope.json")
    envelope["detail"] = REQUEST
    from_rule = function.invoke(envelope)

    assert scheduled["job_id"] == from_rule["job_id"] == direct["job_id"]
    assert (queued.succeeded, queued.failed) == (2, 0)
    assert len(ges.export_calls) == 1
    assert function.downstream() == [direct]


def test_retries_of_one_schedule_tick_resolve_to_the_same_export(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    tick = sample_event("schedule_v2_input.json")

    results = [function.invoke(tick) for _ in range(3)]

    assert len({result["job_id"] for result in results}) == 1
    assert len(ges.export_calls) == 1
    assert len(function.downstream()) == 1


def test_a_failed_export_is_not_remembered(function: Function, graphs: Graphs, ges: FakeGes) -> None:
    ges.add_graph("0a1b2c3d4e5f67890a1b2c3d4e5f6789", "movies", status="900")
    assert function.invoke_failing(REQUEST).code == "GES.7001"
    ges.add_graph("0a1b2c3d4e5f67890a1b2c3d4e5f6789", "movies", status="200")

    result = function.invoke(REQUEST)

    assert len(ges.export_calls) == 2
    assert function.downstream() == [result]


def test_a_failed_send_is_retried_with_the_stored_job_id_without_exporting_again(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    working_queue = function.stack.environment["DOWNSTREAM_QUEUE_URL"]
    monkeypatch.setenv("DOWNSTREAM_QUEUE_URL", working_queue + "-gone")
    error = function.invoke_failing(REQUEST)
    assert error.code == "DeliveryFailed"
    job_id = next(iter(ges.jobs))
    assert job_id in error.message

    monkeypatch.setenv("DOWNSTREAM_QUEUE_URL", working_queue)
    retried = function.invoke(REQUEST)
    duplicate = function.invoke(REQUEST)

    assert retried["job_id"] == duplicate["job_id"] == job_id
    assert len(ges.export_calls) == 1
    assert function.downstream() == [retried]


def test_a_failed_send_is_retried_from_the_queue_too(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    working_queue = function.stack.environment["DOWNSTREAM_QUEUE_URL"]
    monkeypatch.setenv("DOWNSTREAM_QUEUE_URL", working_queue + "-gone")
    function.send(REQUEST)
    first = function.poller().poll_once()
    monkeypatch.setenv("DOWNSTREAM_QUEUE_URL", working_queue)
    second = function.poller().drain()

    assert (first.failed, second.succeeded) == (1, 1)
    assert len(ges.export_calls) == 1
    assert [message["job_id"] for message in function.downstream()] == list(ges.jobs)


def test_a_concurrent_duplicate_waits_its_turn(function: Function, graphs: Graphs, ges: FakeGes) -> None:
    ges.inject(Fault.slow(1.5))
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(function.invoke(REQUEST)))
    first.start()
    wait_for(lambda: any(r.get("status") == "INPROGRESS" for r in function.idempotency_records()))

    direct = function.invoke_failing(REQUEST)
    function.send(REQUEST)
    queued = function.poller().poll_once()
    first.join()
    retried = function.poller().drain()

    assert direct.code == "ExportInProgress"
    assert "in progress" in direct.message or "right now" in direct.message
    assert (queued.failed, retried.succeeded) == (1, 1)
    assert len(ges.export_calls) == 1
    assert function.downstream() == results


def test_an_export_is_remembered_for_the_configured_time(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDEMPOTENCY_TTL_SECONDS", "600")
    before = time.time()
    function.invoke(REQUEST)

    (record,) = function.idempotency_records()
    assert record["status"] == "COMPLETED"
    assert int(before) + 600 <= int(record["expiration"]) <= time.time() + 600


def test_an_expired_export_is_exported_again(function: Function, graphs: Graphs, ges: FakeGes) -> None:
    function.invoke(REQUEST)
    (record,) = function.idempotency_records()
    boto3.client("dynamodb").update_item(
        TableName=function.stack.table_name,
        Key={"id": {"S": record["id"]}},
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )

    # GES is asked again; here it refuses because the first export filled the OBS directory.
    error = function.invoke_failing(REQUEST)

    assert len(ges.export_calls) == 2
    assert error.code == "GES.0001"
