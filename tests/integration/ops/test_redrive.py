"""The redrive command (ops/redrive/): dead-lettered requests back to the input queue, after a fix.

The dead-letter queue is filled the way production fills it: the real handler behind the local SQS
poller, with GES refusing or failing, and SQS's own redrive after maxReceiveCount.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from ges_backup_export.core.message_format import request_time_of
from local.aws import queue_depth, string_attributes, take_messages
from local.fake_ges import FakeGes, Fault
from ops import settle
from ops.redrive import Redrive, RedriveError, command, main, moving
from ops.settlement import Settlement
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, Graphs

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

ROOT = Path(__file__).resolve().parents[3]
REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/redrive/"}
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """`python -m ops.redrive ARGS`, in process: its exit code, stdout and stderr."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*args, "--wait-seconds", "0"])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def rows(output: str) -> dict[str, tuple[int, int, int]]:
    """The summary table: reason -> (found, moved or would move, left)."""
    found = re.findall(r"^(\S+) +(\d+) +(\d+) +(\d+)$", output, re.MULTILINE)
    return {reason: (int(a), int(b), int(c)) for reason, a, b, c in found}


def settle_as_not_started(function: Function) -> None:
    """The runbook's first step for the unknown outcome: GES shows no job for it, so a person says so
    (until then, a redrive of it ends ExportOutcomeUnknown again without asking GES)."""
    (unknown,) = Settlement(function.stack.table_name, boto3.client("dynamodb")).unknown()
    assert settle.main(["--table", function.stack.table_name, "not-started", unknown.reference]) == 0


def calls_for(ges: FakeGes, request: dict[str, str]) -> list[Any]:
    """GES's export calls for the request's path."""
    return [call for call in ges.export_calls if call.body["export_path"] == request["export_path"]]


@dataclass
class DeadLetters:
    """The bodies now in the input dead-letter queue, one per reason, and the two queue URLs."""

    dlq: str
    input: str
    invalid: str
    unknown: str
    refused: str
    unreported: str

    @property
    def queues(self) -> tuple[str, ...]:
        """The command line's source and target: the dead-letter queue back to the input queue."""
        return ("--from", self.dlq, "--to", self.input)


