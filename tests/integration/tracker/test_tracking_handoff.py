"""The export function's side of the job tracker: each new export handed to it once, right after its
downstream message, with when GES accepted it (`started_at`, kept in the export's record for a send owed),
and what it counts (ExportsStarted, ExportsDeduplicated, ExportsFailed); and the settle command, which
hands a settled export to the tracker too.

Through the real export handler (and the tracker's, to see a handed-over job announced) over moto and the
fake GES; the AWS proxy records each SendMessage's parameters (its queue, body and DelaySeconds).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from ges_backup_export.core.errors import ConfigurationError, DeliveryFailed
from ges_backup_export.core.message_format import SUCCEEDED, format_time
from local.aws_proxy import AwsFault, AwsProxy, on_queue
from local.fake_ges import FakeGes, Fault
from ops.settle import main as settle
from ops.settlement import Settlement
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, Graphs
from tests.tokens import CANARY
from tests.tracker_stand_ins import Tracker, metric_values

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/handed/"}
TRACKING = "TrackingQueue"
DOWNSTREAM = "DownstreamQueue"


def sends(aws: AwsProxy, function: Function) -> list[tuple[str, dict[str, Any], int | None]]:
    """Every SendMessage since the counts were reset: (queue by logical id, body, DelaySeconds)."""
    queues = {url: name for name, url in function.stack.queue_urls.items()}
    return [
        (queues[p["QueueUrl"]], json.loads(p["MessageBody"]), p.get("DelaySeconds"))
        for p in aws.parameters_of("sqs.SendMessage")
    ]


def fail_tracking_sends(aws: AwsProxy, function: Function, times: int | None) -> None:
    """SQS refuses `times` sends to the tracking queue (botocore tries each send twice)."""
    aws.inject(
        "sqs.SendMessage",
        AwsFault.error(503),
        times=times,
        when=on_queue(function.stack.queue_urls[TRACKING]),
    )


def now() -> str:
    return format_time(datetime.now(UTC))


def next_second() -> None:
    """Wait until the clock's second (started_at's resolution) changed: a time taken from now on differs
    from any taken before."""
    before = now()
    time.sleep(1.01 - time.time() % 1)
    assert now() > before


def export_record(function: Function) -> dict[str, Any]:
    """The stored result of the one export record of the table."""
    (record,) = [r for r in function.idempotency_records() if r["id"].startswith("ges-backup-export:export#")]
    stored: dict[str, Any] = json.loads(record["data"])
    return stored


# --- 1. one tracking message per new export ---------------------------------------------------------------


def test_a_new_export_is_handed_to_the_tracker_right_after_its_downstream_message_delayed_by_the_interval(
    function: Function, graphs: Graphs, aws: AwsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracking message is the downstream message plus started_at: when GES answered with the job_id
    (the tracker's timeout counts from it), also kept in the export's record."""
    monkeypatch.setenv("JOB_POLL_INTERVAL_SECONDS", "7")
    before = now()

    message = function.invoke(REQUEST)

    started_at = export_record(function)["started_at"]
    assert before <= started_at <= now()
    assert "started_at" not in message
    assert sends(aws, function) == [
        (DOWNSTREAM, message, None),
        (TRACKING, {**message, "started_at": started_at}, 7),
    ]
    assert export_record(function) == {
        "message": message,
        "delivered": True,
        "tracked": True,
        "started_at": started_at,
    }


@pytest.mark.parametrize("trigger", ["direct", "queue", "schedule"])
def test_a_duplicate_hands_nothing_more_to_the_tracker(
    function: Function, graphs: Graphs, tracker: Tracker, aws: AwsProxy, trigger: str
) -> None:
    request = {**REQUEST, "scheduled_time": "2026-11-27T02:00:00Z"} if trigger == "schedule" else REQUEST
    if trigger == "queue":
        for _ in range(3):
            function.send(request)
        function.poller().drain()
    else:
        for _ in range(3):
            function.invoke(request)

    (handed,) = tracker.tracking_messages()
    assert [message["job_id"] for message in function.downstream()] == [handed["job_id"]]
    assert handed["trigger"] == trigger
    assert [queue for queue, _, _ in sends(aws, function) if queue != "InputQueue"] == [DOWNSTREAM, TRACKING]


