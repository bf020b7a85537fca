"""Lambda entry point of the restore tester: a schedule tick or a console import (a restore test per
graph, or an import by hand), or an SQS batch of its follow-up queue (each import job checked once)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from ges_backup_export.core import metrics
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.observability import logger
from ges_backup_export.export.triggers import is_queue_event
from ges_backup_export.restore.runtime import current_restore_tester

# A batch whose every record failed is answered like any other (batchItemFailures), not raised.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> Mapping[str, Any]:
    runtime = current_restore_tester()
    runtime.records.register_lambda_context(context)
    runtime.tests.register_lambda_context(context)
    deadline = Deadline.after_ms(context.get_remaining_time_in_millis())
    try:
        if is_queue_event(event):
            return process_partial_response(
                event=event,
                record_handler=partial(runtime.follower.run_record, deadline=deadline),
                processor=processor,
                context=context,
            )
        return runtime.tester.run_event(event, deadline)
    finally:
        metrics.publish()
