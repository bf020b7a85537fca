"""The failure table applied to the import and the delete, through the restore tester's real handler.

The import is not repeatable (GES has no idempotency key, a second import eats quota): what certainly
started nothing (429, 502, 503, a connection that failed before sending) is retried; what may have started
it (500, 504, no answer in time, a reset after sending) is ImportOutcomeUnknown, remembered and never
POSTed again by a machine. The delete is repeatable: it is retried on any of these, and GES.7024 on a
repeated DELETE counts as deleted; a refusal or a token GES keeps rejecting is a failed test naming the
backup left."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from local.aws import Stack
from local.fake_ges import FakeGes, Fault
from local.fake_obs import imported_backups
from tests.restore_stand_ins import RestoreTester, seed_export
from tests.stand_ins import PROJECT

PASSED = "GES Backup Restore Test Passed"
FAILED = "GES Backup Restore Test Failed"
EVENT = {"graph_id": "movies", "scheduled_time": ""}


@pytest.fixture
def tester(stack: Stack, ges: FakeGes) -> RestoreTester:
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    return RestoreTester(stack, {"GES_TIMEOUT_SECONDS": "0.5"})


def tick() -> dict[str, str]:
    return {**EVENT, "scheduled_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def import_calls(ges: FakeGes) -> int:
    return sum(1 for call in ges.calls if call.method == "POST" and call.path.endswith("/backups/import"))


def import_jobs(ges: FakeGes) -> int:
    return sum(1 for job in ges.jobs.values() if job["job_name"] == "ImportBackup")


# --- the import -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.http(429, retry_after=1), Fault.http(502), Fault.http(503)])
def test_an_import_ges_certainly_did_not_start_is_retried_and_the_test_passes(
    ges: FakeGes, tester: RestoreTester, fault: Fault
) -> None:
    ges.inject(fault, route="import_backup")

    tester.invoke(tick())
    tester.drain()

    assert import_calls(ges) == 2
    assert import_jobs(ges) == 1
    assert [event.detail_type for event in tester.events()] == [PASSED]
    assert tester.pauses  # waited before the retry


def test_an_import_unavailable_for_every_attempt_fails_the_run_and_a_retry_of_the_tick_imports(
    ges: FakeGes, tester: RestoreTester
) -> None:
    ges.inject(Fault.http(503), route="import_backup", times=3)
    event = tick()

    error = tester.invoke_failing(event)
    tester.invoke(event)
    tester.drain()

    assert error.code == "GesUnavailable"
    assert import_jobs(ges) == 1
    assert [e.detail_type for e in tester.events()] == [PASSED]


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http(500),
        Fault.http(504),
        Fault.slow(1.5),
        Fault.reset_after(),
        Fault.dropped(),
        Fault.undecodable(),
    ],
)
def test_an_import_ges_may_have_started_is_unknown_and_never_posted_again(
    ges: FakeGes, tester: RestoreTester, fault: Fault
) -> None:
    ges.inject(fault, route="import_backup")
    event = tick()

    first = tester.invoke_failing(event)
    again = tester.invoke_failing(event)

    assert first.code == again.code == "ImportOutcomeUnknown"
    assert "python -m ops.settle" in again.message
    assert "the export" not in again.message
    assert import_calls(ges) == 1
    assert tester.events() == []  # no test event until a person settles it
    assert tester.follow_ups() == []


def test_an_import_whose_token_ges_rejected_once_reads_the_secret_again_and_passes(
    ges: FakeGes, tester: RestoreTester
) -> None:
    ges.inject(Fault.http(401), route="import_backup")

    tester.invoke(tick())
    tester.drain()

    assert import_jobs(ges) == 1
    assert [e.detail_type for e in tester.events()] == [PASSED]


def test_an_import_whose_token_ges_rejects_again_is_token_rejected_and_imports_nothing(
    ges: FakeGes, tester: RestoreTester
) -> None:
    ges.inject(Fault.http(401), route="import_backup", times=2)

    error = tester.invoke_failing(tick())

    assert error.code == "TokenRejected"
    assert import_jobs(ges) == 0


# --- the delete -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http(429, retry_after=1), Fault.http(502), Fault.http(503), Fault.http(500), Fault.http(504),
        Fault.slow(1.5), Fault.reset_after(), Fault.dropped(), Fault.http(401), Fault.undecodable(200, b""),
    ],
)  # fmt: skip
def test_a_delete_that_failed_once_is_sent_again_and_the_test_passes(
    ges: FakeGes, tester: RestoreTester, fault: Fault
) -> None:
    ges.inject(fault, route="delete_backup")

    tester.invoke(tick())
    tester.drain()

    (event,) = tester.events()
    assert (event.detail_type, event.detail["deleted"]) == (PASSED, True)
    assert imported_backups(ges, PROJECT, "movies") == []


@pytest.mark.parametrize(
    ("fault", "times"),
    [
        (Fault.ges_error(400, "GES.0001", "Incorrect parameter."), 1),
        (Fault.ges_error(403, "GES.7041", "Insufficient permission."), 1),
        (Fault.http(503), 3),
        (Fault.http(401), 2),
    ],
)
def test_a_delete_that_failed_for_good_is_a_failed_test_naming_the_backup_left(
    ges: FakeGes, tester: RestoreTester, fault: Fault, times: int
) -> None:
    ges.inject(fault, route="delete_backup", times=times)

    tester.invoke(tick())
    tester.drain()

    (event,) = tester.events()
    (left,) = imported_backups(ges, PROJECT, "movies")
    assert event.detail_type == FAILED
    assert (event.detail["deleted"], event.detail["imported_backup_id"]) == (False, left["id"])
    assert left["id"] in event.detail["fail_reason"]


def test_a_follow_up_delivered_twice_deletes_once_and_puts_one_event(
    ges: FakeGes, tester: RestoreTester
) -> None:
    tester.invoke(tick())
    (message,) = tester.follow_ups()
    for _ in range(2):
        boto3.client("sqs").send_message(
            QueueUrl=tester.stack.queue_urls["RestoreTestQueue"], MessageBody=json.dumps(message)
        )
    tester.drain()

    assert [event.detail_type for event in tester.events()] == [PASSED]
    assert sum(1 for call in ges.calls if call.method == "DELETE") == 1
