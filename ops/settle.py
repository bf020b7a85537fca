"""Settle exports whose outcome is unknown, once you have looked at the graph's jobs in GES.

    python -m ops.settle --stack STACK                                   # list the unknown exports
    python -m ops.settle --stack STACK started EXPORT --job-id JOB_ID     # it started, as that job
    python -m ops.settle --stack STACK not-started EXPORT                 # it did not start
    python -m ops.settle --table TABLE --downstream QUEUE_URL [--tracking QUEUE_URL] ...  # no stack

An export is unknown when GES answered 500, 504 or nothing after the export request was sent, or when
the invocation handling it died: GES may have started it, and has no idempotency key, so the function
never sends it again (every request for it ends ExportOutcomeUnknown and is dead-lettered). EXPORT is
the reference the error message and this list show (the record's key after `#`).

- `started`: the export becomes the started export JOB_ID: its downstream message is sent once, now, and
  so is its tracking message when the stack has a job tracker (the stack's TrackingQueueUrl output, or
  --tracking), undelayed, so the tracker checks the job at once and announces its end (its timeout counts
  from the time of settling, when the job is known to exist); every later
  request for it gets JOB_ID back as a duplicate (so a redrive of its dead-lettered request delivers
  nothing twice; delete that message instead).
- `not-started`: the export is forgotten; the next request for it exports. Then redrive its
  dead-lettered request (`python -m ops.redrive --stack STACK --message-id ID --apply`).

Both change a record only while it is still unknown.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import boto3

from ges_backup_export.aws.queues import SqsQueue
from ges_backup_export.core.errors import ExportError
from ges_backup_export.export.deduplication import ExportRecords, StartedExport
from ges_backup_export.export.delivery import Delivery
from ges_backup_export.export.settings import DEFAULT_IDEMPOTENCY_TTL_SECONDS
from ges_backup_export.restore import settle as restore_settle
from ops.settlement import SettleError, Settlement, UnknownExport
from ops.stack import StackError, output, stack_outputs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# A settle run's lock on the delivery expires after this, should the run die while sending.
DELIVERY_LOCK_MILLIS = 60_000


class _ToolContext:
    """What the idempotency lock reads of a Lambda context: how long the holder may take."""

    def get_remaining_time_in_millis(self) -> int:
        return DELIVERY_LOCK_MILLIS


def main(argv: Sequence[str] | None = None) -> int:
    """0 when done (a listing included), 1 on an error, 2 on bad usage."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.table and not args.downstream and args.action == "started":
        parser.error("started needs the downstream queue: give --downstream URL with --table")
    try:
        _run(args)
    except (SettleError, StackError) as error:
        print(f"settle: error: {error}", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> None:
    table, downstream, tracking = _where(args)
    dynamodb: DynamoDBClient = boto3.client("dynamodb")
    settlement = Settlement(table, dynamodb)
    if args.action == "started":
        sqs = boto3.client("sqs")
        # The job tracker checks a settled job at once: it may have ended long ago.
        delivery = Delivery(SqsQueue(downstream, sqs), SqsQueue(tracking, sqs) if tracking else None, 0)
        _started(settlement, ExportRecords(table, args.ttl_seconds, dynamodb), delivery, args)
    elif args.action == "not-started":
        _not_started(settlement, args)
    else:
        print(listing(settlement.unknown()))


def _started(
    settlement: Settlement, records: ExportRecords, delivery: Delivery, args: argparse.Namespace
) -> None:
    started = settlement.started(args.export, args.job_id, tracked=delivery.tracks)
    records.register_lambda_context(_ToolContext())  # type: ignore[arg-type]
    if restore_settle.is_import(started["message"]):  # a restore test's import (restore/settle.py)
        _started_import(records, started, args)
        return
    try:
        delivery.owed(records, started["message"], started)
    except ExportError as error:
        raise SettleError(
            f"export {args.export} is now recorded as job {args.job_id}, but its messages were not all "
            f"sent ({error}); the next request for the export sends them"
        ) from None
    print(
        f"export {args.export}: started as job {args.job_id}; its downstream message is sent"
        + (" and the job tracker follows it" if delivery.tracks else "")
        + ". Delete its dead-lettered request (a redrive of it would only return the job as a duplicate)."
    )


def _not_started(settlement: Settlement, args: argparse.Namespace) -> None:
    export = settlement.not_started(args.export)
    if restore_settle.is_import(export):  # a restore test's import: its graph is free again
        table = _where(args)[0]
        restore_settle.forget(table, boto3.client("dynamodb"), dict(export), args.export)
        print(
            f"import {args.export} (graph {export['graph_id']}, path {export['export_path']}) is forgotten. "
            "To test it again, invoke the restore tester with the same event (its scheduled_time too)."
        )
        return
    print(
        f"export {args.export} (graph {export['graph_id']}, backup {export['backup_id']}, path "
        f"{export['export_path']}) is forgotten: the next request for it exports. Redrive its "
        "dead-lettered request: python -m ops.redrive ... --message-id <ID> --apply"
    )


def _started_import(records: ExportRecords, started: StartedExport, args: argparse.Namespace) -> None:
    """A settled import: its job to the restore tester's follow-up queue, once."""
    url = (stack_outputs(args.stack).get("RestoreTestQueueUrl") if args.stack else None) or args.restore_queue
    if not url:
        raise SettleError(
            "an import goes to the restore tester's queue: give --restore-queue URL with --table"
        )
    try:
        restore_settle.hand_over(records, started, SqsQueue(url, boto3.client("sqs")))
    except ExportError as error:
        raise SettleError(
            f"import {args.export} is now recorded as job {args.job_id}, but handing it to the restore "
            f"tester failed ({error}); the next request for the test sends it"
        ) from None
    print(
        f"import {args.export}: started as job {args.job_id}; the restore tester follows it and puts the "
        "test's event."
    )


def listing(unknown: list[UnknownExport]) -> str:
    """The unknown exports, oldest first, with what a person needs to look them up in GES."""
    if not unknown:
        return "No export has an unknown outcome."
    lines = [f"{len(unknown)} exports with an unknown outcome, oldest first:"]
    for entry in unknown:
        export = entry.export
        lines += [
            "",
            f"export {entry.reference}  since {entry.since}",
            f"  project {export.get('project_id')}  graph {export.get('graph_id')}  "
            f"backup {export.get('backup_id')}",
            f"  path {export.get('export_path')}  "
            f"({export.get('trigger')}, requested {export.get('requested_at')})",
            f"  why: {entry.reason}",
        ]
    lines += [
        "",
        "Look for each in the graph's jobs in GES (GET /v2/{project_id}/graphs/jobs, or the console) and",
        "in its OBS directory, then: started EXPORT --job-id JOB_ID, or: not-started EXPORT.",
    ]
    return "\n".join(lines)


def _where(args: argparse.Namespace) -> tuple[str, str, str | None]:
    """The idempotency table, the downstream queue and the tracking queue (None: no tracker), from the
    stack's outputs or as given."""
    if args.stack:
        outputs = stack_outputs(args.stack)
        table = output(outputs, "IdempotencyTableName", args.stack)
        return table, output(outputs, "DownstreamQueueUrl", args.stack), outputs.get("TrackingQueueUrl")
    return args.table, args.downstream, args.tracking


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.settle",
        description="List exports whose outcome is unknown, and settle each one after checking GES.",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", metavar="NAME", help="the deployed stack (its outputs name the rest)")
    where.add_argument("--table", metavar="NAME", help="the idempotency table (with --downstream)")
    parser.add_argument("--downstream", metavar="URL", help="the downstream queue (with --table)")
    parser.add_argument("--tracking", metavar="URL", help="the job tracker's queue, if any (with --table)")
    parser.add_argument("--restore-queue", metavar="URL", help="the restore tester's queue (with --table)")
    parser.add_argument(
        "--ttl-seconds",
        type=int,
        default=DEFAULT_IDEMPOTENCY_TTL_SECONDS,
        help="the function's IDEMPOTENCY_TTL_SECONDS (how long a settled export stays remembered)",
    )
    actions = parser.add_subparsers(dest="action", metavar="{list,started,not-started}")
    actions.add_parser("list", help="the exports whose outcome is unknown (the default)")
    started = actions.add_parser("started", help="it started, as job JOB_ID: deliver and remember it")
    started.add_argument("export", metavar="EXPORT", help="the export's reference")
    started.add_argument("--job-id", required=True, help="GES's job id of the export")
    not_started = actions.add_parser("not-started", help="it did not start: forget it")
    not_started.add_argument("export", metavar="EXPORT", help="the export's reference")
    return parser


if __name__ == "__main__":
    sys.exit(main())
