"""AWS-side failures (Secrets Manager, the idempotency table, the downstream and dead-letter queues),
injected at the AWS proxy in front of moto, through the real handler."""

from __future__ import annotations

import threading
import time

import boto3

from local.aws_proxy import AwsFault, AwsProxy, on_queue
from local.fake_ges import FakeGes, Fault
from tests.stand_ins import MOVIES_BACKUP, Function, Graphs, wait_for

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/d/"}
ALWAYS = None


def test_secrets_manager_unavailable_is_transient_and_exports_nothing(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy
) -> None:
    aws.inject("secretsmanager.GetSecretValue", AwsFault.error(503), times=ALWAYS)

    error = function.invoke_failing(REQUEST)

    assert (error.code, error.permanent) == ("DependencyUnavailable", False)
    assert ges.calls == []
    assert function.idempotency_records() == []  # the lock was given back: a retry exports
    aws.clear_faults()
    assert function.invoke(REQUEST)["job_id"] in ges.jobs


def test_a_cached_token_outlives_a_secrets_manager_outage(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy
) -> None:
    function.invoke(REQUEST)
    aws.inject("secretsmanager.GetSecretValue", AwsFault.dropped(), times=ALWAYS)

    function.invoke({**REQUEST, "export_path": "ges-backups/movies/e/"})

    assert len(ges.export_calls) == 2
    assert aws.requests["secretsmanager.GetSecretValue"] == 1


def test_no_export_runs_without_the_idempotency_table(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy
) -> None:
    aws.inject("dynamodb.PutItem", AwsFault.error(500, "InternalServerError"), times=ALWAYS)

    error = function.invoke_failing(REQUEST)

    assert (error.code, error.permanent) == ("DependencyUnavailable", False)
    assert ges.export_calls == []
    assert function.downstream() == []


def test_a_table_failure_after_ges_accepted_still_returns_and_sends_the_job_id(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy
) -> None:
    aws.inject("dynamodb.UpdateItem", AwsFault.error(503), times=ALWAYS)

    result = function.invoke(REQUEST)
    duplicate = function.invoke_failing(REQUEST)

    assert result["job_id"] in ges.jobs
    assert function.downstream() == [result]
    # The record stays locked until the invocation's time is up: a duplicate waits, nothing exports again.
    assert duplicate.code == "ExportInProgress"
    assert len(ges.export_calls) == 1


def test_a_downstream_outage_after_ges_accepted_keeps_the_job_id(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy
) -> None:
    downstream = function.stack.queue_urls["DownstreamQueue"]
    aws.inject("sqs.SendMessage", AwsFault.error(503), times=ALWAYS, when=on_queue(downstream))

    error = function.invoke_failing(REQUEST)
    (job_id,) = ges.jobs
    assert (error.code, error.permanent) == ("DeliveryFailed", False)
    assert job_id in error.message
    assert [record["status"] for record in function.idempotency_records()] == ["COMPLETED"]

    aws.clear_faults()
    retried = function.invoke(REQUEST)
    function.invoke(REQUEST)

    assert retried["job_id"] == job_id
    assert len(ges.export_calls) == 1
    assert function.downstream() == [retried]


def test_a_dead_letter_queue_outage_leaves_the_record_for_sqs_to_retry(
    function: Function, graphs: Graphs, aws: AwsProxy
) -> None:
    dead_letter = function.stack.queue_urls["InputDeadLetterQueue"]
    aws.inject("sqs.SendMessage", AwsFault.error(503), times=ALWAYS, when=on_queue(dead_letter))
    function.send("{not json")

    first = function.poller().poll_once()
    aws.clear_faults()
    then = function.poller().drain()

    assert (first.failed, then.succeeded) == (1, 1)
    (dead,) = function.take("InputDeadLetterQueue")
    assert (dead.raw_body, dead.attributes["error_code"]) == ("{not json", "InvalidRequest")


def test_the_lock_expires_with_the_invocation_that_took_it(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    """Powertools' register_lambda_context: an INPROGRESS record ends at its invocation's deadline, so a
    crashed invocation blocks its duplicates only until then, not for the record's whole TTL."""
    ges.inject(Fault.slow(1.0))
    timeout = 60.0
    started = time.time()
    worker = threading.Thread(target=lambda: function.invoke(REQUEST, timeout))
    worker.start()
    wait_for(lambda: any(r.get("status") == "INPROGRESS" for r in function.idempotency_records()))
    (record,) = function.idempotency_records()
    worker.join()

    expiry_seconds = int(record["in_progress_expiration"]) / 1000 - started
    assert 0 < expiry_seconds <= timeout + 1
    assert int(record["expiration"]) - started > timeout  # the TTL is the long one


def lock_as_a_crash_leaves_it(function: Function, expires_in_ms: int) -> None:
    """Turn the one export record back into the lock of an invocation that died mid-export."""
    (record,) = function.idempotency_records()
    boto3.client("dynamodb").update_item(
        TableName=function.stack.table_name,
        Key={"id": {"S": record["id"]}},
        UpdateExpression="SET #s = :s, in_progress_expiration = :e REMOVE #d",
        ExpressionAttributeNames={"#s": "status", "#d": "data"},
        ExpressionAttributeValues={
            ":s": {"S": "INPROGRESS"},
            ":e": {"N": str(int(time.time() * 1000) + expires_in_ms)},
        },
    )


def test_a_lock_still_held_makes_a_duplicate_wait(function: Function, graphs: Graphs, ges: FakeGes) -> None:
    function.invoke(REQUEST)
    lock_as_a_crash_leaves_it(function, expires_in_ms=60_000)

    assert function.invoke_failing(REQUEST).code == "ExportInProgress"
    assert len(ges.export_calls) == 1


def test_after_a_crashed_invocation_s_lock_expired_the_export_is_unknown_and_not_sent_again(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    """The invocation that died may have sent the export, and GES has no idempotency key: the abandoned
    lock is an unknown outcome, for a person to settle, never a second POST."""
    function.invoke(REQUEST)
    lock_as_a_crash_leaves_it(function, expires_in_ms=-1)

    error = function.invoke_failing(REQUEST)
    again = function.invoke_failing(REQUEST)

    assert (error.code, error.permanent) == ("ExportOutcomeUnknown", True)
    assert "ended (timed out or ran out of memory)" in error.message
    assert again.code == "ExportOutcomeUnknown"
    assert (len(ges.export_calls), len(ges.jobs)) == (1, 1)
