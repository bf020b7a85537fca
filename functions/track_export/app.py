"""Lambda entry point of the job tracker: one SQS batch of tracking messages, each job checked once."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from ges_backup_export.core import metrics
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import InvalidRequest
from ges_backup_export.core.observability import logger
from ges_backup_export.export.triggers import is_queue_event
from ges_backup_export.tracker.runtime import current_tracker

# A batch whose every record failed is answered like any other (batchItemFailures), not raised.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> Mapping[str, Any]:
    if not is_queue_event(event):
        raise InvalidRequest("event", "the job tracker takes SQS batches from its tracking queue")
    runtime = current_tracker()
    runtime.announcer.register_lambda_context(context)
    deadline = Deadline.after_ms(context.get_remaining_time_in_millis())
    try:
        return process_partial_response(
            event=event,
            record_handler=partial(runtime.runner.run_record, deadline=deadline),
            processor=processor,
            context=context,
        )
    finally:
        metrics.publish()