@pytest.fixture
def dead_letters(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> DeadLetters:
    urls = function.stack.queue_urls
    letters = DeadLetters(
        dlq=urls["InputDeadLetterQueue"],
        input=urls["InputQueue"],
        invalid='{"graph_id": "movies"}',
        unknown=json.dumps(REQUEST),
        refused=json.dumps({**REQUEST, "backup_id": "gone", "export_path": "ges-backups/gone/"}),
        unreported="{not json",
    )
    function.send(letters.invalid)
    function.poller().drain()
    ges.inject(Fault.http(500))
    function.send(letters.unknown)
    function.poller().drain()
    function.send(letters.refused)
    function.poller().drain()
    # Without the setting, the record is reported on each receive and SQS's redrive moves it, bare.
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL")
    function.send(letters.unreported)
    function.poller().drain()
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", letters.dlq)
    assert queue_depth(letters.dlq) == (4, 0)
    assert queue_depth(letters.input) == (0, 0)
    return letters


def test_a_dry_run_counts_by_reason_shows_samples_and_moves_nothing(
    run: Run, dead_letters: DeadLetters
) -> None:
    code, out, err = run(*dead_letters.queues)

    assert (code, err) == (0, "")
    assert out.startswith("Dry run, nothing moved (add --apply to move)")
    assert rows(out) == {
        "ExportOutcomeUnknown": (1, 1, 0),
        "GES.7024": (1, 1, 0),
        "InvalidRequest": (1, 1, 0),
        "Unreported": (1, 1, 0),
        "total": (4, 4, 0),
    }
    assert f"body:  {dead_letters.unknown}" in out
    assert "error: GES answered 500" in out
    # Nothing moved, and nothing left hidden for the visibility timeout.
    assert queue_depth(dead_letters.input) == (0, 0)
    assert queue_depth(dead_letters.dlq) == (4, 0)


def test_dry_run_is_also_the_explicit_flag(run: Run, dead_letters: DeadLetters) -> None:
    code, out, _ = run(*dead_letters.queues, "--dry-run", "--samples", "0")

    assert code == 0
    assert rows(out)["total"] == (4, 4, 0)
    assert "body:" not in out
    assert queue_depth(dead_letters.dlq) == (4, 0)


def test_apply_moves_only_the_reason_asked_for_body_unchanged_reason_dropped(
    run: Run, dead_letters: DeadLetters, function: Function
) -> None:
    code, out, _ = run(*dead_letters.queues, "--reason", "ExportOutcomeUnknown", "--apply")

    assert code == 0
    assert out.startswith("Redrive: ")
    table = rows(out)
    assert table["ExportOutcomeUnknown"] == (1, 1, 0)
    assert table["total"] == (4, 1, 3)
    (moved,) = take_messages(dead_letters.input)
    assert moved["Body"] == dead_letters.unknown
    assert list(string_attributes(moved)) == ["requested_at"]  # the time it first resolved against
    assert queue_depth(dead_letters.dlq) == (3, 0)
    left = {
        message.raw_body: message.attributes.get("error_code")
        for message in function.take("InputDeadLetterQueue")
    }
    assert left == {
        dead_letters.invalid: "InvalidRequest",
        dead_letters.refused: "GES.7024",
        dead_letters.unreported: None,
    }


def test_after_the_fix_the_redriven_request_is_exported_exactly_once(
    run: Run, dead_letters: DeadLetters, function: Function, ges: FakeGes
) -> None:
    only_unknown = (*dead_letters.queues, "--reason", "ExportOutcomeUnknown")
    settle_as_not_started(function)

    assert run(*only_unknown, "--apply")[0] == 0
    totals = function.poller().drain()
    again = run(*only_unknown, "--apply")

    assert (totals.received, totals.succeeded) == (1, 1)
    (message,) = function.downstream()
    assert message["job_id"] in ges.jobs
    assert message["export_path"] == REQUEST["export_path"]
    assert rows(again[1])["total"] == (3, 0, 3)
    assert len(calls_for(ges, REQUEST)) == 2  # the 500, then the export the redrive asked for
    assert queue_depth(dead_letters.input) == (0, 0)


def test_a_redriven_request_resolves_its_placeholders_against_its_first_time(
    run: Run, function: Function, graphs: Graphs
) -> None:
    urls = function.stack.queue_urls
    body = json.dumps({**REQUEST, "export_path": "ges-backups/{graph_id}/{date}/"})
    boto3.client("sqs").send_message(
        QueueUrl=urls["InputDeadLetterQueue"],
        MessageBody=body,
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value}
            for name, value in {
                "error_code": "ExportOutcomeUnknown",
                "error_message": "ExportOutcomeUnknown: GES answered 504",
                "requested_at": "2026-11-20T02:00:00Z",
            }.items()
        },
    )

    assert run("--from", urls["InputDeadLetterQueue"], "--to", urls["InputQueue"], "--apply")[0] == 0
    function.poller().drain()

    (message,) = function.downstream()
    assert (message["export_path"], message["requested_at"]) == (
        "ges-backups/movies/2026-11-20/",
        "2026-11-20T02:00:00Z",
    )


