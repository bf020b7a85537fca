"""The restore tester's pure parts: its events checked field by field, the backup an import added told
apart from the others, its settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ges_backup_export.core.errors import ConfigurationError, InvalidRequest
from ges_backup_export.restore.follow import imported_backup
from ges_backup_export.restore.request import ImportRequest, RestoreTestRequest, parse_event
from ges_backup_export.restore.settings import HistorySettings, RestoreSettings

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
ENV = {
    "GES_ENDPOINT": "https://ges.example.com",
    "GES_TOKEN_SECRET_ID": "s",
    "IDEMPOTENCY_TABLE_NAME": "t",
    "TRACKING_QUEUE_URL": "https://sqs.example.com/1/q",
    "HISTORY_TABLE_NAME": "h",
}


def test_a_test_event_defaults_to_latest_and_the_invocation_s_time() -> None:
    request = parse_event({"graph_id": "movies"}, NOW)
    assert request == RestoreTestRequest("movies", "latest", None, None, NOW)


def test_a_test_event_s_tick_is_its_scheduled_time_up_to_five_minutes_ahead() -> None:
    ahead = NOW + timedelta(minutes=4)
    request = parse_event({"graph_id": "*", "selection": "random", "scheduled_time": ahead.isoformat()}, NOW)
    assert isinstance(request, RestoreTestRequest)
    assert (request.tick, request.selection, request.graph_id) == (ahead, "random", "*")


def test_an_import_event_keeps_by_default_and_ends_its_path_with_a_slash() -> None:
    request = parse_event({"graph_id": "movies", "import_path": "b-ucket/dir", "project_id": "p1"}, NOW)
    assert request == ImportRequest("movies", "b-ucket/dir/", True, "p1", NOW)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"graph_id": "movies", "extra": 1}, "extra"),
        ({"graph_id": 5}, "graph_id"),
        ({"graph_id": "movies", "selection": 1}, "selection"),
        ({"graph_id": "movies", "project_id": "a b"}, "project_id"),
        ({"graph_id": "movies", "target_graph_id": "*"}, "target_graph_id"),
        ({"graph_id": "movies", "scheduled_time": "yesterday"}, "scheduled_time"),
        ({"graph_id": "movies", "scheduled_time": "2026-11-28T12:06:00Z"}, "scheduled_time"),
        ({"graph_id": "movies", "import_path": 7}, "import_path"),
        ({"graph_id": "movies", "import_path": "b-ucket/../x/"}, "import_path"),
        ({"graph_id": "movies", "import_path": "b-ucket/x/", "keep": None}, "keep"),
        (
            {"graph_id": "movies", "import_path": "b-ucket/x/", "scheduled_time": "2026-11-28T12:00:00Z"},
            "scheduled_time",
        ),
    ],
)  # fmt: skip
def test_bad_events_name_the_field(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_event(event, NOW)
    assert raised.value.field == field


def backup(backup_id: str, method: str = "manual", status: str = "success") -> dict[str, Any]:
    return {"id": backup_id, "backup_method": method, "status": status}


def test_the_new_backup_whose_method_is_import_is_the_import_s() -> None:
    found, problem = imported_backup(
        [backup("old"), backup("auto1", "auto"), backup("new", "import")], {"old"}
    )
    assert (found, problem) == (backup("new", "import"), None)


def test_a_single_new_backup_is_taken_even_when_ges_does_not_say_import() -> None:
    found, _ = imported_backup([backup("old"), backup("new", "manual")], {"old"})
    assert found == backup("new")


@pytest.mark.parametrize(
    "backups",
    [
        [backup("old")],
        [backup("old"), backup("a", "import"), backup("b", "import")],
        [backup("old"), backup("a"), backup("b")],
    ],
)
def test_no_or_several_candidates_name_none(backups: list[dict[str, Any]]) -> None:
    found, problem = imported_backup(backups, {"old"})
    assert found is None
    assert problem


def test_the_settings_read_the_window_and_the_follow_up_as_the_tracker_s() -> None:
    settings = RestoreSettings.from_env(
        {**ENV, "RESTORE_TEST_WINDOW_DAYS": "7", "JOB_POLL_INTERVAL_SECONDS": "0"}
    )
    assert (settings.window_days, settings.follow.job_poll_interval_seconds) == (7, 0)
    assert settings.follow.tracking_queue_url == ENV["TRACKING_QUEUE_URL"]


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"HISTORY_TABLE_NAME": ""}, "HISTORY_TABLE_NAME"),
        ({"RESTORE_TEST_WINDOW_DAYS": "0"}, "RESTORE_TEST_WINDOW_DAYS"),
        ({"RESTORE_TEST_WINDOW_DAYS": "366"}, "RESTORE_TEST_WINDOW_DAYS"),
        ({"TRACKING_QUEUE_URL": "https://sqs.example.com/1/q.fifo"}, "TRACKING_QUEUE_URL"),
        ({"GES_PROJECT_ID": "a/b"}, "GES_PROJECT_ID"),
    ],
)
def test_a_bad_setting_is_named(overrides: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        RestoreSettings.from_env({**ENV, **overrides})


def test_without_a_history_table_the_tracker_records_none() -> None:
    assert HistorySettings.from_env({}) == HistorySettings(None, 30)
