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
  export's idempotency (for IDEMPOTENCY_TTL_SECONDS, 15 days by default) makes that copy start nothing
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

The parts: `plan` (what a run does and what it found), `sources` (what a message is, and what goes back
for it), `moving` (the pass over the source queue), `report` (what is printed), `command` (the command
line).
"""

from ops.redrive.command import main
from ops.redrive.moving import Redrive
from ops.redrive.plan import RedriveError

__all__ = ["Redrive", "RedriveError", "main"]
