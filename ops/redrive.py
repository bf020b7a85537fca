"""Redrive dead-lettered export requests to the input queue, once their cause is fixed.

    python -m ops.redrive --stack STACK                                        # dry run: count, show
    python -m ops.redrive --stack STACK --reason ExportOutcomeUnknown --apply  # move those
    python -m ops.redrive --from DLQ_URL --to INPUT_URL --reason 'GES.*' --apply
    python -m ops.redrive --stack STACK --message-id ID --message-id ID --apply    # just those

A dry run is the default: it counts the messages by reason, shows a few, and moves nothing; `--apply`
moves. SQS's own `StartMessageMoveTask` (the console's "Start DLQ redrive") has no filter and no dry
run, and cannot turn a failed run's invocation record back into a request, so this uses the plain
queue calls:

- each message is received (hidden for HOLD_SECONDS while the run looks at it) and given its reason.
  One that is to be moved is sent to the input queue, body unchanged and without the `error_code` and
  `error_message` attributes, and deleted from the source only once the send succeeded: nothing is
  lost. A crash between the two leaves the request in both queues, so a later run sends it again; the
  export's idempotency (for IDEMPOTENCY_TTL_SECONDS, a day by default) makes that copy start nothing
  (but see "Time placeholders");
- every message it does not move is made visible again before the run ends: a dry run hides nothing;
- the run ends when a receive stays empty for `--wait-seconds`, or brings only messages this run has
  already seen (it tracks message ids), so it never loops over the same messages.

Reasons. In the input dead-letter queue: the `error_code` attribute the function set
(`ExportOutcomeUnknown`, `InvalidRequest`, `GES.7024`, ...); a message that SQS moved there itself,
after `maxReceiveCount` receives, has none and is `Unreported`. With `--failed-runs` the source is
FailedRunsQueue, which holds two formats:

- Lambda's on-failure record of an asynchronous invocation (AWS Lambda developer guide, "Capturing
  records of asynchronous invocations"): a JSON body `{"version": "1.0", "timestamp": ...,
  "requestContext": {"requestId", "functionArn", "condition": "RetriesExhausted" | "EventAgeExceeded",
  "approximateInvokeCount"}, "requestPayload": <the event>, "responseContext": {"statusCode",
  "executedVersion", "functionError"}, "responsePayload": {"errorMessage", "errorType", "stackTrace"}}`.
  What is sent is `requestPayload` (an EventBridge envelope becomes its `detail`, with the envelope's
  `time` as `scheduled_time`, which is how the function reads it). The reason is the code that starts
  `errorMessage` (our errors' messages start with theirs), else `errorType`, else the `condition`;
- EventBridge Scheduler's dead-letter event, for a tick that never reached the function: the body is
  the schedule's input, sent as it is; the reason is the `ERROR_CODE` attribute.

Anything else there is `Unrecognized` and is never moved.

Time placeholders. A redriven request is a new SQS message, which would resolve `{date}` and
`{timestamp}` against the time of the redrive. So it carries the `requested_at` message attribute: the
time the function resolved it against the first time (set by the function when it dead-letters a
record; for a message SQS moved itself, the `SentTimestamp` SQS kept). The function resolves a record
with that attribute against it, so a redriven request is the same export as before, and idempotency
applies.

FIFO queues. The group id is kept (from a standard queue: the request's graph id) and the
deduplication id is the source message's id, so SQS drops a second send within five minutes. A message
left in a FIFO source holds its group until the run ends, so the messages behind it are neither counted
nor moved: the order within a group is kept.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ges_backup_export.message_format import (
    ERROR_CODE,
    ERROR_MESSAGE,
    REQUESTED_AT,
    code_of,
    format_time,
    is_envelope,
    request_time_of,
)
from ops.stack import StackError, output, stack_outputs

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        MessageAttributeValueTypeDef,
        MessageTypeDef,
        SendMessageRequestTypeDef,
    )

# How long a received message stays hidden while a run looks at it. Messages not moved are released
# (visibility 0) at the end; this only matters if the run dies, or lasts longer than this.
HOLD_SECONDS = 300
UNREPORTED = "Unreported"
UNREPORTED_DETAIL = "no error_code: SQS moved it after maxReceiveCount receives; find its id in the logs"
UNRECOGNIZED = "Unrecognized"
REASON_ATTRIBUTES = (ERROR_CODE, ERROR_MESSAGE)
# Lambda's own messages look alike ("RequestId: ... Process exited before completing request").
_NOT_CODES = frozenset({"RequestId"})
_GROUP_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
FALLBACK_GROUP_ID = "redrive"
SHOWN_CHARACTERS = 300


class RedriveError(Exception):
    """A problem that stops the run, worded for the person running it."""


@dataclass(frozen=True)
class Plan:
    """What one run does: from where to where, which reasons, and whether it moves anything."""

    source: str
    target: str
    failed_runs: bool = False
    reasons: tuple[str, ...] = ()
    message_ids: frozenset[str] = frozenset()
    apply: bool = False
    limit: int | None = None
    wait_seconds: int = 2
    samples: int = 3

    def selects(self, candidate: Candidate) -> bool:
        if self.message_ids and candidate.message_id not in self.message_ids:
            return False
        return not self.reasons or any(fnmatchcase(candidate.reason, pattern) for pattern in self.reasons)


@dataclass(frozen=True)
class Candidate:
    """One received message: its reason, and the body a redrive sends (None: it cannot be redriven)."""

    message_id: str
    receipt_handle: str
    reason: str
    detail: str
    body: str | None
    group_id: str
    attributes: dict[str, MessageAttributeValueTypeDef]


@dataclass
class Tally:
    found: Counter[str] = field(default_factory=Counter)
    moved: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[Candidate]] = field(default_factory=dict)
    unreleased: int = 0

    def count(self, candidate: Candidate, samples: int) -> None:
        self.found[candidate.reason] += 1
        shown = self.samples.setdefault(candidate.reason, [])
        if len(shown) < samples:
            shown.append(candidate)


# -- what a message is ---------------------------------------------------------------------------


def classify(message: MessageTypeDef, failed_runs: bool) -> Candidate:
    """The reason of a received message and what a redrive would send for it."""
    body = message.get("Body", "")
    strings = {
        name: value.get("StringValue", "") for name, value in message.get("MessageAttributes", {}).items()
    }
    if not failed_runs:
        if ERROR_CODE not in strings:
            return _candidate(message, UNREPORTED, UNREPORTED_DETAIL, body, _forwarded(message))
        reason, detail = strings[ERROR_CODE], strings.get(ERROR_MESSAGE, "")
        return _candidate(message, reason, detail, body, _forwarded(message))
    record = _json_object(body)
    if record is not None and "requestContext" in record and "requestPayload" in record:
        reason, detail = failure_reason(record)
        payload = record["requestPayload"]
        return _candidate(
            message, reason, detail, json.dumps(_request_of(payload)), _run_time(payload, detail)
        )
    if strings.get("ERROR_CODE"):
        return _candidate(message, strings["ERROR_CODE"], strings.get("ERROR_MESSAGE", ""), body, {})
    detail = "neither a Lambda invocation record nor an EventBridge Scheduler dead-letter event"
    return _candidate(message, UNRECOGNIZED, detail, None, {})


def failure_reason(record: dict[str, Any]) -> tuple[str, str]:
    """The reason and error message of a Lambda on-failure invocation record."""
    response = record.get("responsePayload")
    response = response if isinstance(response, dict) else {}
    message = str(response.get("errorMessage") or "")
    code = code_of(message)
    if code and code not in _NOT_CODES:
        return code, message
    context = record.get("requestContext")
    condition = context.get("condition") if isinstance(context, dict) else None
    return str(response.get("errorType") or condition or UNREPORTED), message or str(condition or "")


def _request_of(payload: object) -> object:
    """The request a failed run carried. An EventBridge envelope's tick becomes `scheduled_time`."""
    if is_envelope(payload) and isinstance(payload["detail"], dict):
        detail: dict[str, Any] = payload["detail"]
        tick = payload.get("time")
        if isinstance(detail.get("exports"), list):
            return {**detail, "exports": [_at(entry, tick) for entry in detail["exports"]]}
        return _at(detail, tick)
    return payload