@pytest.mark.parametrize("tracked", [False, True], ids=["without-TRACKING_QUEUE_URL", "with-it"])
def test_a_new_export_costs_three_aws_requests_without_the_tracker_and_four_with_it(
    function: Function, graphs: Graphs, aws: AwsProxy, monkeypatch: pytest.MonkeyPatch, tracked: bool
) -> None:
    if not tracked:
        monkeypatch.setenv("TRACKING_QUEUE_URL", "")
    function.invoke({**REQUEST, "export_path": "ges-backups/movies/warm/"})  # the token is cached
    aws.reset_counts()

    message = function.invoke(REQUEST)

    sent = 2 if tracked else 1
    assert dict(aws.requests) == {"dynamodb.PutItem": 1, "sqs.SendMessage": sent, "dynamodb.UpdateItem": 1}
    assert [queue for queue, _, _ in sends(aws, function)] == [DOWNSTREAM, TRACKING][:sent]
    stored = export_record_of(function, message)
    expected = {"message": message, "delivered": True, **({"tracked": True} if tracked else {})}
    assert stored == {**expected, "started_at": stored["started_at"]}


def export_record_of(function: Function, message: dict[str, Any]) -> dict[str, Any]:
    """The stored result of the export record whose message is `message`."""
    for record in function.idempotency_records():
        if record["id"].startswith("ges-backup-export:export#"):
            stored: dict[str, Any] = json.loads(record["data"])
            if stored.get("message") == message:
                return stored
    return {}


