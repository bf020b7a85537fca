"""The export request (docs/requests.md, "The export request"), through the handler, against the fake GES."""

from __future__ import annotations

from typing import Any

import pytest

from local.fake_ges import FakeGes
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, Graphs

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/"}


def request(**changes: Any) -> dict[str, Any]:
    return {**REQUEST, **changes}


@pytest.mark.parametrize("field", ["graph_id", "backup_id", "export_path"])
def test_a_missing_required_field_is_named_and_nothing_reaches_ges(
    function: Function, graphs: Graphs, ges: FakeGes, field: str
) -> None:
    event = request()
    del event[field]

    error = function.invoke_failing(event)

    assert str(error) == f"InvalidRequest: {field}: is required"
    assert ges.calls == []


def test_an_unknown_field_is_refused_by_name(function: Function, graphs: Graphs, ges: FakeGes) -> None:
    error = function.invoke_failing(request(backupid="typo"))

    assert str(error).startswith("InvalidRequest: backupid: unknown field")
    assert ges.calls == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("graph_id", "../movies"),
        ("graph_id", "movies/backups"),
        ("graph_id", "movies%2e"),
        ("backup_id", "x" * 65),
        ("project_id", "abc?x=1"),
        ("graph_id", 42),
    ],
)
def test_ids_are_checked_before_any_url_is_built(
    function: Function, graphs: Graphs, ges: FakeGes, field: str, value: object
) -> None:
    error = function.invoke_failing(request(**{field: value}))

    assert str(error).startswith(f"InvalidRequest: {field}: ")
    assert ges.calls == []


@pytest.mark.parametrize(
    "path",
    [
        "obs://bucket/dir/",
        "bucket",
        "bucket/../other/",
        "bucket//dir/",
        "/bucket/dir/",
        "bucket/{year}/",
        "bucket/dir with space/",
        "Bucket/dir/",
    ],
)
def test_a_bad_export_path_is_refused_before_any_call(
    function: Function, graphs: Graphs, ges: FakeGes, path: str
) -> None:
    error = function.invoke_failing(request(export_path=path, backup_id="latest"))

    assert str(error).startswith("InvalidRequest: export_path: ")
    assert ges.calls == []


def test_placeholders_are_filled_before_the_call(function: Function, graphs: Graphs, ges: FakeGes) -> None:
    event = request(
        export_path="ges-backups/{graph_id}/{backup_id}/{date}/{timestamp}",
        scheduled_time="2026-11-27T03:04:05+01:00",
    )

    result = function.invoke(event)

    expected = f"ges-backups/movies/{MOVIES_BACKUP}/2026-11-27/20261127T020405Z/"
    assert result["export_path"] == expected
    assert ges.export_calls[0].body == {"backup_id": MOVIES_BACKUP, "export_path": expected}


def test_latest_is_the_newest_successful_backup_beyond_the_first_page(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    # 250 backups listed oldest first, except: the newest successful one sits on the second page of
    # 100 (index 150), and a still newer failed one on the third (index 240).
    stamps = {150: 1_795_500_000_000, 240: 1_795_600_000_000}
    ids = [
        ges.add_backup(
            PROJECT,
            "big",
            status="failed" if index == 240 else "success",
            start_timestamp=stamps.get(index, 1_794_000_000_000 + index * 1000),
        )
        for index in range(250)
    ]

    result = function.invoke(
        {"graph_id": "big", "backup_id": "latest", "export_path": "b-ucket/{backup_id}/"}
    )

    assert result["backup_id"] == ids[150]
    pages = [call.query for call in ges.calls if call.method == "GET"]
    assert [page["offset"] for page in pages] == ["0", "100", "200"]


def test_latest_without_a_successful_backup_is_refused(function: Function, ges: FakeGes) -> None:
    ges.add_backup(PROJECT, "fresh", status="backing_up")

    error = function.invoke_failing({"graph_id": "fresh", "backup_id": "latest", "export_path": "bucket/x/"})

    assert str(error).startswith("InvalidRequest: backup_id: latest: ")
    assert ges.export_calls == []


def test_project_id_defaults_to_the_setting_and_a_request_may_name_its_own(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    ges.add_backup("otherproject", "movies", backup_id=MOVIES_BACKUP)

    default = function.invoke(request())
    named = function.invoke(request(project_id="otherproject", export_path="ges-backups/other/"))

    assert (default["project_id"], named["project_id"]) == (PROJECT, "otherproject")
    assert [call.path.split("/")[2] for call in ges.export_calls] == [PROJECT, "otherproject"]


def test_without_a_default_project_a_request_must_name_one(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GES_PROJECT_ID", "")

    error = function.invoke_failing(request())

    assert str(error).startswith("InvalidRequest: project_id: ")
    assert ges.calls == []


@pytest.mark.parametrize("value", ["2026-11-27T02:00:00", "yesterday", 1795744800])
def test_a_scheduled_time_must_be_an_iso_time_with_its_offset(
    function: Function, graphs: Graphs, ges: FakeGes, value: object
) -> None:
    error = function.invoke_failing(request(scheduled_time=value))

    assert str(error).startswith("InvalidRequest: scheduled_time: ")
    assert ges.calls == []


def test_an_event_that_is_not_an_object_is_refused(function: Function, ges: FakeGes) -> None:
    error = function.invoke_failing(["not", "a", "request"])

    assert str(error).startswith("InvalidRequest: event: ")
    assert ges.calls == []


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"exports": []}, "exports"),
        ({"exports": "movies"}, "exports"),
        ({"exports": [REQUEST], "graph_id": "movies"}, "graph_id"),
    ],
)
def test_a_malformed_exports_list_is_refused(
    function: Function, ges: FakeGes, event: dict[str, Any], field: str
) -> None:
    error = function.invoke_failing(event)

    assert str(error).startswith(f"InvalidRequest: {field}: ")
    assert ges.calls == []


def test_every_request_to_ges_says_its_body_is_json_gets_included(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    """Huawei's SDK sends `Content-Type: application/json` on every call; a gateway may insist on it."""
    function.invoke({"graph_id": "movies", "backup_id": "latest", "export_path": "b-ucket/{backup_id}/"})

    methods = {call.method for call in ges.calls}
    assert methods == {"GET", "POST"}
    assert all("Content-Type" in call.header_names for call in ges.calls)
