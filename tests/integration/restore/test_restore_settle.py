"""`python -m ops.settle` for an import whose outcome is unknown: listed with the exports; "started" hands
its job to the restore tester, which follows it and puts the test's one event; "not-started" forgets it and
frees the graph, so the same tick imports once more."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local.aws import Stack
from local.fake_ges import FakeGes, Fault
from ops.settle import main
from ops.settlement import Settlement
from tests.restore_stand_ins import RestoreTester, seed_export
from tests.stand_ins import PROJECT

PASSED = "GES Backup Restore Test Passed"


@pytest.fixture
def tester(stack: Stack, ges: FakeGes) -> RestoreTester:
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    return RestoreTester(stack)


@pytest.fixture
def settle(stack: Stack, capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        where = ["--table", stack.table_name, "--downstream", stack.queue_urls["DownstreamQueue"]]
        where += ["--restore-queue", stack.queue_urls["RestoreTestQueue"]]
        code = main([*where, *args])
        out, err = capsys.readouterr()
        return code, out + err

    return run


def unknown_import(stack: Stack, ges: FakeGes, tester: RestoreTester, event: dict[str, str]) -> str:
    ges.inject(Fault.reset_after(), route="import_backup")  # GES started it; the answer was lost
    error = tester.invoke_failing(event)
    assert error.code == "ImportOutcomeUnknown"
    (unknown,) = Settlement(stack.table_name, boto3.client("dynamodb")).unknown()
    assert f"settle import {unknown.reference} " in error.message
    return unknown.reference


def tick() -> dict[str, str]:
    return {"graph_id": "movies", "scheduled_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_an_unknown_import_is_listed_then_settled_as_started_and_its_test_ends_with_one_event(
    stack: Stack, ges: FakeGes, tester: RestoreTester, settle: Any
) -> None:
    event = tick()
    reference = unknown_import(stack, ges, tester, event)
    (job_id,) = [job for job, fields in ges.jobs.items() if fields["job_name"] == "ImportBackup"]

    code, listed = settle("list")
    assert code == 0
    assert f"export {reference}  since " in listed
    assert "(restore-test, requested " in listed
    code, out = settle("started", reference, "--job-id", job_id)
    assert (code, out.startswith(f"import {reference}: started as job {job_id}")) == (0, True)

    tester.drain()
    (passed,) = tester.events()
    assert (passed.detail_type, passed.detail["job_id"], passed.detail["deleted"]) == (PASSED, job_id, True)
    assert tester.invoke(event)["restore_tests"][0]["outcome"] == "duplicate"  # never POSTed again
    assert sum(1 for call in ges.calls if call.path.endswith("/backups/import")) == 1
    # Nothing went downstream: an import is no export.
    assert (
        boto3.client("sqs").receive_message(QueueUrl=stack.queue_urls["DownstreamQueue"]).get("Messages")
        is None
    )


def test_an_unknown_import_settled_as_not_started_frees_the_graph_and_the_tick_imports_again(
    stack: Stack, ges: FakeGes, tester: RestoreTester, settle: Any
) -> None:
    ges.inject(Fault.http(500), route="import_backup")  # GES started nothing, though it could have
    event = tick()
    tester.invoke_failing(event)
    (unknown,) = Settlement(stack.table_name, boto3.client("dynamodb")).unknown()

    code, out = settle("not-started", unknown.reference)

    assert code == 0
    assert out.startswith(
        f"import {unknown.reference} (graph movies, path ges-backups/movies/1/) is forgotten"
    )
    assert tester.invoke(event)["restore_tests"][0]["outcome"] == "started"
    tester.drain()
    assert [e.detail_type for e in tester.events()] == [PASSED]
