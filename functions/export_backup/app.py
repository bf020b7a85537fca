"""Lambda entry point: recognise the trigger and hand its requests to the ges_backup_export layer."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from ges_backup_export.core import metrics
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.observability import logger
from ges_backup_export.export.batch import ConcurrentBatchProcessor
from ges_backup_export.export.concurrency import ExportTurns
from ges_backup_export.export.runtime import current_runtime
from ges_backup_export.export.triggers import is_queue_event

# Records handled concurrently (export/concurrency.py); a batch whose every record failed is answered like any
# other (batchItemFailures), not raised: its failures are already reported one by one.
processor = ConcurrentBatchProcessor()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> Mapping[str, Any]:
    runtime = current_runtime()
    runtime.records.register_lambda_context(context)
    processor.requests = runtime.requests
    deadline = Deadline.after_ms(context.get_remaining_time_in_millis())
    try:
        if is_queue_event(event):
            return process_partial_response(
                event=event,
                record_handler=partial(runtime.runner.run_record, deadline=deadline, turns=ExportTurns()),
                processor=processor,
                context=context,
            )
        return runtime.runner.run_event(event, deadline)
    finally:
        metrics.publish()