def test_a_fifo_tracking_queue_is_a_configuration_error_naming_it_and_nothing_is_exported(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FIFO deduplication would drop the tracker's re-checks of a job: refused before any GES call."""
    monkeypatch.setenv("TRACKING_QUEUE_URL", function.stack.queue_urls[TRACKING] + ".fifo")

    error = function.invoke_failing(REQUEST)

    assert isinstance(error, ConfigurationError)
    assert str(error).startswith("ConfigurationError: TRACKING_QUEUE_URL must be a standard SQS queue")
    assert ges.calls == []
    assert function.downstream() == []


# --- 2. a failed tracking send is owed, never lost --------------------------------------------------------


def test_a_failed_tracking_send_is_kept_and_sent_once_by_the_next_request_for_the_export(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy, tracker: Tracker
) -> None:
    fail_tracking_sends(aws, function, times=None)

    error = function.invoke_failing(REQUEST)

    assert isinstance(error, DeliveryFailed)
    assert "handing it to the job tracker failed" in error.message
    (message,) = function.downstream()
    assert error.message.startswith(f"GES accepted the export as job {message['job_id']}")
    started_at = export_record(function)["started_at"]
    assert export_record(function) == {
        "message": message,
        "delivered": True,
        "tracked": False,
        "started_at": started_at,
    }
    assert tracker.tracking_messages() == []

    aws.clear_faults()
    next_second()  # the owed send comes later, and still carries when GES accepted the export
    again = function.invoke(REQUEST)
    then = function.invoke(REQUEST)

    assert again == then == message
    assert tracker.tracking_messages() == [{**message, "started_at": started_at}]
    assert function.downstream() == []
    assert export_record(function) == {
        "message": message,
        "delivered": True,
        "tracked": True,
        "started_at": started_at,
    }
    assert len(ges.export_calls) == 1


def test_a_failed_downstream_send_owes_both_messages_and_the_next_request_sends_each_once_in_order(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy, tracker: Tracker
) -> None:
    to_downstream = on_queue(function.stack.queue_urls[DOWNSTREAM])
    aws.inject("sqs.SendMessage", AwsFault.error(503), times=None, when=to_downstream)

    function.invoke_failing(REQUEST)

    assert tracker.tracking_messages() == []
    aws.clear_faults()
    aws.reset_counts()
    message = function.invoke(REQUEST)
    function.invoke(REQUEST)

    started_at = export_record(function)["started_at"]
    assert sends(aws, function) == [
        (DOWNSTREAM, message, None),
        (TRACKING, {**message, "started_at": started_at}, None),
    ]
    assert export_record(function) == {
        "message": message,
        "delivered": True,
        "tracked": True,
        "started_at": started_at,
    }
    assert len(ges.export_calls) == 1


def test_a_queue_record_whose_tracking_send_failed_is_retried_and_its_job_tracked_once(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy, tracker: Tracker
) -> None:
    """The first send and the owed one in the same invocation fail (botocore tries each twice): the record
    is reported failed, and SQS's redelivery sends what is owed."""
    fail_tracking_sends(aws, function, times=4)
    function.send(REQUEST)

    handled = function.poller().drain()

    assert (handled.received, handled.failed) == (2, 1)
    (message,) = function.downstream()
    tracker.drain()
    (event,) = tracker.events()
    assert (event.detail_type, event.detail["job_id"]) == (SUCCEEDED, message["job_id"])
    assert len(ges.export_calls) == 1


# --- 3. the export function's metrics ---------------------------------------------------------------------


def test_the_export_function_counts_started_deduplicated_and_failed_exports(
    function: Function, graphs: Graphs, ges: FakeGes, emitted_metrics: Callable[[], list[dict[str, Any]]]
) -> None:
    function.invoke(REQUEST)
    function.invoke(REQUEST)
    function.invoke({"exports": [{**REQUEST, "export_path": "ges-backups/movies/other/"}, REQUEST]})
    function.invoke_failing({**REQUEST, "backup_id": "gone"})  # GES refuses it
    function.invoke_failing({"graph_id": "movies"})  # invalid

    documents = emitted_metrics()

    counts = {
        name: sum(metric_values(documents, name))
        for name in ("ExportsStarted", "ExportsDeduplicated", "ExportsFailed")
    }
    assert counts == {"ExportsStarted": 2, "ExportsDeduplicated": 2, "ExportsFailed": 2}
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert (directive["Namespace"], directive["Dimensions"]) == ("GesBackupExport", [["service"]])
        assert set(document) == {"_aws", "service", *(metric["Name"] for metric in directive["Metrics"])}
    assert CANARY not in json.dumps(documents)


# --- 4. the settle command --------------------------------------------------------------------------------


def deployed_stack_outputs(function: Function) -> None:
    """The stack's outputs the settle command reads with --stack, in moto's CloudFormation."""
    queues = function.stack.queue_urls
    outputs = {
        "IdempotencyTableName": function.stack.table_name,
        "DownstreamQueueUrl": queues[DOWNSTREAM],
        "TrackingQueueUrl": queues[TRACKING],
    }
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(
        StackName=function.stack.name, TemplateBody=json.dumps(template)
    )


@pytest.mark.parametrize("where", ["--stack", "--table"])
def test_a_settled_export_is_handed_to_the_tracker_at_once_and_announced_once(
    function: Function,
    graphs: Graphs,
    ges: FakeGes,
    tracker: Tracker,
    aws: AwsProxy,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    """`ops.settle started`: the job may have ended long before the person settles it, so the tracker
    checks it at once (no delay), its timeout counted from the time of settling (started_at: when GES
    accepted it is not known); every later request for the export is a duplicate that hands nothing."""
    ges.inject(Fault.http(500))
    assert function.invoke_failing(REQUEST).code == "ExportOutcomeUnknown"
    (unknown,) = Settlement(function.stack.table_name, boto3.client("dynamodb")).unknown()
    job_id = ges.add_job(PROJECT, "movies")  # what the person found in GES's job list
    queues = function.stack.queue_urls
    if where == "--stack":
        deployed_stack_outputs(function)
        arguments = ["--stack", function.stack.name]
    else:
        arguments = ["--table", function.stack.table_name, "--downstream", queues[DOWNSTREAM]]
        arguments += ["--tracking", queues[TRACKING]]

    next_second()  # the time of settling, not of the failed export
    before = now()
    aws.reset_counts()

    code = settle([*arguments, "started", unknown.reference, "--job-id", job_id])

    assert code == 0
    assert "and the job tracker follows it" in capsys.readouterr().out
    (message,) = function.downstream()
    assert message["job_id"] == job_id
    started_at = export_record(function)["started_at"]
    assert before <= started_at <= now()
    assert export_record(function) == {
        "message": message,
        "delivered": True,
        "tracked": True,
        "started_at": started_at,
    }
    handed = [body for queue, body, _ in sends(aws, function) if queue == TRACKING]
    assert handed == [{**message, "started_at": started_at}]
    assert all(record["id"].startswith("ges-backup-export:") for record in function.idempotency_records())
    function.invoke(REQUEST)
    tracker.drain()
    (event,) = tracker.events()
    assert event.detail_type == SUCCEEDED
    assert {key: event.detail[key] for key in message} == message
    assert function.downstream() == []
