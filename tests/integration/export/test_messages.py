"""The downstream message (docs/requests.md, "The downstream message")."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from ges_backup_export.core.message_format import ExportIdentity
from local.fake_ges import FakeGes
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, Graphs, sample_event

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/{graph_id}/{date}/"}
FIELDS = {"job_id", "project_id", "graph_id", "backup_id", "export_path", "trigger", "requested_at"}


def test_one_message_per_export_with_exactly_the_contract_fields(function: Function, graphs: Graphs) -> None:
    result = function.invoke(REQUEST)

    (message,) = function.downstream()
    assert message == result
    assert set(message) == FIELDS
    assert all(isinstance(value, str) for value in message.values())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", message["requested_at"])
    assert message["export_path"] == f"ges-backups/movies/{message['requested_at'][:10]}/"


@pytest.mark.parametrize(
    ("body", "trigger"),
    [
        (REQUEST, "queue"),
        ({**REQUEST, "scheduled_time": "2026-11-27T02:00:00Z"}, "queue"),
    ],
)
def test_a_request_from_the_queue_is_a_queue_trigger(
    function: Function, graphs: Graphs, body: dict[str, str], trigger: str
) -> None:
    function.send(body)
    function.poller().drain()

    (message,) = function.downstream()
    assert message["trigger"] == trigger


def test_trigger_is_schedule_for_a_tick_time_or_an_envelope_and_direct_otherwise(
    function: Function, graphs: Graphs
) -> None:
    ticked = function.invoke({**REQUEST, "export_path": "b-1/a/", "scheduled_time": "2026-11-27T02:00:00Z"})
    enveloped = function.invoke(
        {**sample_event("eventbridge_envelope.json"), "detail": {**REQUEST, "export_path": "b-1/b/"}}
    )
    direct = function.invoke({**REQUEST, "export_path": "b-1/c/"})

    assert [ticked["trigger"], enveloped["trigger"], direct["trigger"]] == ["schedule", "schedule", "direct"]
    assert ticked["requested_at"] == enveloped["requested_at"] == "2026-11-27T02:00:00Z"


def test_a_fifo_queue_gets_the_graph_as_group_and_the_export_identity_as_deduplication_id(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs")
    fifo_url = sqs.create_queue(QueueName="downstream.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    monkeypatch.setenv("DOWNSTREAM_QUEUE_URL", fifo_url)

    result = function.invoke(REQUEST)

    (message,) = sqs.receive_message(QueueUrl=fifo_url, MessageSystemAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"]) == result
    assert message["Attributes"]["MessageGroupId"] == "movies"
    identity = ExportIdentity(PROJECT, "movies", MOVIES_BACKUP, result["export_path"])
    assert message["Attributes"]["MessageDeduplicationId"] == identity.digest()
