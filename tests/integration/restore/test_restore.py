"""The restore tester through its real handler: a scheduled test imports an export back, follows the
import job, deletes the backup it added and puts one event; the history the tracker records feeds it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.aws import Stack
from local.fake_ges import FakeGes, Fault
from local.fake_obs import imported_backups
from tests.restore_stand_ins import RestoreTester, seed_export
from tests.stand_ins import PROJECT, Function
from tests.tokens import assert_no_token
from tests.tracker_stand_ins import Tracker

TEST_FIELDS = {
    "project_id", "graph_id", "import_path", "job_id", "source_job_id", "source_ended_at",
    "imported_backup_id", "deleted", "status", "begin_time", "end_time", "requested_at", "checked_at",
}  # fmt: skip


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_scheduled_test_imports_the_newest_export_follows_it_deletes_its_backup_and_passes(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    ges.add_backup(PROJECT, "movies")
    entry = seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/2026-12-01/")
    tick = now()

    result = tester.invoke({"graph_id": "movies", "selection": "latest", "scheduled_time": tick})

    (test,) = result["restore_tests"]
    assert test["outcome"] == "started"
    assert test["import_path"] == entry.export_path
    imports = [call for call in ges.calls if call.path.endswith("/backups/import")]
    assert [call.body for call in imports] == [{"import_path": entry.export_path}]
    tester.drain()
    (event,) = tester.events()
    assert event.detail_type == "GES Backup Restore Test Passed"
    assert set(event.detail) == TEST_FIELDS
    assert event.detail["job_id"] == test["job_id"]
    assert event.detail["source_job_id"] == entry.job_id
    assert event.detail["source_ended_at"] == entry.ended_at
    assert event.detail["deleted"] is True
    assert event.detail["status"] == "success"
    assert event.detail["requested_at"] == tick
    assert imported_backups(ges, PROJECT, "movies") == []
    deletes = [call for call in ges.calls if call.method == "DELETE"]
    assert [call.path.rsplit("/", 1)[1] for call in deletes] == [event.detail["imported_backup_id"]]


def test_an_export_the_tracker_saw_succeed_is_imported_back(
    stack: Stack, ges: FakeGes, function: Function, tracker: Tracker, tester: RestoreTester
) -> None:
    backup = ges.add_backup(PROJECT, "movies")
    message = function.invoke({"graph_id": "movies", "backup_id": backup, "export_path": "ges-backups/m/1/"})
    tracker.drain()  # the export's job succeeds: the tracker announces it and records it in the history
    tracker.events()

    result = tester.invoke({"graph_id": "movies", "scheduled_time": now()})

    assert result["restore_tests"][0]["import_path"] == "ges-backups/m/1/"
    tester.drain()
    (event,) = tester.events()
    assert event.detail_type == "GES Backup Restore Test Passed"
    assert event.detail["source_job_id"] == message["job_id"]


def test_nothing_the_tester_prints_holds_the_token_at_debug(
    stack: Stack,
    ges: FakeGes,
    tester: RestoreTester,
    function_logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], list[dict[str, Any]]],
) -> None:
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    ges.inject(Fault.http(401), route="import_backup")
    ges.inject(Fault.ges_error(400, "GES.0001", "Incorrect parameter."), route="delete_backup")
    ges.add_graph(PROJECT, "empty")
    tick = now()

    results = [tester.invoke({"graph_id": "*", "scheduled_time": tick})]
    tester.drain()
    results.append(tester.invoke_failing({"graph_id": "movies", "import_path": "obs://x/"}))

    assert tester.environment["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert function_logs()  # it logged, and the fixture scans every line for the token
    assert emitted_metrics()
    assert_no_token([results, tester.events(), tester.take("RestoreTestDeadLetterQueue")])
