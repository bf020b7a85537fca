"""Putting one event on EventBridge, as the job tracker and the restore tester announce what ended.

PutEvents has no idempotency key: a put whose answer never came may have put the event, and putting it
again may put it twice. The events client never repeats a call by itself (clients.EVENTS_CONFIG); a put
without an answer is logged as a WARNING naming the job that may be announced twice, and raised, so that
the caller's message is retried. A put EventBridge refused (`FailedEntryCount`) is raised too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError

from ges_backup_export.core.errors import DependencyUnavailable
from ges_backup_export.core.message_format import EVENT_SOURCE
from ges_backup_export.core.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

# The put was sent and no answer came: EventBridge may have put the event.
_NO_ANSWER = (ReadTimeoutError, ConnectionClosedError)


def put_event(
    events: EventBridgeClient,
    bus: str,
    detail_type: str,
    detail: Mapping[str, Any],
    *,
    what: str,
    retried: str,
) -> None:
    """Put one event (Source `ges-backup-export`) whose detail names a `job_id`; `what` names the event in
    errors, `retried` what is retried when the put failed (the warning says it may announce twice)."""
    entry: PutEventsRequestEntryTypeDef = {
        "Source": EVENT_SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "EventBusName": bus,
    }
    try:
        answer = events.put_events(Entries=[entry])
    except _NO_ANSWER as error:
        logger.warning(
            "EventBridge gave no answer to the put: the event may have been put, and the job may be "
            f"announced twice when {retried} is retried (consumers key on job_id)",
            extra={"job_id": detail.get("job_id"), "error": str(error)},
        )
        raise DependencyUnavailable(f"EventBridge did not answer the put: {error}") from None
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"EventBridge did not take the {what}: {error}") from None
    if answer.get("FailedEntryCount"):
        refused = answer["Entries"][0]
        reason = f"{refused.get('ErrorCode')} {refused.get('ErrorMessage')}"
        raise DependencyUnavailable(f"EventBridge refused the {what}: {reason}")