def test_a_crash_between_send_and_delete_duplicates_a_request_harmlessly(
    run: Run, dead_letters: DeadLetters, function: Function, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_unknown = (*dead_letters.queues, "--reason", "ExportOutcomeUnknown")
    settle_as_not_started(function)

    def crash(self: Redrive, receipt_handle: str, message_id: str) -> None:
        raise RedriveError("simulated crash after the send")

    with monkeypatch.context() as patch:
        patch.setattr(Redrive, "_delete", crash)
        patch.setattr(moving, "HOLD_SECONDS", 0)  # as if the hold had run out before the next run
        code, out, err = run(*only_unknown, "--apply")
    assert (code, err) == (1, "redrive: error: simulated crash after the send\n")
    assert rows(out)["ExportOutcomeUnknown"] == (1, 1, 0)  # it was sent
    assert queue_depth(dead_letters.input) == (1, 0)
    assert queue_depth(dead_letters.dlq) == (4, 0)

    assert run(*only_unknown, "--apply")[0] == 0
    totals = function.poller().drain()

    assert (totals.received, totals.succeeded) == (2, 2)
    assert len(function.downstream()) == 1
    assert len(calls_for(ges, REQUEST)) == 2


def test_a_failed_send_leaves_the_message_where_it_was(
    run: Run, dead_letters: DeadLetters, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(command, "_check_queues", lambda sqs, plan: None)  # the queue goes away mid-run

    code, out, err = run("--from", dead_letters.dlq, "--to", dead_letters.input + "-gone", "--apply")

    assert code == 1
    assert "the input queue did not take message" in err
    assert "which stays where it was" in err
    assert rows(out)["total"][1] == 0
    assert queue_depth(dead_letters.dlq) == (4, 0)


def test_max_moves_at_most_that_many(run: Run, dead_letters: DeadLetters) -> None:
    code, out, _ = run(*dead_letters.queues, "--apply", "--max", "2")

    assert code == 0
    assert "at most 2" in out
    assert rows(out)["total"] == (4, 2, 2)
    assert queue_depth(dead_letters.input) == (2, 0)
    assert queue_depth(dead_letters.dlq) == (2, 0)


def test_unreported_and_wildcard_reasons(run: Run, dead_letters: DeadLetters) -> None:
    code, out, _ = run(
        *dead_letters.queues, "--reason", "Unreported", "--reason", "GES.*",
        "--apply",
    )  # fmt: skip

    assert code == 0
    assert rows(out)["total"] == (4, 2, 2)
    assert {message["Body"] for message in take_messages(dead_letters.input)} == {
        dead_letters.unreported,
        dead_letters.refused,
    }


def test_message_ids_select_single_messages(run: Run, dead_letters: DeadLetters) -> None:
    _, dry, _ = run(*dead_letters.queues)
    (refused_id,) = re.findall(r"^GES\.7024 \(1 of 1\):\n  message (\S+)$", dry, re.MULTILINE)

    code, out, _ = run(*dead_letters.queues, "--message-id", refused_id, "--apply")

    assert code == 0
    assert f"only messages {refused_id}" in out
    assert rows(out)["total"] == (4, 1, 3)
    assert [message["Body"] for message in take_messages(dead_letters.input)] == [dead_letters.refused]


def test_a_run_never_loops_over_messages_it_has_seen(
    run: Run, dead_letters: DeadLetters, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moving, "HOLD_SECONDS", 0)  # every receive brings the same messages back

    code, out, _ = run(*dead_letters.queues)

    assert code == 0
    assert rows(out)["total"] == (4, 4, 0)


def test_fifo_queues_keep_the_group_and_the_order(run: Run, stack: Any) -> None:
    sqs = boto3.client("sqs")
    fifo: dict[QueueAttributeNameType, str] = {"FifoQueue": "true"}
    dlq = sqs.create_queue(QueueName=f"{stack.name}-dlq.fifo", Attributes=fifo)["QueueUrl"]
    target = sqs.create_queue(QueueName=f"{stack.name}-input.fifo", Attributes=fifo)["QueueUrl"]
    reason: MessageAttributeValueTypeDef = {"DataType": "String", "StringValue": "ExportOutcomeUnknown"}
    kept: MessageAttributeValueTypeDef = {"DataType": "String", "StringValue": "kept-attribute-value"}
    bodies = [json.dumps({**REQUEST, "export_path": f"ges-backups/movies/{n}/"}) for n in range(3)]
    for index, body in enumerate(bodies):
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=body,
            MessageGroupId="movies",
            MessageDeduplicationId=f"d{index}",
            MessageAttributes={"error_code": reason, "error_message": reason, "trace": kept},
        )
    sqs.send_message(
        QueueUrl=dlq,
        MessageBody='{"graph_id": "friends"}',
        MessageGroupId="friends",
        MessageDeduplicationId="f",
        MessageAttributes={"error_code": {"DataType": "String", "StringValue": "InvalidRequest"}},
    )

    code, out, _ = run("--from", dlq, "--to", target, "--reason", "ExportOutcomeUnknown", "--apply")

    assert code == 0
    assert rows(out)["total"] == (4, 3, 1)
    assert "kept-attribute-value" not in out
    moved = []
    while batch := sqs.receive_message(
        QueueUrl=target,
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", []):
        for message in batch:
            sqs.delete_message(QueueUrl=target, ReceiptHandle=message["ReceiptHandle"])
        moved += batch
    assert [message["Body"] for message in moved] == bodies
    assert {message["Attributes"]["MessageGroupId"] for message in moved} == {"movies"}
    assert all(message["Attributes"]["MessageDeduplicationId"] for message in moved)
    assert [string_attributes(message)["trace"] for message in moved] == ["kept-attribute-value"] * 3
    assert queue_depth(dlq) == (1, 0)


def on_failure_record(request: Any, error: Exception | None, condition: str = "RetriesExhausted") -> str:
    """What Lambda sends to an on-failure destination after an asynchronous invocation failed."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": "2026-11-27T02:00:03.123Z",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:export-backup:$LATEST",
            "condition": condition,
            "approximateInvokeCount": 1,
        },
        "requestPayload": request,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
    }
    if error is not None:
        record["responseContext"]["functionError"] = "Unhandled"
        record["responsePayload"] = {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "requestId": record["requestContext"]["requestId"],
            "stackTrace": ['  File "/var/task/app.py", line 29, in lambda_handler\n'],
        }
    return json.dumps(record)


def test_failed_runs_are_redriven_as_their_request_payload(
    run: Run, function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    urls = function.stack.queue_urls
    tick = {**REQUEST, "export_path": "ges-backups/movies/{date}/", "scheduled_time": "2026-11-27T02:00:00Z"}
    ges.inject(Fault.http(500))
    unknown = on_failure_record(tick, function.invoke_failing(tick))
    gone = {**tick, "backup_id": "gone"}
    refused = on_failure_record(gone, function.invoke_failing(gone))
    envelope = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": "2026-11-28T02:00:00Z",
        "detail": {**REQUEST, "export_path": "ges-backups/movies/{date}/"},
    }
    expired = on_failure_record(envelope, None, condition="EventAgeExceeded")
    sqs = boto3.client("sqs")
    for body in (unknown, refused, expired, "not an invocation record"):
        sqs.send_message(QueueUrl=urls["FailedRunsQueue"], MessageBody=body)
    # A tick EventBridge Scheduler could not deliver: the schedule's input, the reason in attributes.
    scheduler = {
        "ERROR_CODE": "ThrottlingException",
        "ERROR_MESSAGE": "Rate exceeded",
        "SCHEDULE_ARN": "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/not-printed",
    }
    sqs.send_message(
        QueueUrl=urls["FailedRunsQueue"],
        MessageBody=json.dumps({**tick, "export_path": "ges-backups/movies/undelivered/"}),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in scheduler.items()},
    )
    source = ("--failed-runs", "--from", urls["FailedRunsQueue"], "--to", urls["InputQueue"])

    _, dry, _ = run(*source)
    settle_as_not_started(function)
    code, out, _ = run(*source, "--reason", "ExportOutcomeUnknown", "--reason", "EventAgeExceeded", "--apply")

    assert rows(dry) == {
        "EventAgeExceeded": (1, 1, 0),
        "ExportOutcomeUnknown": (1, 1, 0),
        "GES.7024": (1, 1, 0),
        "ThrottlingException": (1, 1, 0),
        "Unrecognized": (1, 0, 1),
        "total": (5, 4, 1),
    }
    assert "(cannot be redriven)" in dry
    assert "error: Rate exceeded" in dry
    assert "not-printed" not in dry
    assert code == 0
    assert rows(out)["total"] == (5, 2, 3)
    assert function.poller().drain().succeeded == 2
    exports = sorted(function.downstream(), key=lambda message: message["requested_at"])
    assert [(m["export_path"], m["requested_at"]) for m in exports] == [
        ("ges-backups/movies/2026-11-27/", "2026-11-27T02:00:00Z"),
        ("ges-backups/movies/2026-11-28/", "2026-11-28T02:00:00Z"),
    ]
    assert queue_depth(urls["FailedRunsQueue"]) == (3, 0)


def test_the_stack_outputs_name_the_queues(run: Run, dead_letters: DeadLetters, stack: Any) -> None:
    outputs = {
        "InputQueueUrl": dead_letters.input,
        "InputDeadLetterQueueUrl": dead_letters.dlq,
        "FailedRunsQueueUrl": stack.queue_urls["FailedRunsQueue"],
    }
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName=stack.name, TemplateBody=json.dumps(template))

    code, out, _ = run("--stack", stack.name)
    failed_runs = run("--stack", stack.name, "--failed-runs")

    assert code == 0
    assert f": {dead_letters.dlq} -> {dead_letters.input}" in out
    assert rows(out)["total"] == (4, 4, 0)
    assert f": {outputs['FailedRunsQueueUrl']} -> {dead_letters.input}" in failed_runs[1]
    assert rows(failed_runs[1])["total"] == (0, 0, 0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give --stack NAME, or both --from URL and --to URL"),
        (["--from", "http://q/a"], "give --stack NAME, or both --from URL and --to URL"),
        (["--stack", "s", "--from", "http://q/a"], "give --stack, or --from and --to, not both"),
        (["--from", "http://q/a", "--to", "http://q/b", "--max", "0"], "0 is out of range: at least 1"),
        (["--from", "http://q/a", "--to", "http://q/b", "--max", "x"], "'x' is not a whole number"),
        (["--from", "http://q/a", "--to", "http://q/b", "--apply", "--dry-run"], "not allowed with"),
        (["--from", "http://q/a", "--to", "http://q/b", "--reason", " "], "--reason needs a code"),
    ],
)
def test_bad_usage_is_refused_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_queue_or_stack_that_is_not_there_is_a_clear_error(run: Run, stack: Any) -> None:
    urls = stack.queue_urls
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(
        StackName=f"{stack.name}-other",
        TemplateBody=json.dumps({"Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}}}),
    )

    missing = run("--from", urls["InputDeadLetterQueue"] + "-gone", "--to", urls["InputQueue"])
    same = run("--from", urls["InputQueue"], "--to", urls["InputQueue"])
    no_stack = run("--stack", f"{stack.name}-none")
    other_stack = run("--stack", f"{stack.name}-other")

    assert missing[0] == 1
    assert "the source queue" in missing[2]
    assert "does not exist" in missing[2]
    assert missing[1] == ""
    assert same[0:2] == (1, "")
    assert "--from and --to are the same queue" in same[2]
    assert no_stack[0] == 1
    assert f"cannot read stack '{stack.name}-none'" in no_stack[2]
    assert other_stack[0] == 1
    assert "has no output InputDeadLetterQueueUrl" in other_stack[2]


def test_the_command_line_works(dead_letters: DeadLetters) -> None:
    command = [sys.executable, "-m", "ops.redrive"]
    usage = subprocess.run([*command, "--help"], cwd=ROOT, capture_output=True, text=True, check=False)
    dry = subprocess.run(
        [*command, *dead_letters.queues, "--wait-seconds", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert usage.returncode == 0
    assert "--reason CODE" in usage.stdout
    assert "--apply" in usage.stdout
    assert (dry.returncode, dry.stderr) == (0, "")
    assert rows(dry.stdout)["total"] == (4, 4, 0)
    assert queue_depth(dead_letters.dlq) == (4, 0)


def test_a_failed_direct_run_is_redriven_with_the_time_it_first_resolved_against(
    run: Run, function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    """A direct request carries no scheduled_time: its failed run's error text ends with the request's
    time, and the redrive keeps it, so `{timestamp}` (and `latest`) resolve as they did the first time."""
    urls = function.stack.queue_urls
    request = {**REQUEST, "backup_id": "gone", "export_path": "ges-backups/movies/{timestamp}/"}
    error = function.invoke_failing(request)
    first_time = request_time_of(str(error))
    assert first_time is not None
    ges.add_backup(PROJECT, "movies", backup_id="gone", start_timestamp=1_795_000_000_000)
    time.sleep(1.1)  # the redrive runs in a later second than the failed run
    boto3.client("sqs").send_message(
        QueueUrl=urls["FailedRunsQueue"], MessageBody=on_failure_record(request, error)
    )

    code, _, _ = run(
        "--failed-runs", "--from", urls["FailedRunsQueue"], "--to", urls["InputQueue"], "--apply"
    )
    function.poller().drain()

    (message,) = function.downstream()
    compact = first_time.replace("-", "").replace(":", "")
    assert code == 0
    assert (message["requested_at"], message["export_path"]) == (first_time, f"ges-backups/movies/{compact}/")
