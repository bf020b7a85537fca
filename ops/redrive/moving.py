"""One pass over the source queue: receive, classify, move what the plan selects, release the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ops.redrive.plan import Candidate, Plan, RedriveError, Tally
from ops.redrive.sources import classify

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        MessageTypeDef,
        SendMessageRequestTypeDef,
    )

# How long a received message stays hidden while a run looks at it. Messages not moved are released
# (visibility 0) at the end; this only matters if the run dies, or lasts longer than this.
HOLD_SECONDS = 300


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
