"""The restore tester's behaviours through its real handler: which export a test takes, every graph of a
project, imports by hand, what is skipped, what fails, exactly one import and one event per test, bad
input, metrics, and no token in anything it prints."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from local.aws import Stack
from local.fake_ges import FakeGes, Fault
from local.fake_obs import imported_backups, make_persistence
from tests.restore_stand_ins import DEAD_LETTERS, RestoreTester, seed_export
from tests.stand_ins import PROJECT, wait_for
from tests.tracker_stand_ins import metric_values

PASSED = "GES Backup Restore Test Passed"
FAILED = "GES Backup Restore Test Failed"


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def imports(ges: FakeGes) -> list[Any]:
    return [call for call in ges.calls if call.method == "POST" and call.path.endswith("/backups/import")]


def exports_of(stack: Stack, ges: FakeGes, graph: str, count: int, tick: datetime) -> list[str]:
    paths = []
    for day in range(count):
        path = f"ges-backups/{graph}/d{day}/"
        seed_export(
            stack, ges, PROJECT, graph, path, ended=tick - timedelta(days=day + 1), job_id=f"{graph}{day}"
        )
        paths.append(path)
    return paths


# --- which export ---------------------------------------------------------------------------------------


def test_latest_takes_the_newest_export_that_ended_within_the_window_before_the_tick(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    tick = datetime.now(UTC) - timedelta(days=2)
    exports_of(stack, ges, "movies", 3, tick)
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/after-the-tick/", ended=tick + timedelta(hours=1))
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/too-old/", ended=tick - timedelta(days=31))

    result = tester.invoke({"graph_id": "movies", "scheduled_time": stamp(tick)})

    assert result["restore_tests"][0]["import_path"] == "ges-backups/movies/d0/"


def test_random_draws_the_same_export_on_every_retry_of_one_tick_and_imports_it_once(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    tick = datetime.now(UTC) - timedelta(hours=1)
    paths = exports_of(stack, ges, "movies", 8, tick)
    event = {"graph_id": "movies", "selection": "random", "scheduled_time": stamp(tick)}

    first = tester.invoke(event)["restore_tests"][0]
    again = tester.invoke(event)["restore_tests"][0]

    assert first["import_path"] in paths
    assert (again["outcome"], again["import_path"], again["job_id"]) == (
        "duplicate", first["import_path"], first["job_id"]
    )  # fmt: skip
    assert len(imports(ges)) == 1


def test_a_retried_tick_tests_the_export_it_chose_first_though_a_newer_one_was_recorded_since(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    """The tracker records an export minutes after its job ended: a retry of the tick that found it would
    choose it (the newest before the tick) and import a second export for one tick."""
    tick = datetime.now(UTC) - timedelta(minutes=10)
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/older/", ended=tick - timedelta(hours=2))
    event = {"graph_id": "movies", "scheduled_time": stamp(tick)}
    first = tester.invoke(event)["restore_tests"][0]
    tester.drain()  # the first test ends: its event is put and the graph is free again
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/newer/", ended=tick - timedelta(hours=1))

    again = tester.invoke(event)["restore_tests"][0]

    assert first["import_path"] == again["import_path"] == "ges-backups/movies/older/"
    assert again["outcome"] == "duplicate"
    assert len(imports(ges)) == 1


def test_a_duplicate_run_of_a_test_leaves_the_graph_claimed_while_the_first_run_imports(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    """A second delivery of a tick meets the first one's import lock (in progress): it must not give the
    graph back, or another test could import into it while the first import runs."""
    tick = datetime.now(UTC) - timedelta(minutes=10)
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/", ended=tick - timedelta(hours=1))
    ges.inject(Fault.slow(2.0), route="import_backup")  # the first run's import takes its time
    event = {"graph_id": "movies", "scheduled_time": stamp(tick)}
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(tester.invoke, event)
        wait_for(lambda: len(imports(ges)) == 1, timeout=30)
        duplicate = tester.invoke_failing(event)
        other = tester.invoke({**event, "scheduled_time": stamp(tick + timedelta(minutes=1))})
        assert first.result()["restore_tests"][0]["outcome"] == "started"

    assert duplicate.code == "ExportInProgress"
    assert other["restore_tests"][0]["outcome"] == "skipped"  # the graph is still the first test's
    assert len(imports(ges)) == 1


def test_a_graph_with_nothing_in_the_window_is_a_failed_test_saying_so_with_no_ges_import(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    ges.add_graph(PROJECT, "movies")
    tick = stamp(datetime.now(UTC))

    result = tester.invoke({"graph_id": "movies", "scheduled_time": tick})
    tester.invoke({"graph_id": "movies", "scheduled_time": tick})  # a retry of the tick: no second event

    assert result["restore_tests"][0]["outcome"] == "failed"
    (event,) = tester.events()
    assert event.detail_type == FAILED
    assert "nothing to restore" in event.detail["fail_reason"]
    assert set(event.detail) == {
        "project_id",
        "graph_id",
        "deleted",
        "fail_reason",
        "requested_at",
        "checked_at",
    }
    assert imports(ges) == []


# --- every graph, skipped graphs --------------------------------------------------------------------


def test_every_graph_is_tested_persistence_graphs_are_skipped_and_nothing_to_restore_fails(
    stack: Stack, ges: FakeGes, tester: RestoreTester, function_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    for graph in ("movies", "people"):
        seed_export(stack, ges, PROJECT, graph, f"ges-backups/{graph}/1/")
    make_persistence(ges, PROJECT, "archive")
    seed_export(stack, ges, PROJECT, "archive", "ges-backups/archive/1/")
    ges.add_graph(PROJECT, "empty")

    result = tester.invoke({"graph_id": "*", "scheduled_time": stamp(datetime.now(UTC))})

    outcomes = {test["graph_id"]: test["outcome"] for test in result["restore_tests"]}
    assert outcomes == {"movies": "started", "people": "started", "archive": "skipped", "empty": "failed"}
    assert sorted(call.body["import_path"] for call in imports(ges)) == [
        "ges-backups/movies/1/", "ges-backups/people/1/"
    ]  # fmt: skip
    tester.drain()
    events = sorted((event.detail["graph_id"], event.detail_type) for event in tester.events())
    assert events == [("empty", FAILED), ("movies", PASSED), ("people", PASSED)]
    skipped = [line for line in function_logs() if line["message"] == "restore test skipped"]
    assert [line["graph_id"] for line in skipped] == ["archive"]


def test_a_named_persistence_graph_is_skipped_never_a_failure(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    make_persistence(ges, PROJECT, "archive")
    seed_export(stack, ges, PROJECT, "archive", "ges-backups/archive/1/")

    result = tester.invoke({"graph_id": "archive", "scheduled_time": stamp(datetime.now(UTC))})

    assert result["restore_tests"][0]["outcome"] == "skipped"
    assert imports(ges) == []
    assert tester.events() == []


def test_a_graph_whose_previous_import_is_still_followed_is_skipped_until_its_event_is_out(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    ges.obs.import_script = ("running", "running", "success")
    now = datetime.now(UTC)

    first = tester.invoke({"graph_id": "movies", "scheduled_time": stamp(now - timedelta(minutes=10))})
    second = tester.invoke({"graph_id": "movies", "scheduled_time": stamp(now)})

    assert first["restore_tests"][0]["outcome"] == "started"
    assert second["restore_tests"][0]["outcome"] == "skipped"
    assert len(imports(ges)) == 1
    tester.drain()
    assert [event.detail_type for event in tester.events()] == [PASSED]
    third = tester.invoke({"graph_id": "movies", "scheduled_time": stamp(now + timedelta(seconds=1))})
    assert third["restore_tests"][0]["outcome"] == "started"


def test_a_scratch_target_graph_receives_the_import_of_another_graph_s_export(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    entry = seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    ges.add_graph(PROJECT, "scratch")

    tester.invoke(
        {"graph_id": "movies", "target_graph_id": "scratch", "scheduled_time": stamp(datetime.now(UTC))}
    )

    (call,) = imports(ges)
    assert "/graphs/scratch/backups/import" in call.path
    tester.drain()
    (event,) = tester.events()
    assert (event.detail_type, event.detail["graph_id"], event.detail["source_job_id"]) == (
        PASSED, "scratch", entry.job_id
    )  # fmt: skip


# --- imports by hand ----------------------------------------------------------------------------------


def test_a_console_import_keeps_the_imported_backup_and_names_it(ges: FakeGes, tester: RestoreTester) -> None:
    ges.add_graph(PROJECT, "movies")
    ges.obs.put("ges-backups/movies/1/", PROJECT, "movies")

    result = tester.invoke({"graph_id": "movies", "import_path": "ges-backups/movies/1"})

    assert result["import_path"] == "ges-backups/movies/1/"
    tester.drain()
    (event,) = tester.events()
    assert event.detail_type == "GES Backup Import Succeeded"
    assert event.detail["deleted"] is False
    assert "source_job_id" not in event.detail
    (kept,) = imported_backups(ges, PROJECT, "movies")
    assert event.detail["imported_backup_id"] == kept["id"]


def test_a_console_import_with_keep_false_deletes_it(ges: FakeGes, tester: RestoreTester) -> None:
    ges.add_graph(PROJECT, "movies")
    ges.obs.put("ges-backups/movies/1/", PROJECT, "movies")

    tester.invoke({"graph_id": "movies", "import_path": "ges-backups/movies/1/", "keep": False})
    tester.drain()

    (event,) = tester.events()
    assert (event.detail_type, event.detail["deleted"]) == ("GES Backup Import Succeeded", True)
    assert imported_backups(ges, PROJECT, "movies") == []


def test_a_console_import_of_a_path_no_export_wrote_fails_with_ges_s_reason(
    ges: FakeGes, tester: RestoreTester
) -> None:
    ges.add_graph(PROJECT, "movies")

    tester.invoke({"graph_id": "movies", "import_path": "ges-backups/nothing-here/"})
    tester.drain()

    (event,) = tester.events()
    assert event.detail_type == "GES Backup Import Failed"
    assert "holds no backup" in event.detail["fail_reason"]
    assert event.detail["status"] == "failed"


# --- refusals and cleanup ------------------------------------------------------------------------------


def test_an_import_ges_refuses_is_a_failed_test_with_ges_s_code_put_once(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    ges.add_backup(PROJECT, "movies")
    ges.obs.backup_quota = 1
    event = {"graph_id": "movies", "scheduled_time": stamp(datetime.now(UTC))}

    result = tester.invoke(event)
    tester.invoke(event)  # a retry of the tick: the refusal is remembered, GES is not asked again

    assert result["restore_tests"][0]["outcome"] == "failed"
    assert len(imports(ges)) == 1
    (failed,) = tester.events()
    assert failed.detail_type == FAILED
    assert failed.detail["fail_reason"].startswith("GES.7019: ")
    assert tester.follow_ups() == []


def test_a_console_import_ges_refuses_raises_its_code(ges: FakeGes, tester: RestoreTester) -> None:
    make_persistence(ges, PROJECT, "archive")

    error = tester.invoke_failing({"graph_id": "archive", "import_path": "ges-backups/x/"})

    assert error.code == "GES.0001"
    (event,) = tester.events()
    assert event.detail_type == "GES Backup Import Failed"


def test_a_delete_ges_refuses_is_a_failed_test_naming_the_backup_left(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    ges.inject(Fault.ges_error(400, "GES.7002", "The graph is being backed up."), route="delete_backup")

    tester.invoke({"graph_id": "movies", "scheduled_time": stamp(datetime.now(UTC))})
    tester.drain()

    (event,) = tester.events()
    (left,) = imported_backups(ges, PROJECT, "movies")
    assert event.detail_type == FAILED
    assert (event.detail["deleted"], event.detail["imported_backup_id"]) == (False, left["id"])
    assert "GES.7002" in event.detail["fail_reason"]


def test_two_new_backups_after_an_import_delete_neither_and_fail_saying_so(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    ges.obs.import_script = ("running", "success")
    tester.invoke({"graph_id": "movies", "scheduled_time": stamp(datetime.now(UTC))})
    ges.add_backup(PROJECT, "movies", backup_method="auto")  # an automatic backup meanwhile: told apart
    ges.obs.put("ges-backups/other/", PROJECT, "movies")

    tester.drain()

    (event,) = tester.events()
    assert event.detail_type == PASSED  # the imported one is the one whose backup_method is import
    assert imported_backups(ges, PROJECT, "movies") == []


# --- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"graph_id": "movies", "selction": "latest"}, "selction"),
        ({"graph_id": "mo/vies"}, "graph_id"),
        ({"selection": "latest"}, "graph_id"),
        ({"graph_id": "movies", "selection": "oldest"}, "selection"),
        ({"graph_id": "*", "target_graph_id": "scratch"}, "target_graph_id"),
        ({"graph_id": "movies", "scheduled_time": "2999-01-01T00:00:00Z"}, "scheduled_time"),
        ({"graph_id": "movies", "import_path": "ges-backups/x/", "keep": "yes"}, "keep"),
        ({"graph_id": "movies", "import_path": "obs://ges-backups/x/"}, "import_path"),
        ({"graph_id": "movies", "import_path": "ges-backups/{date}/"}, "import_path"),
        ({"graph_id": "*", "import_path": "ges-backups/x/"}, "graph_id"),
        ({"graph_id": "movies", "import_path": "ges-backups/x/", "selection": "latest"}, "selection"),
        ([], "event"),
    ],
)
def test_bad_input_is_refused_naming_the_field_with_no_ges_call(
    ges: FakeGes, tester: RestoreTester, event: Any, field: str
) -> None:
    error = tester.invoke_failing(event)

    assert error.code == "InvalidRequest"
    assert error.message.startswith(f"{field}: ")
    assert ges.calls == []


def test_a_graph_ges_does_not_know_is_an_error_naming_it(ges: FakeGes, tester: RestoreTester) -> None:
    error = tester.invoke_failing({"graph_id": "nosuch"})

    assert error.code == "GES.7000"
    assert "graph nosuch" in error.message


# --- metrics, dead letters ------------------------------------------------------------------------------


def test_tests_count_in_the_restore_metrics_and_imports_by_hand_do_not(
    stack: Stack, ges: FakeGes, tester: RestoreTester, emitted_metrics: Callable[[], list[dict[str, Any]]]
) -> None:
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    ges.add_graph(PROJECT, "empty")
    # A tick a minute ago: the import by hand (at the request's own time) is another import, not the
    # test's (which it would be within the same second: same graph, path and time).
    tick = stamp(datetime.now(UTC) - timedelta(minutes=1))
    tester.invoke({"graph_id": "movies", "scheduled_time": tick})
    tester.invoke({"graph_id": "empty", "scheduled_time": tick})
    tester.drain()  # the test ends, and gives the graph back for the import by hand
    tester.invoke({"graph_id": "movies", "import_path": "ges-backups/movies/1/", "keep": False})
    tester.drain()

    documents = emitted_metrics()
    assert metric_values(documents, "RestoreTestsPassed") == [1.0]
    assert metric_values(documents, "RestoreTestsFailed") == [1.0]
    assert len(metric_values(documents, "RestoreTestSeconds")) == 1


def test_a_follow_up_that_cannot_be_read_is_dead_lettered_with_its_reason(tester: RestoreTester) -> None:
    boto3.client("sqs").send_message(QueueUrl=tester.stack.queue_urls["RestoreTestQueue"], MessageBody="{}")
    tester.drain()

    (letter,) = tester.take(DEAD_LETTERS)
    assert letter.attributes["error_code"] == "InvalidRequest"


# --- how an import job ends -------------------------------------------------------------------------------


def test_an_import_job_still_running_past_the_timeout_is_one_timed_out_test_and_frees_the_graph(
    stack: Stack, ges: FakeGes
) -> None:
    tester = RestoreTester(stack, {"JOB_TRACKING_TIMEOUT_SECONDS": "1"})
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    ges.obs.import_script = ("running",)

    tester.invoke({"graph_id": "movies", "scheduled_time": stamp(datetime.now(UTC))})
    tester.drain(max_batches=1000)

    (event,) = tester.events()
    assert (event.detail_type, event.detail["status"], event.detail["deleted"]) == (
        "GES Backup Restore Test Timed Out", "running", False
    )  # fmt: skip
    later = tester.invoke({"graph_id": "movies", "scheduled_time": stamp(datetime.now(UTC))})
    assert later["restore_tests"][0]["outcome"] in ("started", "duplicate")


@pytest.mark.parametrize(
    ("script", "expected", "reason"),
    [
        (("running", "partiallyFailed"), "partiallyFailed", "partially failed"),  # the fake gives no reason
        (("running", "failed"), "failed", "OBS read error"),
    ],
)
def test_an_import_job_that_ended_badly_is_a_failed_test_with_ges_s_status(
    stack: Stack, ges: FakeGes, tester: RestoreTester, script: tuple[str, ...], expected: str, reason: str
) -> None:
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    result = tester.invoke({"graph_id": "movies", "scheduled_time": stamp(datetime.now(UTC))})
    ges.script_job(result["restore_tests"][0]["job_id"], script, fail_reason="OBS read error")

    tester.drain()

    (event,) = tester.events()
    assert (event.detail_type, event.detail["status"]) == (FAILED, expected)
    assert reason in event.detail["fail_reason"]
    assert "imported_backup_id" not in event.detail


def test_an_import_job_ges_forgot_is_a_failed_test_saying_so(
    stack: Stack, ges: FakeGes, tester: RestoreTester
) -> None:
    seed_export(stack, ges, PROJECT, "movies", "ges-backups/movies/1/")
    result = tester.invoke({"graph_id": "movies", "scheduled_time": stamp(datetime.now(UTC))})
    ges.forget_job(result["restore_tests"][0]["job_id"])

    tester.drain()

    (event,) = tester.events()
    assert event.detail_type == FAILED
    assert "GES does not know import job" in event.detail["fail_reason"]