def _run_time(payload: object, error_message: str) -> dict[str, MessageAttributeValueTypeDef]:
    """The time a failed direct run resolved its request against (its error text ends with it), as the
    `requested_at` attribute: the redriven request then resolves `latest` and its placeholders the same.
    An envelope's tick is the request's `scheduled_time` already."""
    at = request_time_of(error_message)
    if at is None or is_envelope(payload):
        return {}
    return {REQUESTED_AT: {"DataType": "String", "StringValue": at}}


def _at(request: object, tick: object) -> object:
    if isinstance(request, dict) and isinstance(tick, str) and "scheduled_time" not in request:
        return {**request, "scheduled_time": tick}
    return request


def _candidate(
    message: MessageTypeDef,
    reason: str,
    detail: str,
    body: str | None,
    attributes: dict[str, MessageAttributeValueTypeDef],
) -> Candidate:
    return Candidate(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        reason=reason,
        detail=detail,
        body=body,
        group_id=_group_id(message, body),
        attributes=attributes,
    )


def _forwarded(message: MessageTypeDef) -> dict[str, MessageAttributeValueTypeDef]:
    """The message attributes that go back with the body: all but the reason the function added, and
    `requested_at` (the function's reference time for the record: from the function, else when SQS
    first received the message, which SQS keeps when it moves a message to its dead-letter queue)."""
    kept: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        if name in REASON_ATTRIBUTES:
            continue
        kept[name] = {"DataType": value["DataType"]}
        if "StringValue" in value:
            kept[name]["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            kept[name]["BinaryValue"] = value["BinaryValue"]
    sent = message.get("Attributes", {}).get("SentTimestamp")
    if REQUESTED_AT not in kept and sent and sent.isdigit():
        first = format_time(datetime.fromtimestamp(int(sent) / 1000, UTC))
        kept[REQUESTED_AT] = {"DataType": "String", "StringValue": first}
    return kept


def _group_id(message: MessageTypeDef, body: str | None) -> str:
    """For a FIFO input queue: the message's own group, else its graph id (as downstream uses)."""
    group = message.get("Attributes", {}).get("MessageGroupId")
    if group:
        return group
    request = _json_object(body or "")
    graph_id = request.get("graph_id") if request else None
    if isinstance(graph_id, str) and _GROUP_ID.fullmatch(graph_id):
        return graph_id
    return FALLBACK_GROUP_ID


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


# -- the run -------------------------------------------------------------------------------------


class Redrive:
    """One pass over the source queue, as the plan says."""

    def __init__(self, sqs: SQSClient, plan: Plan) -> None:
        self._sqs = sqs
        self._plan = plan
        self._seen: set[str] = set()
        self._moved: set[str] = set()
        self._held: list[str] = []
        self.tally = Tally()

    def run(self) -> Tally:
        try:
            while batch := self._receive():
                fresh = [message for message in batch if message["MessageId"] not in self._seen]
                self._take_batch(batch)
                if not fresh:
                    break
        finally:
            self._release()
        return self.tally

    def _take_batch(self, batch: list[MessageTypeDef]) -> None:
        for index, message in enumerate(batch):
            try:
                self._take(message)
            except BaseException:
                # Stopping (an error, Ctrl-C): the rest of the batch is released with the others.
                self._held += [rest["ReceiptHandle"] for rest in batch[index + 1 :]]
                raise

    def _receive(self) -> list[MessageTypeDef]:
        try:
            return self._sqs.receive_message(
                QueueUrl=self._plan.source,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=self._plan.wait_seconds,
                VisibilityTimeout=HOLD_SECONDS,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
        except (BotoCoreError, ClientError) as error:
            raise RedriveError(f"could not receive from {self._plan.source}: {error}") from None

    def _take(self, message: MessageTypeDef) -> None:
        if message["MessageId"] in self._seen:
            self._again(message)
            return
        self._seen.add(message["MessageId"])
        candidate = classify(message, self._plan.failed_runs)
        self.tally.count(candidate, self._plan.samples)
        if not self._wanted(candidate):
            self._held.append(candidate.receipt_handle)
            return
        if self._plan.apply:
            self._move(candidate)
        else:
            self._held.append(candidate.receipt_handle)
            self.tally.moved[candidate.reason] += 1

    def _wanted(self, candidate: Candidate) -> bool:
        limit = self._plan.limit
        return (
            candidate.body is not None
            and self._plan.selects(candidate)
            and (limit is None or sum(self.tally.moved.values()) < limit)
        )

    def _again(self, message: MessageTypeDef) -> None:
        """A message this run has seen came back: its hold ran out, or SQS delivered a second copy."""
        if message["MessageId"] in self._moved:
            self._delete(message["ReceiptHandle"], message["MessageId"])
        else:
            self._held.append(message["ReceiptHandle"])

    def _move(self, candidate: Candidate) -> None:
        """Send first, then delete: a failure in between can duplicate a request, never lose one."""
        request: SendMessageRequestTypeDef = {
            "QueueUrl": self._plan.target,
            "MessageBody": candidate.body or "",
        }
        if candidate.attributes:
            request["MessageAttributes"] = candidate.attributes
        if self._plan.target.endswith(".fifo"):
            request["MessageGroupId"] = candidate.group_id
            request["MessageDeduplicationId"] = candidate.message_id
        try:
            self._sqs.send_message(**request)
        except (BotoCoreError, ClientError) as error:
            self._held.append(candidate.receipt_handle)
            raise RedriveError(
                f"the input queue did not take message {candidate.message_id}, which stays where it was: "
                f"{error}"
            ) from None
        self._moved.add(candidate.message_id)
        self.tally.moved[candidate.reason] += 1
        self._delete(candidate.receipt_handle, candidate.message_id)

    def _delete(self, receipt_handle: str, message_id: str) -> None:
        try:
            self._sqs.delete_message(QueueUrl=self._plan.source, ReceiptHandle=receipt_handle)
        except (BotoCoreError, ClientError) as error:
            raise RedriveError(
                f"message {message_id} was sent to the input queue but is still in {self._plan.source} "
                f"({error}); delete it there, or the next redrive sends it again (a copy of the same "
                "export starts nothing)"
            ) from None

    def _release(self) -> None:
        """Make every message this run did not move visible again at once."""
        for start in range(0, len(self._held), 10):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(self._held[start : start + 10])
            ]
            try:
                answer = self._sqs.change_message_visibility_batch(
                    QueueUrl=self._plan.source, Entries=entries
                )
                self.tally.unreleased += len(answer.get("Failed", []))
            except (BotoCoreError, ClientError):
                self.tally.unreleased += len(entries)
        self._held.clear()


# -- the report ----------------------------------------------------------------------------------


def report(plan: Plan, tally: Tally) -> str:
    """Counts by reason (found, moved or would move, left), then a few messages of each reason."""
    verb = "moved" if plan.apply else "would move"
    lines = [
        f"{'Redrive' if plan.apply else 'Dry run, nothing moved (add --apply to move)'}: "
        f"{plan.source} -> {plan.target}",
        f"selected: {', '.join(plan.reasons) if plan.reasons else 'every reason'}"
        + (f", only messages {', '.join(sorted(plan.message_ids))}" if plan.message_ids else "")
        + (f", at most {plan.limit}" if plan.limit is not None else ""),
        "",
    ]
    rows = [(reason, tally.found[reason], tally.moved[reason]) for reason in sorted(tally.found)]
    rows.append(("total", sum(tally.found.values()), sum(tally.moved.values())))
    width = max(len(row[0]) for row in rows)
    lines.append(f"{'reason':<{width}}  {'found':>6}  {verb:>10}  {'left':>6}")
    lines += [
        f"{reason:<{width}}  {found:>6}  {moved:>10}  {found - moved:>6}" for reason, found, moved in rows
    ]
    lines += _samples(tally)
    if tally.unreleased:
        lines.append(
            f"\n{tally.unreleased} messages could not be made visible again: they are back in "
            f"{HOLD_SECONDS} s at the latest."
        )
    return "\n".join(lines)


def _samples(tally: Tally) -> list[str]:
    lines: list[str] = []
    for reason in sorted(tally.samples):
        shown = tally.samples[reason]
        if not shown:
            continue
        lines.append(f"\n{reason} ({len(shown)} of {tally.found[reason]}):")
        for candidate in shown:
            lines.append(f"  message {candidate.message_id}")
            if candidate.detail:
                lines.append(f"    error: {_short(candidate.detail)}")
            body = "(cannot be redriven)" if candidate.body is None else _short(candidate.body)
            lines.append(f"    body:  {body}")
    return lines


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SHOWN_CHARACTERS else line[: SHOWN_CHARACTERS - 3] + "..."


# -- the command line ----------------------------------------------------------------------------


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
        epilog="Check the README's runbook first: for ExportOutcomeUnknown, look up the graph's jobs in "
        "GES and redrive only what did not start.",
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


if __name__ == "__main__":
    sys.exit(main())
