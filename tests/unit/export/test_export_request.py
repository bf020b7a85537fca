"""The export request: field checks, the export path and its placeholders, times, and the identity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ges_backup_export.core.errors import InvalidRequest
from ges_backup_export.core.message_format import ALL_GRAPHS, ExportIdentity
from ges_backup_export.core.times import request_time
from ges_backup_export.export.request import (
    LATEST,
    MAX_EXPORT_PATH_LENGTH,
    ExportRequest,
    check_export_path_template,
    parse_request,
    project_of,
    resolve_export_path,
)

AT = datetime(2026, 11, 27, 2, 3, 4, tzinfo=UTC)


def request(**fields: Any) -> dict[str, Any]:
    """A valid request, with `fields` added or replaced."""
    return {"graph_id": "movies", "backup_id": "b-1", "export_path": "ges-backups/movies/", **fields}


def invalid(value: object, where: str = "") -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(value, where)
    return caught.value


# --- parse_request: shape and fields -------------------------------------------------------------


def test_minimal_request_is_parsed_with_defaults() -> None:
    assert parse_request(request()) == ExportRequest(
        graph_id="movies", backup_id="b-1", export_path="ges-backups/movies/"
    )


def test_all_fields_are_parsed() -> None:
    parsed = parse_request(
        request(project_id="0a1b2c3d4e5f67890a1b2c3d4e5f6789", scheduled_time="2026-11-27T02:00:00Z")
    )

    assert parsed.project_id == "0a1b2c3d4e5f67890a1b2c3d4e5f6789"
    assert parsed.scheduled_time == datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def test_export_path_keeps_its_placeholders_after_parsing() -> None:
    parsed = parse_request(request(export_path="ges-backups/{graph_id}/{date}/{timestamp}/{backup_id}"))

    assert parsed.export_path == "ges-backups/{graph_id}/{date}/{timestamp}/{backup_id}"


def test_latest_is_accepted_as_backup_id() -> None:
    assert parse_request(request(backup_id=LATEST)).backup_id == "latest"


@pytest.mark.parametrize("value", [None, [], "text", 3, 1.5, True, [request()]])
def test_request_that_is_not_an_object_is_refused(value: object) -> None:
    assert invalid(value).field == "request"


def test_request_that_is_not_an_object_is_named_by_where() -> None:
    assert invalid([], "exports[2]").field == "exports[2]"


@pytest.mark.parametrize("name", ["graph_id", "backup_id", "export_path"])
def test_missing_required_field_is_named(name: str) -> None:
    value = request()
    del value[name]

    error = invalid(value)

    assert error.field == name
    assert "is required" in error.message


@pytest.mark.parametrize("name", ["graph_id", "backup_id", "export_path"])
def test_null_required_field_counts_as_missing(name: str) -> None:
    error = invalid(request(**{name: None}))

    assert error.field == name
    assert "is required" in error.message


@pytest.mark.parametrize("name", ["project_id", "scheduled_time"])
def test_null_optional_field_counts_as_absent(name: str) -> None:
    parsed = parse_request(request(**{name: None}))

    assert getattr(parsed, name) is None


def test_unknown_field_is_refused_by_name() -> None:
    error = invalid(request(graph=1))

    assert error.field == "graph"
    assert "unknown field" in error.message


def test_every_unknown_field_is_listed_in_the_message() -> None:
    error = invalid(request(zeta=1, alpha=2))

    assert error.field == "alpha"
    assert "'alpha'" in error.message
    assert "'zeta'" in error.message


def test_unknown_field_is_refused_before_missing_fields() -> None:
    assert invalid({"graphid": "movies"}).field == "graphid"


@pytest.mark.parametrize("typo", ["Graph_id", "backupId", "exportPath", "scheduledTime", "exports"])
def test_field_name_typo_is_never_ignored(typo: str) -> None:
    assert invalid(request(**{typo: "x"})).field == typo


def test_field_names_are_prefixed_by_where() -> None:
    value = request()
    del value["backup_id"]

    assert invalid(value, "exports[3]").field == "exports[3].backup_id"


def test_error_message_starts_with_code_and_field() -> None:
    assert str(invalid(request(graph_id="a/b"))).startswith("InvalidRequest: graph_id: ")


# --- parse_request: ids ----------------------------------------------------------------------------


ID_FIELDS = ["graph_id", "backup_id", "project_id"]


@pytest.mark.parametrize("name", ID_FIELDS)
@pytest.mark.parametrize(
    "value",
    [
        "a",
        "movies",
        "A-Za-z0-9_",
        "7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b",
        "0a1b2c3d4e5f67890a1b2c3d4e5f6789",
        "x" * 64,
        "-",
        "_",
    ],
)
def test_valid_id_is_accepted(name: str, value: str) -> None:
    assert getattr(parse_request(request(**{name: value})), name) == value


@pytest.mark.parametrize("name", ID_FIELDS)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("..", id="dot-dot"),
        pytest.param(".", id="dot"),
        pytest.param("a/b", id="slash"),
        pytest.param("/", id="only-slash"),
        pytest.param("../etc", id="traversal"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("%2e%2e", id="percent-encoded-dots"),
        pytest.param("a%2Fb", id="percent-encoded-slash"),
        pytest.param("a b", id="space"),
        pytest.param("a?b", id="query"),
        pytest.param("a#b", id="fragment"),
        pytest.param("a.b", id="dot-inside"),
        pytest.param("a:b", id="colon"),
        pytest.param("gr\u0430ph", id="cyrillic-a"),
        pytest.param("\uff47raph", id="fullwidth-g"),
        pytest.param("\uff11", id="fullwidth-digit"),
        pytest.param("\u0661", id="arabic-indic-digit"),
        pytest.param("gra\u0301ph", id="combining-accent"),
        pytest.param("graph\u200b", id="zero-width-space"),
        pytest.param("\u212a", id="kelvin-sign"),
        pytest.param("a\nb", id="newline-inside"),
        pytest.param("graph\n", id="trailing-newline"),
        pytest.param("\tgraph", id="leading-tab"),
        pytest.param("graph\x00", id="nul"),
        pytest.param("graph\x7f", id="del"),
        pytest.param(" graph", id="leading-space"),
        pytest.param("x" * 65, id="65-chars"),
    ],
)
def test_invalid_id_is_refused(name: str, value: str) -> None:
    error = invalid(request(**{name: value}))

    assert error.field == name
    assert "letters, digits" in error.message


@pytest.mark.parametrize("name", ID_FIELDS)
@pytest.mark.parametrize(
    ("value", "type_name"),
    [(1, "a number"), (1.5, "a number"), (True, "a boolean"), ([], "an array"), ({}, "an object")],
)
def test_id_that_is_not_a_string_is_refused_with_its_type(name: str, value: object, type_name: str) -> None:
    error = invalid(request(**{name: value}))

    assert error.field == name
    assert f"must be a string, got {type_name}" in error.message


def test_invalid_id_is_named_with_where() -> None:
    assert invalid(request(graph_id=".."), "detail").field == "detail.graph_id"


# --- parse_request: export_path and scheduled_time -----------------------------------------------------


def test_invalid_export_path_is_named_with_where() -> None:
    assert invalid(request(export_path="obs://b/d/"), "exports[0]").field == "exports[0].export_path"


def test_export_path_that_is_not_a_string_is_refused() -> None:
    error = invalid(request(export_path=["bucket/dir/"]))

    assert error.field == "export_path"
    assert "must be a string" in error.message


def test_invalid_scheduled_time_is_named_with_where() -> None:
    assert invalid(request(scheduled_time="yesterday"), "detail").field == "detail.scheduled_time"


def test_naive_scheduled_time_is_refused() -> None:
    assert invalid(request(scheduled_time="2026-11-27T02:00:00")).field == "scheduled_time"


# --- check_export_path_template ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "bucket/dir/",
        "bucket/dir",
        "bucket/a/b/c/",
        "my-bucket.2026/dir/",
        "abc/d",
        "b" * 63 + "/dir/",
        "bucket/A-Z_a-z.0-9!*'()/",
        "bucket/{graph_id}/",
        "bucket/{backup_id}/",
        "bucket/{date}/",
        "bucket/{timestamp}/",
        "bucket/{graph_id}/{date}/{timestamp}/{backup_id}/",
        "bucket/{graph_id}-{date}_{timestamp}.{backup_id}/",
        "bucket/{date}{date}/",
    ],
)
def test_valid_export_path_template_is_accepted(path: str) -> None:
    check_export_path_template(path)


@pytest.mark.parametrize("placeholder", ["{graph}", "{GRAPH_ID}", "{time}", "{}", "{ date }", "{project_id}"])
def test_unknown_placeholder_is_refused_by_name(placeholder: str) -> None:
    with pytest.raises(InvalidRequest, match="unknown placeholder") as caught:
        check_export_path_template(f"bucket/{placeholder}/")

    assert placeholder in caught.value.message


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("obs://bucket/dir/", id="obs-scheme"),
        pytest.param("OBS://bucket/dir/", id="obs-scheme-upper"),
        pytest.param("obs:bucket/dir/", id="obs-prefix"),
        pytest.param("https://bucket.obs.cn-north-4.myhuaweicloud.com/dir/", id="endpoint"),
        pytest.param("s3://bucket/dir/", id="s3-scheme"),
    ],
)
def test_export_path_with_scheme_or_endpoint_is_refused(path: str) -> None:
    with pytest.raises(InvalidRequest, match="without obs://"):
        check_export_path_template(path)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/bucket/dir/", id="leading-slash"),
        pytest.param("Bucket/dir/", id="uppercase"),
        pytest.param("ab/dir/", id="2-chars"),
        pytest.param("b" * 64 + "/dir/", id="64-chars"),
        pytest.param("-bucket/dir/", id="leading-dash"),
        pytest.param("bucket-/dir/", id="trailing-dash"),
        pytest.param(".bucket/dir/", id="leading-dot"),
        pytest.param("bucket./dir/", id="trailing-dot"),
        pytest.param("my..bucket/dir/", id="double-dot"),
        pytest.param("my_bucket/dir/", id="underscore"),
        pytest.param("buck\u0435t/dir/", id="cyrillic-e"),
    ],
)
def test_export_path_with_bad_bucket_is_refused(path: str) -> None:
    with pytest.raises(InvalidRequest, match="OBS bucket name"):
        check_export_path_template(path)


@pytest.mark.parametrize("path", ["bucket-{date}/dir/", "{graph_id}_x/dir/", "{graph_id}/dir/"])
def test_a_placeholder_in_the_bucket_name_is_refused(path: str) -> None:
    with pytest.raises(InvalidRequest, match="placeholders may only follow the bucket name"):
        check_export_path_template(path)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("bucket", id="bucket-only"),
        pytest.param("bucket/", id="bucket-slash"),
        pytest.param("bucket//", id="double-slash-only"),
        pytest.param("bucket//dir/", id="double-slash"),
        pytest.param("bucket/dir//", id="double-trailing-slash"),
        pytest.param("bucket/a//b/", id="empty-part"),
        pytest.param("bucket/../dir/", id="dot-dot"),
        pytest.param("bucket/dir/..", id="trailing-dot-dot"),
        pytest.param("bucket/dir/../", id="dot-dot-dir"),
        pytest.param("bucket/./dir/", id="dot"),
        pytest.param("bucket/.", id="only-dot"),
    ],
)
def test_export_path_without_a_clean_directory_is_refused(path: str) -> None:
    with pytest.raises(InvalidRequest, match="a directory inside the bucket"):
        check_export_path_template(path)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("bucket/a b/", id="space"),
        pytest.param("bucket/%2e%2e/", id="percent-encoded-dots"),
        pytest.param("bucket/a%2Fb/", id="percent-encoded-slash"),
        pytest.param("bucket/a\\b/", id="backslash"),
        pytest.param("bucket/a:b/", id="colon"),
        pytest.param("bucket/a?b/", id="query"),
        pytest.param("bucket/a#b/", id="fragment"),
        pytest.param("bucket/a{b/", id="lone-brace"),
        pytest.param("bucket/a}b/", id="lone-closing-brace"),
        pytest.param("bucket/{{date}}/", id="double-braces"),
        pytest.param("bucket/\u0430/", id="cyrillic-a"),
        pytest.param("bucket/\uff44ir/", id="fullwidth-d"),
        pytest.param("bucket/\u2024\u2024/", id="one-dot-leaders"),
        pytest.param("bucket/dir\n/", id="newline"),
        pytest.param("bucket/dir\x00/", id="nul"),
        pytest.param("bucket/dir\x7f/", id="del"),
        pytest.param("bucket/dir\t/", id="tab"),
    ],
)
def test_export_path_with_a_character_obs_refuses_is_refused(path: str) -> None:
    with pytest.raises(InvalidRequest, match="may hold only"):
        check_export_path_template(path)


@pytest.mark.parametrize("value", [None, 1, ["bucket/dir/"], {"path": "bucket/dir/"}])
def test_export_path_template_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(InvalidRequest, match="must be a string"):
        check_export_path_template(value)


def test_empty_export_path_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="characters long"):
        check_export_path_template("")


def test_export_path_template_over_the_limit_is_refused() -> None:
    path = "bucket/" + "d" * (MAX_EXPORT_PATH_LENGTH - len("bucket/")) + "/"

    with pytest.raises(InvalidRequest, match="characters long"):
        check_export_path_template(path)


def test_export_path_template_at_the_limit_is_accepted() -> None:
    path = "bucket/" + "d" * (MAX_EXPORT_PATH_LENGTH - len("bucket/") - 1) + "/"

    check_export_path_template(path)


def test_export_path_template_error_names_the_given_field() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_export_path_template("obs://b/d/", "detail.export_path")

    assert caught.value.field == "detail.export_path"


def test_placeholder_that_can_never_form_a_bucket_is_refused_before_resolution() -> None:
    with pytest.raises(InvalidRequest):
        check_export_path_template("b-{timestamp}/dir/")


# --- resolve_export_path ---------------------------------------------------------------------------


def resolve(template: str, *, graph_id: str = "movies", backup_id: str = "b-1", at: datetime = AT) -> str:
    return resolve_export_path(template, graph_id=graph_id, backup_id=backup_id, at=at)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("bucket/{graph_id}/", "bucket/movies/"),
        ("bucket/{backup_id}/", "bucket/b-1/"),
        ("bucket/{date}/", "bucket/2026-11-27/"),
        ("bucket/{timestamp}/", "bucket/20261127T020304Z/"),
        (
            "bucket/{graph_id}/{date}/{timestamp}/{backup_id}/",
            "bucket/movies/2026-11-27/20261127T020304Z/b-1/",
        ),
        ("bucket/{graph_id}-{graph_id}/", "bucket/movies-movies/"),
        ("bucket-{date}/x/", "bucket-2026-11-27/x/"),
        ("bucket/plain/", "bucket/plain/"),
    ],
)
def test_placeholders_are_filled_in(template: str, expected: str) -> None:
    assert resolve(template) == expected


def test_trailing_slash_is_appended() -> None:
    assert resolve("bucket/{graph_id}") == "bucket/movies/"


def test_trailing_slash_is_not_doubled() -> None:
    assert resolve("bucket/dir/") == "bucket/dir/"


def test_date_and_timestamp_are_zero_padded() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    assert resolve("bucket/{date}/{timestamp}/", at=at) == "bucket/2026-01-02/20260102T030405Z/"


def test_timestamp_of_a_time_given_with_an_offset_is_in_utc() -> None:
    at = request_time("2026-11-27T00:30:00-02:00", "scheduled_time")

    assert resolve("bucket/{date}/{timestamp}/", at=at) == "bucket/2026-11-27/20261127T023000Z/"


def test_date_of_a_time_given_with_an_offset_is_the_utc_date() -> None:
    at = request_time("2026-11-27T00:30:00+01:00", "scheduled_time")

    assert resolve("bucket/{date}/", at=at) == "bucket/2026-11-26/"


def test_timestamp_ignores_microseconds() -> None:
    assert resolve("bucket/{timestamp}/", at=AT.replace(microsecond=999999)) == "bucket/20261127T020304Z/"


def test_resolution_is_deterministic_for_the_same_time() -> None:
    template = "bucket/{graph_id}/{timestamp}/"

    assert resolve(template) == resolve(template)


def test_resolution_differs_for_another_second() -> None:
    template = "bucket/{timestamp}/"

    assert resolve(template) != resolve(template, at=AT + timedelta(seconds=1))


def test_resolved_path_is_checked_again() -> None:
    with pytest.raises(InvalidRequest, match="OBS bucket name"):
        resolve("{graph_id}/dir/", graph_id="Movies")


def test_resolved_path_over_the_limit_is_refused() -> None:
    template = (
        "bucket/" + "d" * (MAX_EXPORT_PATH_LENGTH - len("bucket/") - len("{graph_id}/")) + "{graph_id}/"
    )
    check_export_path_template(template)

    with pytest.raises(InvalidRequest, match="characters long"):
        resolve(template, graph_id="g" * 64)


def test_resolved_path_at_the_limit_with_its_slash_is_accepted() -> None:
    template = "bucket/" + "d" * (MAX_EXPORT_PATH_LENGTH - len("bucket/") - len("movies/")) + "{graph_id}/"

    resolved = resolve(template)

    assert len(resolved) == MAX_EXPORT_PATH_LENGTH


def test_resolved_path_never_exceeds_the_limit_once_its_slash_is_appended() -> None:
    template = "bucket/" + "d" * (MAX_EXPORT_PATH_LENGTH - len("bucket/") - len("movies")) + "{graph_id}"

    try:
        resolved = resolve(template)
    except InvalidRequest:
        return
    assert len(resolved) <= MAX_EXPORT_PATH_LENGTH


# --- request_time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T02:00:00Z", datetime(2026, 11, 27, 2, 0, tzinfo=UTC)),
        ("2026-11-27T02:00:00+00:00", datetime(2026, 11, 27, 2, 0, tzinfo=UTC)),
        ("2026-11-27T03:00:00+01:00", datetime(2026, 11, 27, 2, 0, tzinfo=UTC)),
        ("2026-11-26T21:00:00-05:00", datetime(2026, 11, 27, 2, 0, tzinfo=UTC)),
        ("2026-11-27T02:00:00.250Z", datetime(2026, 11, 27, 2, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_time_with_offset_is_parsed_as_utc(value: str, expected: datetime) -> None:
    assert request_time(value, "scheduled_time") == expected


def test_parsed_time_carries_the_utc_zone() -> None:
    assert request_time("2026-11-27T03:00:00+01:00", "scheduled_time").utcoffset() == timedelta(0)
    assert request_time("2026-11-27T03:00:00+01:00", "scheduled_time").tzinfo == UTC


def test_parsed_time_is_not_left_in_its_own_zone() -> None:
    parsed = request_time("2026-11-27T03:00:00+01:00", "scheduled_time")

    assert parsed.tzinfo != timezone(timedelta(hours=1))
    assert parsed.hour == 2


@pytest.mark.parametrize("value", ["2026-11-27T02:00:00", "2026-11-27", "2026-11-27 02:00:00"])
def test_time_without_offset_is_refused(value: str) -> None:
    with pytest.raises(InvalidRequest, match="UTC offset") as caught:
        request_time(value, "scheduled_time")

    assert caught.value.field == "scheduled_time"


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-01T00:00:00Z", "27/11/2026 02:00", "now"])
def test_time_that_does_not_parse_is_refused(value: str) -> None:
    with pytest.raises(InvalidRequest, match="ISO-8601") as caught:
        request_time(value, "time")

    assert caught.value.field == "time"


@pytest.mark.parametrize("value", [None, 1795744800, 1.5, True, [], {}])
def test_time_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(InvalidRequest, match="time string"):
        request_time(value, "scheduled_time")


# --- ExportIdentity --------------------------------------------------------------------------------


IDENTITY = ExportIdentity(
    project_id="0a1b2c3d4e5f67890a1b2c3d4e5f6789",
    graph_id="movies",
    backup_id="b-1",
    export_path="bucket/movies/2026-11-27/",
)


def test_digest_is_stable_for_equal_identities() -> None:
    assert IDENTITY.digest() == replace(IDENTITY).digest()


def test_digest_is_a_known_value() -> None:
    # Pinned: a changed digest re-sends every export still within its idempotency window.
    assert IDENTITY.digest() == "66f11efe0a580b37d0272f33d5251ad7af4bc95b0d24901441e71e77369b61fa"


@pytest.mark.parametrize("name", ["project_id", "graph_id", "backup_id", "export_path"])
def test_digest_differs_when_one_field_differs(name: str) -> None:
    changed = replace(IDENTITY, **{name: getattr(IDENTITY, name) + "x"})

    assert changed.digest() != IDENTITY.digest()


def test_digest_differs_when_text_moves_between_fields() -> None:
    one = ExportIdentity("p", "ab", "c", "bucket/dir/")
    other = ExportIdentity("p", "a", "bc", "bucket/dir/")

    assert one.digest() != other.digest()


def test_digest_fits_a_fifo_deduplication_id() -> None:
    long = ExportIdentity("p" * 64, "g" * 64, "b" * 64, "bucket/" + "d" * 1000 + "/")

    for identity in (IDENTITY, long):
        digest = identity.digest()
        assert 1 <= len(digest) <= 128
        assert all(char in "0123456789abcdef" for char in digest)


def test_identity_as_dict_holds_its_four_fields() -> None:
    assert IDENTITY.as_dict() == {
        "project_id": "0a1b2c3d4e5f67890a1b2c3d4e5f6789",
        "graph_id": "movies",
        "backup_id": "b-1",
        "export_path": "bucket/movies/2026-11-27/",
    }


# --- "*": every graph of the project -----------------------------------------------------------------


def test_every_graph_is_asked_for_with_latest_into_a_path_per_graph() -> None:
    parsed = parse_request(request(graph_id=ALL_GRAPHS, backup_id=LATEST, export_path="b-1/{graph_id}/"))

    assert (parsed.graph_id, parsed.backup_id) == (ALL_GRAPHS, LATEST)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"backup_id": "b-1", "export_path": "b-1/{graph_id}/"}, "exports[3].backup_id"),
        ({"backup_id": LATEST, "export_path": "b-1/{date}/"}, "exports[3].export_path"),
        ({"backup_id": LATEST, "export_path": "b-1/graph_id/"}, "exports[3].export_path"),
    ],
)
def test_every_graph_must_not_share_a_backup_id_or_a_directory(fields: dict[str, str], field: str) -> None:
    assert invalid(request(graph_id=ALL_GRAPHS, **fields), "exports[3]").field == field


@pytest.mark.parametrize("field", ["project_id", "backup_id"])
def test_a_star_is_no_id_anywhere_else(field: str) -> None:
    assert invalid(request(**{field: ALL_GRAPHS})).field == field


def test_a_request_without_project_takes_the_function_s_or_names_the_field() -> None:
    parsed = parse_request(request())

    assert project_of(parsed, "p-1") == "p-1"
    assert project_of(replace(parsed, project_id="p-2"), "p-1") == "p-2"
    with pytest.raises(InvalidRequest, match="GES_PROJECT_ID"):
        project_of(parsed, None)
