"""Powertools' batch processing, with the records of one SQS batch handled concurrently.

Powertools' BatchProcessor calls the record handler for one record after the other, and Powertools
offers no thread-pool processor (its async one cannot hold the idempotency lock, which is synchronous).
This keeps all of BatchProcessor's contract (each record's failure collected, the partial batch
response, `raise_on_entire_batch_failure=False`: a batch whose every record failed is answered with
its failures, not raised) and only runs the records through `Requests.run_each`: on threads (GES sees
at most GES_CONCURRENCY calls at a time), one after the other with 1. Collecting a record's outcome
appends to lists, which is safe from several threads.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from ges_backup_export.export.concurrency import Requests


class ConcurrentBatchProcessor(BatchProcessor):
    def __init__(self) -> None:
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.requests = Requests(1)  # set per invocation, from the runtime (GES_CONCURRENCY)

    def process(self) -> list[tuple[Any, ...]]:
        return self.requests.run_each(list(self.records), self._process_record)
