"""The settle command (ops/settle.py): a person says what became of an export whose outcome is unknown.

The unknown exports are made the way production makes them: GES answering 500 through the real handler,
or an invocation's lock left behind and run out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import boto3
import pytest

from local.aws_proxy import AwsFault, AwsProxy
from local.fake_ges import FakeGes, Fault
from local.lambda_runtime import ROOT
from ops.settle import main
from ops.settlement import Settlement
from tests.stand_ins import MOVIES_BACKUP, Function, Graphs

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/settle/"}
JOB_ID = "ff8080815f9a3c84015f9a438ff70001"


@pytest.fixture
def settle(function: Function, capsys: pytest.CaptureFixture[str]) -> Any:
    """`python -m ops.settle --table T --downstream Q ARGS`, in process: exit code and output."""

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        where = [
            "--table",
            function.stack.table_name,
            "--downstream",
            function.stack.queue_urls["DownstreamQueue"],
        ]
        code = main([*where, *args])
        out, err = capsys.readouterr()
        return code, out + err

    return run


def unknown_export(function: Function, ges: FakeGes, request: dict[str, str] = REQUEST) -> str:
    """Make `request` an export of unknown outcome (GES answers 500); returns its reference."""
    ges.inject(Fault.http(500))
    error = function.invoke_failing(request)
    assert error.code == "ExportOutcomeUnknown"
    (unknown,) = Settlement(function.stack.table_name, boto3.client("dynamodb")).unknown()
    assert f"settle export {unknown.reference} " in error.message
    return unknown.reference


def test_the_list_shows_each_unknown_export_with_what_finds_it_in_ges(
    function: Function, graphs: Graphs, ges: FakeGes, settle: Any
) -> None:
    reference = unknown_export(function, ges)
    function.invoke({**REQUEST, "export_path": "ges-backups/movies/fine/"})  # started: not listed

    code, out = settle("list")

    assert code == 0
    assert out.startswith("1 exports with an unknown outcome, oldest first:")
    assert f"export {reference}  since " in out
    assert f"graph movies  backup {MOVIES_BACKUP}" in out
    assert "path ges-backups/movies/settle/  (direct, requested " in out
    assert "why: GES answered 500 GES.7006" in out


def test_nothing_unknown_is_said_plainly(function: Function, graphs: Graphs, settle: Any) -> None:
    assert settle() == (0, "No export has an unknown outcome.\n")


def test_started_delivers_the_job_once_and_every_later_request_gets_it_as_a_duplicate(
    function: Function, graphs: Graphs, ges: FakeGes, settle: Any
) -> None:
    reference = unknown_export(function, ges)

    code, out = settle("started", reference, "--job-id", JOB_ID)
    again = settle("started", reference, "--job-id", JOB_ID)
    later = function.invoke(REQUEST)

    assert code == 0
    assert "started as job ff8080815f9a3c84015f9a438ff70001" in out
    (message,) = function.downstream()
    assert message == {**later, "job_id": JOB_ID}
    assert message["export_path"] == REQUEST["export_path"]
    assert again[0] == 1
    assert f"export {reference} is not unknown: it started, as job {JOB_ID}" in again[1]
    assert len(ges.export_calls) == 1


def test_not_started_forgets_the_export_so_the_next_request_exports(
    function: Function, graphs: Graphs, ges: FakeGes, settle: Any
) -> None:
    reference = unknown_export(function, ges)

    code, out = settle("not-started", reference)
    exported = function.invoke(REQUEST)

    assert code == 0
    assert "is forgotten: the next request for it exports" in out
    assert exported["job_id"] in ges.jobs
    assert function.downstream() == [exported]
    assert len(ges.export_calls) == 2


def test_an_abandoned_lock_is_settled_like_a_stored_unknown_outcome(
    function: Function, graphs: Graphs, ges: FakeGes, settle: Any
) -> None:
    """An invocation took the lock and died: nothing was stored but the lock, which carries the export."""
    reference = exported_then_locked(function, lock_expires_ms=1)

    listed = settle()[1]
    code, _ = settle("started", reference, "--job-id", JOB_ID)

    assert "the invocation handling it ended (timed out or ran out of memory)" in listed
    assert code == 0
    assert function.invoke(REQUEST)["job_id"] == JOB_ID


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["started", "0" * 32, "--job-id", JOB_ID],
            "no export 00000000000000000000000000000000 is remembered",
        ),
        (["not-started", "0" * 32], "no export 00000000000000000000000000000000 is remembered"),
        (["started", "REF", "--job-id", "a/b"], "the job id 'a/b' must be 1 to 64 letters"),
    ],
)
def test_what_cannot_be_settled_is_refused_with_a_clear_error(
    function: Function, graphs: Graphs, settle: Any, args: list[str], message: str
) -> None:
    code, out = settle(*args)

    assert code == 1
    assert message in out


def test_an_export_that_started_or_is_in_progress_cannot_be_settled(
    function: Function, graphs: Graphs, ges: FakeGes, settle: Any
) -> None:
    started = function.invoke(REQUEST)
    (record,) = function.idempotency_records()
    reference = record["id"].partition("#")[2]

    code, out = settle("not-started", reference)

    assert code == 1
    assert f"is not unknown: it started, as job {started['job_id']}" in out
    assert function.invoke(REQUEST) == started


def test_a_lock_still_held_cannot_be_settled(
    function: Function, graphs: Graphs, ges: FakeGes, settle: Any
) -> None:
    """The invocation holding it may still be exporting: nobody can say yet whether it started."""
    reference = exported_then_locked(function, lock_expires_ms=int((time.time() + 600) * 1000))

    code, out = settle("not-started", reference)

    assert code == 1
    assert "is being handled right now; try again in a few minutes" in out


def test_a_record_that_does_not_say_what_it_exports_is_refused_with_what_to_do_instead(
    function: Function, graphs: Graphs, ges: FakeGes, settle: Any
) -> None:
    # A lock taken by a version that did not yet write the export's details into it, then abandoned.
    reference = exported_then_locked(function, lock_expires_ms=1, with_export=False)

    code, out = settle("started", reference, "--job-id", JOB_ID)

    assert code == 1
    assert "does not say what it exports" in out
    assert "delete the dead-lettered request instead" in out


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            AwsFault.error(400, "ConditionalCheckFailedException"),
            "the export changed meanwhile (someone else settled it?); list again",
        ),
        (AwsFault.error(400, "ValidationException"), "the idempotency table failed"),
        (AwsFault.dropped(), "the idempotency table failed"),
    ],
)
def test_a_settlement_the_table_refuses_or_fails_changes_nothing(
    function: Function,
    graphs: Graphs,
    ges: FakeGes,
    aws: AwsProxy,
    settle: Any,
    fault: AwsFault,
    message: str,
) -> None:
    reference = unknown_export(function, ges)
    aws.inject("dynamodb.UpdateItem", fault, times=10)

    code, out = settle("started", reference, "--job-id", JOB_ID)

    assert code == 1
    assert message in out
    assert function.downstream() == []
    assert [
        unknown.reference
        for unknown in Settlement(function.stack.table_name, boto3.client("dynamodb")).unknown()
    ] == [reference]


def exported_then_locked(function: Function, lock_expires_ms: int, *, with_export: bool = True) -> str:
    """Export REQUEST, then make its record the lock of an invocation that has not finished it, expiring at
    `lock_expires_ms` (Powertools' in-progress expiry, in ms), carrying the export's details (as the
    function writes them) or nothing; returns the export's reference."""
    function.invoke(REQUEST)
    (record,) = function.idempotency_records()
    message = json.loads(record["data"])["message"]
    details = {key: value for key, value in message.items() if key != "job_id"}
    boto3.client("dynamodb").put_item(
        TableName=function.stack.table_name,
        Item={
            "id": {"S": record["id"]},
            "expiration": {"N": record["expiration"]},
            "status": {"S": "INPROGRESS"},
            "in_progress_expiration": {"N": str(lock_expires_ms)},
            "data": {"S": json.dumps({"export": details} if with_export else {})},
        },
    )
    return str(record["id"]).partition("#")[2]


def test_the_command_line_finds_the_table_from_the_stack(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    reference = unknown_export(function, ges)
    outputs = {
        "IdempotencyTableName": function.stack.table_name,
        "DownstreamQueueUrl": function.stack.queue_urls["DownstreamQueue"],
    }
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(
        StackName=function.stack.name, TemplateBody=json.dumps(template)
    )

    listed = subprocess.run(
        [sys.executable, "-m", "ops.settle", "--stack", function.stack.name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    usage = subprocess.run(
        [sys.executable, "-m", "ops.settle", "--table", "t", "started", reference, "--job-id", JOB_ID],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (listed.returncode, listed.stderr) == (0, "")
    assert f"export {reference}" in listed.stdout
    assert usage.returncode == 2
    assert "started needs the downstream queue" in usage.stderr
