"""The restore tester under test, for the integration tests: `RestoreTester` invokes its real handler as
Lambda would, in the environment the template wires for it (JOB_POLL_INTERVAL_SECONDS 0: its follow-up
checks an import job without waiting), polls its follow-up queue with the event source mapping's
`QueuePoller`, and reads the events an EventBridge rule caught. `seed_export` puts an export in the history
and in the fake OBS, as the tracker and GES would have after a successful export job. `invoke_ticks` is
EventBridge Scheduler in an execution environment of its own (a process: the soak's), invoking the tester
with schedule ticks and retrying a failed run."""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from ges_backup_export.core.errors import ExportError
from ges_backup_export.core.message_format import format_time
from ges_backup_export.restore.history import History, HistoryEntry
from ges_backup_export.restore.runtime import current_restore_tester
from local.aws import Stack
from local.fake_ges import FakeGes
from local.lambda_runtime import Handler, LocalContext, load_function
from tests.function_under_test import FunctionUnderTest
from tests.stand_ins import VirtualWaits

TESTER = "TestRestoreFunction"
TESTER_CODE = "functions/test_restore/"
FOLLOW_UPS = "RestoreTestQueue"
DEAD_LETTERS = "RestoreTestDeadLetterQueue"
HISTORY = "RestoreHistoryTable"


class RestoreTester(FunctionUnderTest):
    """The deployed restore tester, locally, in the environment the template wires for it
    (JOB_POLL_INTERVAL_SECONDS 0, then `overrides`); its events are caught from its creation on."""

    name = TESTER

    def __init__(self, stack: Stack, overrides: Mapping[str, str] | None = None) -> None:
        self.waits: VirtualWaits | None = VirtualWaits()
        self.pauses = self.waits.pauses
        environment = {**stack.environment_of(TESTER), "JOB_POLL_INTERVAL_SECONDS": "0", **(overrides or {})}
        super().__init__(stack, environment)
        self.catch_events()

    def load(self) -> Handler:
        code = self.stack.function_property("CodeUri", TESTER)
        return load_function(code, self.stack.function_property("Handler", TESTER))

    def install_waits(self) -> None:
        if self.waits is not None:
            self.waits.install(current_restore_tester().ges)

    def follow_ups(self) -> list[dict[str, Any]]:
        return [message.body for message in self.take(FOLLOW_UPS)]

    def history(self) -> History:
        return History(self.stack.physical[HISTORY], boto3.client("dynamodb"))


def seed_export(
    stack: Stack,
    ges: FakeGes,
    project_id: str,
    graph_id: str,
    path: str,
    *,
    ended: datetime | None = None,
    job_id: str | None = None,
    in_obs: bool = True,
) -> HistoryEntry:
    """An export of the graph whose job succeeded (`ended`, default an hour ago): in the history, and (unless
    `in_obs` is false) in the fake OBS at `path`."""
    ended = ended or datetime.now(UTC) - timedelta(hours=1)
    entry = HistoryEntry(
        project_id,
        graph_id,
        "seeded-backup",
        path,
        job_id or f"job{int(ended.timestamp())}",
        format_time(ended),
    )
    History(stack.physical[HISTORY], boto3.client("dynamodb")).record(entry, keep_days=30)
    ges.add_graph(project_id, graph_id)  # a running graph (created if needed; its edition stays)
    if in_obs:
        ges.obs.put(path, project_id, graph_id)
    return entry


def invoke_ticks(
    events: list[dict[str, Any]],
    environment: Mapping[str, str],
    report: str,
    attempts: int,
    pause_seconds: float,
) -> None:
    """Invoke the tester's real handler with each event in turn, in this process (an execution environment
    of its own), as EventBridge Scheduler does with a tick: a run that fails is invoked again, with the same
    event, `pause_seconds` later, at most `attempts` times in all; but a run that ended ImportOutcomeUnknown
    is not (every retry of it would too: it waits for a person). Writes one JSON line per invocation to
    `report`: the event, then `ok` and the result, or the error's code and message, or `crash` and
    the exception, which no run may raise."""
    os.environ.update(environment)
    handler = load_function(TESTER_CODE)
    with open(report, "a", encoding="utf-8") as out:
        for event in events:
            for _ in range(attempts):
                try:
                    result = handler(copy.deepcopy(event), LocalContext(timeout_seconds=120.0))
                except ExportError as error:
                    line = {"event": event, "outcome": error.code, "message": error.message}
                except Exception as error:  # reported, and the soak fails on it
                    line = {"event": event, "outcome": "crash", "message": repr(error)}
                else:
                    line = {"event": event, "outcome": "ok", "result": result}
                out.write(json.dumps(line) + "\n")
                out.flush()
                if line["outcome"] in ("ok", "ImportOutcomeUnknown", "crash"):
                    break
                time.sleep(pause_seconds)
