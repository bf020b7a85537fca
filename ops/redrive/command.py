"""The command line of `python -m ops.redrive`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ops.redrive.moving import Redrive
from ops.redrive.plan import Plan, RedriveError
from ops.redrive.report import report
from ops.redrive.sources import UNREPORTED
from ops.stack import StackError, output, stack_outputs

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 when it did what was asked (a dry run included), 1 on an error, 2 on bad usage."""
    args = _parse(argv)
    try:
        plan = _plan(args)
        sqs: SQSClient = boto3.client("sqs")
        _check_queues(sqs, plan)
        redrive = Redrive(sqs, plan)
        try:
            redrive.run()
        finally:
            print(report(plan, redrive.tally))
    except (RedriveError, StackError) as error:
        print(f"redrive: error: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"redrive: error: AWS: {error}", file=sys.stderr)
        return 1
    return 0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.stack and (args.source or args.target):
        parser.error("give --stack, or --from and --to, not both")
    if not args.stack and not (args.source and args.target):
        parser.error("give --stack NAME, or both --from URL and --to URL")
    if any(not reason.strip() for reason in args.reason):
        parser.error("--reason needs a code, e.g. --reason ExportOutcomeUnknown")
    return args


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.redrive",
        description="Move dead-lettered export requests back to the input queue, after their cause is "
        "fixed. Without --apply it is a dry run: it counts by reason and shows a few, moving nothing.",
        epilog="Check the runbook (docs/operations.md) first: for ExportOutcomeUnknown, look up the graph's "
        "jobs in GES and redrive only what did not start.",
    )
    queues = parser.add_argument_group("queues (give --stack, or --from and --to)")
    queues.add_argument(
        "--stack",
        metavar="NAME",
        help="CloudFormation stack: InputDeadLetterQueueUrl (FailedRunsQueueUrl with --failed-runs) "
        "and InputQueueUrl from its outputs",
    )
    queues.add_argument("--from", dest="source", metavar="URL", help="the queue to redrive from")
    queues.add_argument("--to", dest="target", metavar="URL", help="the input queue")
    parser.add_argument(
        "--failed-runs",
        action="store_true",
        help="the source holds failed scheduled runs (Lambda on-failure records): send their requestPayload",
    )
    parser.add_argument(
        "--reason",
        action="append",
        default=[],
        metavar="CODE",
        help="only messages with this reason (repeatable; wildcards as in 'GES.*'); "
        f"{UNREPORTED} for messages SQS moved without one. Default: every reason",
    )
    parser.add_argument(
        "--message-id",
        action="append",
        default=[],
        metavar="ID",
        help="only this message (repeatable), e.g. the ExportOutcomeUnknown ones GES shows no job for",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="count and show, move nothing (the default)")
    mode.add_argument("--apply", action="store_true", help="move the selected messages")
    parser.add_argument("--max", dest="limit", type=_count(1), metavar="N", help="move at most N messages")
    parser.add_argument(
        "--samples", type=_count(0), default=3, metavar="N", help="messages shown per reason (default 3)"
    )
    parser.add_argument(
        "--wait-seconds",
        type=_count(0, 20),
        default=2,
        metavar="S",
        help="long-poll time of each receive; the run ends when one stays empty (default 2)",
    )
    return parser


def _count(low: int, high: int | None = None) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: {bounds}")
        return value

    return parse


def _plan(args: argparse.Namespace) -> Plan:
    if args.stack:
        outputs = stack_outputs(args.stack)
        source_key = "FailedRunsQueueUrl" if args.failed_runs else "InputDeadLetterQueueUrl"
        source = output(outputs, source_key, args.stack)
        target = output(outputs, "InputQueueUrl", args.stack)
    else:
        source, target = args.source, args.target
    if source == target:
        raise RedriveError(f"--from and --to are the same queue ({source})")
    return Plan(
        source=source,
        target=target,
        failed_runs=args.failed_runs,
        reasons=tuple(reason.strip() for reason in args.reason),
        message_ids=frozenset(args.message_id),
        apply=args.apply,
        limit=args.limit,
        wait_seconds=args.wait_seconds,
        samples=args.samples,
    )


def _check_queues(sqs: SQSClient, plan: Plan) -> None:
    """Both queues exist (and can be read) before anything is received."""
    for role, url in (("source", plan.source), ("input", plan.target)):
        try:
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        except sqs.exceptions.QueueDoesNotExist:
            raise RedriveError(
                f"the {role} queue {url} does not exist (check the URL, the region and the account)"
            ) from None
        except (BotoCoreError, ClientError) as error:
            raise RedriveError(f"cannot reach the {role} queue {url}: {error}") from None
