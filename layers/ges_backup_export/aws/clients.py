"""How every AWS client of the job is configured, and the worst case that follows for the deadline.

Short timeouts and one retry: DynamoDB, SQS and Secrets Manager answer in milliseconds inside a region,
and the calls made after GES accepted an export (the downstream and tracking sends, the idempotency
record's UpdateItem, a dead-letter send) must fit the margin the GES client keeps free for them
(deadline.MARGIN_SECONDS is computed from these numbers, so the two cannot drift).
"""

from __future__ import annotations

from botocore.config import Config

CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
MAX_ATTEMPTS = 2
# botocore's standard retry mode waits at most rand(0, 1) * 1 s before the second attempt (throttling).
MAX_RETRY_WAIT_SECONDS = 1.0
WORST_CALL_SECONDS = (
    MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS)
    + (MAX_ATTEMPTS - 1) * MAX_RETRY_WAIT_SECONDS
)
# After the last GES call of a request: downstream send, tracking send, UpdateItem, dead-letter send.
CALLS_AFTER_GES = 4

# Pass as `config=` to every boto3 client (they are safe to share across threads).
CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    # total_max_attempts counts the first attempt (botocore's max_attempts would count only the retries).
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
)

# EventBridge's PutEvents has no idempotency key: repeating a put whose answer did not come may put the
# completion event twice. So the events client never repeats a call by itself (the tracking message is
# retried instead, and the tracker says when a job may be announced twice), and waits longer for an
# answer, the whole of one worst call (so the deadline's margin still holds).
EVENTS_READ_TIMEOUT_SECONDS = WORST_CALL_SECONDS - CONNECT_TIMEOUT_SECONDS
EVENTS_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=EVENTS_READ_TIMEOUT_SECONDS,
    retries={"mode": "standard", "total_max_attempts": 1},
)
