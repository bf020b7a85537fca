"""Property-based tests (hypothesis) of request parsing and event routing, on the pure functions.

Whatever JSON value arrives as an event or a message body, it ends as checked requests or as an
InvalidRequest whose field names the problem; never another kind of exception. Ids that could bend the
GES URL (`..`, `/`, `%2e`, look-alikes, control characters, very long strings) are refused, and every id
that is accepted builds exactly `/v2/{project}/graphs/{graph}/backups/export`.

Every generated input is counted in the reliability table of docs/reliability.md (`bad_inputs`). The
strategies are shared with tests/integration/export/test_bad_input_properties.py, which sends the same inputs
through the handler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
import requests
from hypothesis import example, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import InvalidRequest, field_name
from ges_backup_export.core.ids import check_id
from ges_backup_export.core.message_format import ExportIdentity
from ges_backup_export.core.times import request_time
from ges_backup_export.export.request import (
    ExportRequest,
    check_export_path_template,
    parse_request,
    resolve_export_path,
)
from ges_backup_export.export.triggers import (
    Batch,
    Submission,
    Trigger,
    batch_from_body,
    batch_from_event,
    is_queue_event,
)
from ges_backup_export.ges.client import GesClient
from ges_backup_export.ges.http import BoundedSession
from tests import reliability
from tests.doubles import json_answer
from tests.tokens import StaticTokens

T = TypeVar("T")
NOW = datetime(2026, 11, 27, 9, 30, 15, tzinfo=UTC)
ENDPOINT = "https://ges.cn-north-4.myhuaweicloud.com"
FIELDS = ("graph_id", "backup_id", "export_path", "project_id", "scheduled_time")
REQUIRED = ("graph_id", "backup_id", "export_path")
ID_FIELDS = ("graph_id", "backup_id", "project_id")
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
GES_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
# What an OBS path resolves to (docs/requests.md, "Checks"): bucket, then directories, ending with '/'.
RESOLVED_PATH = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()-]+)+/", re.ASCII)


def properties(examples: int) -> settings:
    """The same inputs on every run, so that the reliability table counts the same number each time."""
    return settings(derandomize=True, deadline=None, max_examples=examples)


def tried(count: int = 1) -> None:
    """One more generated bad or arbitrary input, for the reliability table of docs/reliability.md."""
    reliability.add("bad_inputs", count)


# --- strategies ------------------------------------------------------------------------------------

# Keys that a dictionary in an event draws from: real fields, trigger shapes, and anything.
KEYS = st.one_of(
    st.sampled_from(
        (*FIELDS, "exports", "detail", "detail-type", "time", "Records", "eventSource", "body", "source")
    ),
    st.text(max_size=12),
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities too: Python's json reads them from a message body
    st.text(max_size=40),
)
# Any JSON value (as json.loads returns it).
json_values = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)

valid_ids = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=64)
# Each of these holds at least one character a GES id may not hold.
HOSTILE_FRAGMENTS = (
    "..", ".", "/", "\\", "%2e", "%2E", "%2e%2e", "%2f", "%2F", "%5c", "%00", "%", "?", "#", "&", "=",
    ";", ":", "@", "+", "~", "!", "*", "'", "(", ")", "{", "}", "$", ",", "[", "]", "|", "<", ">", '"',
    " ", "\t", "\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\u00a0", "\u2028", "\u2029", "\u200b",
    "\u200d", "\ufeff", "\u202e",
    "\uff0f",  # fullwidth solidus
    "\u2215",  # division slash
    "\u2044",  # fraction slash
    "\u29f8",  # big solidus
    "\uff3c",  # fullwidth reverse solidus
    "\u2024",  # one dot leader
    "\u2025",  # two dot leader
    "\uff0e",  # fullwidth full stop
    "\u3002",  # ideographic full stop
    "\ufe52",  # small full stop
    "\u0430", "\u0435", "\u043e", "\u0440", "\u0455", "\u0456", "\u0501",  # Cyrillic a e o p s i d
    "\u0391",  # Greek capital alpha
    "\u212a",  # Kelvin sign (lower-cases to k)
    "\u0131", "\u017f",  # dotless i, long s (upper-case to I and S)
    "\uff41", "\uff10", "\u0660", "\U0001d41a",  # fullwidth a and 0, Arabic-Indic 0, bold a
    "\u0301",  # combining acute accent
    "\ud800", "\udfff", "\ufffe", "\uffff",  # lone surrogates, non-characters
)  # fmt: skip
hostile_ids = st.one_of(
    st.builds(
        lambda before, fragment, after: before + fragment + after,
        st.text(alphabet=ID_ALPHABET, max_size=30),
        st.sampled_from(HOSTILE_FRAGMENTS),
        st.text(alphabet=ID_ALPHABET, max_size=30),
    ),
    st.text(alphabet=ID_ALPHABET, min_size=65, max_size=70),  # one character too many, or a few
    st.text(alphabet=ID_ALPHABET, min_size=257, max_size=5000),  # very long
    st.just(""),
    st.text(min_size=1, max_size=20).filter(lambda text: not GES_ID.fullmatch(text)),
)
# Ids as they may arrive: valid about half of the time.
any_ids = st.one_of(valid_ids, valid_ids, hostile_ids, st.text(max_size=70))

_buckets = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}(\.[a-z0-9][a-z0-9-]{0,10})?[a-z0-9]", fullmatch=True)
_path_parts = st.one_of(
    st.from_regex(r"[A-Za-z0-9!_*'()-][A-Za-z0-9!_.*'()-]{0,12}", fullmatch=True),
    st.sampled_from(("{graph_id}", "{backup_id}", "{date}", "{timestamp}", "d-{date}", "{graph_id}.{date}")),
)
valid_path_templates = st.builds(
    lambda bucket, parts, slash: bucket + "/" + "/".join(parts) + slash,
    _buckets,
    st.lists(_path_parts, min_size=1, max_size=5),
    st.sampled_from(("/", "")),
)
# Each of these makes any path invalid wherever it is put after the bucket name.
HOSTILE_PATH_FRAGMENTS = (
    "//", "/../", "/./", "\\", "%2e%2e", "%2f", "%", "?", "#", " ", "\t", "\n", "\x00", "\x7f",
    "://", ":", "~", "+", "&", "=", "@", "$", ";", ",", "[", '"', "<", "^", "`", "|",
    "{unknown}", "{project_id}", "{}", "{ date }", "{",
    "\uff0f", "\u2215", "\u2024", "\uff0e", "\u0430", "\u00e9", "\u200b", "\ud800",
)  # fmt: skip


@st.composite
def hostile_path_templates(draw: st.DrawFn) -> str:
    path: str = draw(valid_path_templates)
    how = draw(st.sampled_from(("inject", "bucket", "whole")))
    if how == "inject":
        bucket_end = path.index("/") + 1
        at = draw(st.integers(bucket_end, len(path)))
        fragment: str = draw(st.sampled_from(HOSTILE_PATH_FRAGMENTS))
        return path[:at] + fragment + path[at:]
    if how == "bucket":
        bucket: str = draw(
            st.sampled_from(
                (
                    "",
                    "ab",
                    "Bucket",
                    "-bk",
                    "bk-",
                    ".bk",
                    "bk.",
                    "b..k",
                    "b_k",
                    "b" * 64,
                    "bu\u0441ket",
                    "{date}",
                )
            )
        )
        return bucket + path[path.index("/") :]
    whole: str = draw(
        st.sampled_from(
            (
                "obs://bucket/dir/",
                "OBS:bucket/dir/",
                "https://bucket.obs.example.com/dir/",
                "/bucket/dir/",
                "bucket",
                "bucket/",
                "bucket/" + "d/" * 600,  # longer than 1024 characters
                "",
            )
        )
    )
    return whole


time_texts = st.one_of(
    st.datetimes(
        timezones=st.sampled_from((UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)))),
    ).map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat()),  # no offset
    st.from_regex(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?(Z|[+-]\d\d:\d\d)?", fullmatch=True),
    st.text(max_size=30),
)
# A request's time may not be more than 5 minutes after the invocation's clock: valid ones lie before NOW
# (and so before any real clock the integration tests run on).
valid_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 27, 9, 30), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))
future_times = st.datetimes(
    min_value=datetime(2026, 11, 27, 9, 35, 16), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))

valid_requests = st.fixed_dictionaries(
    {
        "graph_id": valid_ids,
        "backup_id": st.one_of(valid_ids, st.just("latest")),
        "export_path": valid_path_templates,
    },
    optional={"project_id": valid_ids, "scheduled_time": valid_times},
)
# Fields an attacker would add to steer the call: each must be refused as an unknown field.
REDIRECT_KEYS = (
    "endpoint", "url", "headers", "X-Auth-Token", "host", "Host", "ges_endpoint", "GES_ENDPOINT",
    "base_url", "proxies", "proxy", "verify", "allow_redirects", "redirect", "Location", "auth",
    "Authorization", "token", "cookies", "params", "path", "method", "X-Forwarded-Host", "timeout",
)  # fmt: skip
REDIRECT_VALUES = st.one_of(
    st.sampled_from(
        (
            "http://evil.example",
            "https://evil.example/v2/",
            "http://127.0.0.1:1/",
            "//evil.example",
            "evil.example",
            False,
            {"X-Evil": "1"},
            {"Host": "evil.example"},
            {"https": "http://evil.example:3128"},
            ["X-Evil: 1"],
            "x\r\nX-Evil: 1",
        )
    ),
    json_values,
)
any_field_values = st.one_of(
    json_values, hostile_ids, valid_ids, st.just("latest"), hostile_path_templates(), valid_path_templates,
    time_texts,
)  # fmt: skip


@st.composite
def mutated_requests(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
    """A valid request with one thing changed: (request, "set" | "delete" | "add", the field changed)."""
    request = dict(draw(valid_requests))
    kind = draw(st.sampled_from(("set", "delete", "add")))
    if kind == "set":
        field = draw(st.sampled_from(FIELDS))
        request[field] = draw(any_field_values)
    elif kind == "delete":
        field = draw(st.sampled_from(sorted(request)))
        del request[field]
    else:
        field = draw(st.one_of(st.sampled_from(REDIRECT_KEYS), st.text(max_size=20)).filter(_unknown_key))
        request[field] = draw(REDIRECT_VALUES)
    return request, kind, field


def _unknown_key(key: str) -> bool:
    return key not in FIELDS


# Request-shaped values: valid, nearly valid, or anything.
request_values = st.one_of(
    valid_requests, mutated_requests().map(lambda mutated: mutated[0]), json_values, hostile_ids
)
exports_lists = st.builds(
    lambda entries, extra: {"exports": entries, **extra},
    st.one_of(st.lists(request_values, max_size=4), json_values),
    st.one_of(st.just({}), st.just({}), st.dictionaries(KEYS, json_values, max_size=2)),
)
envelopes = st.builds(
    lambda detail, time, extra: {**extra, "detail-type": "Scheduled Event", "detail": detail, "time": time},
    st.one_of(request_values, exports_lists, st.just({}), st.none()),
    st.one_of(valid_times, time_texts, json_values),
    st.dictionaries(st.sampled_from(("version", "id", "source", "resources", *REDIRECT_KEYS)), json_values),
)
sqs_shaped = st.builds(
    lambda records: {"Records": records},
    st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"eventSource": st.just("aws:sqs")}, optional={"body": st.text(max_size=20)}
            ),
            json_values,
        ),
        max_size=3,
    ),
)
# Anything a direct or scheduled invocation may be given.
events = st.one_of(json_values, request_values, exports_lists, envelopes, sqs_shaped)
# Anything an SQS message body may hold (text, JSON of the above, nesting deeper than the parser goes).
bodies = st.one_of(
    st.text(max_size=60),
    events.map(json.dumps),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 3000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)


# --- what an outcome must look like ------------------------------------------------------------------


def request_names(value: object, where: str) -> set[str]:
    """Every field an error about `value` (a request at `where`) may name."""
    names = {where or "request", *(field_name(where, name) for name in FIELDS)}
    if isinstance(value, dict):
        names.update(field_name(where, str(key)) for key in value)
    return names


def batch_names(value: object, where: str) -> set[str]:
    names = request_names(value, where)
    if isinstance(value, dict) and "exports" in value and isinstance(value["exports"], list):
        field = field_name(where, "exports")
        for index, entry in enumerate(value["exports"]):
            names |= request_names(entry, f"{field}[{index}]")
    return names


def event_names(event: object) -> set[str]:
    names = {"event", "time", "detail"} | batch_names(event, "")
    if isinstance(event, dict) and "detail" in event:
        names |= batch_names(event["detail"], "detail")
    return names


def sqs_safe(text: str) -> bool:
    """Whether SQS takes `text` as a message body or attribute (its allowed characters)."""
    return all(
        char in "\t\n\r" or "\x20" <= char <= "\ud7ff" or "\ue000" <= char <= "\ufffd" or char >= "\U00010000"
        for char in text
    )


def attempt(parse: Callable[[], T]) -> tuple[T | None, InvalidRequest | None]:
    """What `parse` returns, or the InvalidRequest it raises; any other exception fails the test."""
    try:
        return parse(), None
    except InvalidRequest as error:
        return None, error


def refused(parse: Callable[[], object]) -> InvalidRequest:
    result, error = attempt(parse)
    assert error is not None, f"accepted: {result!r}"
    return error


def assert_named_error(error: InvalidRequest, names: set[str]) -> None:
    """A clear error: code, then a field taken from the input, then what is wrong with it."""
    assert type(error) is InvalidRequest
    assert error.field in names, (error.field, names)
    assert str(error).startswith(f"InvalidRequest: {error.field}: ")
    assert len(error.message) > len(error.field) + 2
    assert error.field.isascii()
    assert error.field.isprintable()
    assert sqs_safe(str(error)), "an error must be loggable and fit an SQS message attribute"


def assert_checked(request: ExportRequest) -> None:
    """A request that passed the checks holds nothing that can reach GES unchecked."""
    assert check_id(request.graph_id) is None
    assert check_id(request.backup_id) is None
    assert request.project_id is None or check_id(request.project_id) is None
    check_export_path_template(request.export_path)
    assert request.scheduled_time is None or request.scheduled_time.tzinfo is UTC
    path, error = attempt(
        lambda: resolve_export_path(request.export_path, graph_id=request.graph_id, backup_id="b", at=NOW)
    )
    if error is not None:  # filling the placeholders made it longer than 1024 characters
        assert error.field == "export_path"
        assert "1024" in error.message
    else:
        assert path is not None
        assert RESOLVED_PATH.fullmatch(path), path
        assert ".." not in path.split("/")


def assert_batch(batch: Batch, names: set[str], trigger: Trigger) -> None:
    assert batch.entries
    for entry in batch.entries:
        if isinstance(entry, InvalidRequest):
            assert_named_error(entry, names)
        else:
            assert isinstance(entry, Submission)
            assert_checked(entry.request)
            assert entry.requested_at.tzinfo is not None
            if trigger is Trigger.QUEUE:
                assert entry.trigger is Trigger.QUEUE
            elif entry.request.scheduled_time is not None:
                assert entry.trigger is Trigger.SCHEDULE


def outcome(parse: Callable[[], Batch], names: set[str], trigger: Trigger) -> Batch | InvalidRequest:
    """The batch `parse` returns, checked, or the InvalidRequest it raises, checked; nothing else."""
    try:
        batch = parse()
    except InvalidRequest as error:
        assert_named_error(error, names)
        return error
    assert_batch(batch, names, trigger)
    return batch


# --- events and bodies -------------------------------------------------------------------------------


@properties(350)
@given(events)
def test_any_json_value_as_an_event_is_requests_or_a_named_error(event: object) -> None:
    tried()
    queue = is_queue_event(event)
    assert isinstance(queue, bool)
    if queue:
        assert isinstance(event, dict)
        assert all(record["eventSource"] == "aws:sqs" for record in event["Records"])
    trigger = Trigger.SCHEDULE if isinstance(event, dict) and "detail-type" in event else Trigger.DIRECT
    outcome(lambda: batch_from_event(event, NOW), event_names(event), trigger)


@properties(250)
@given(bodies)
@example("")
@example("NaN")
@example('{"\\ud800": 1}')
@example('{"graph_id": "movies", "backup_id": "latest", "export_path": "b-ucket/x/", "\\u0000": 1}')
def test_any_text_as_a_message_body_is_requests_or_a_named_error(body: str) -> None:
    tried()
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        names = {"body"}
    else:
        names = {"body"} | batch_names(value, "")
    outcome(lambda: batch_from_body(body, NOW, NOW), names, Trigger.QUEUE)


@properties(150)
@given(exports_lists)
def test_an_exports_list_names_each_bad_entry_by_its_index(event: dict[str, Any]) -> None:
    tried()
    result = outcome(lambda: batch_from_event(event, NOW), event_names(event), Trigger.DIRECT)
    if isinstance(result, Batch):
        assert result.is_list
        assert len(result.entries) == len(event["exports"])
        for index, entry in enumerate(result.entries):
            if isinstance(entry, InvalidRequest):
                assert entry.field.startswith(f"exports[{index}]")


# --- one request ---------------------------------------------------------------------------------------


@properties(300)
@given(mutated_requests())
def test_a_request_with_one_field_changed_parses_or_names_that_field(
    mutated: tuple[dict[str, Any], str, str],
) -> None:
    tried()
    request, kind, field = mutated
    parsed, error = attempt(lambda: parse_request(request))
    if error is not None:
        assert_named_error(error, {field_name("", field)})
        if kind == "add":
            assert "unknown field" in error.message
        if kind == "delete" or request.get(field, 0) is None:
            assert field in REQUIRED
            assert error.message == f"{field}: is required"
        return
    assert parsed is not None
    assert kind != "add", "an unknown field was silently accepted"
    assert not (kind == "delete" and field in REQUIRED)
    assert_checked(parsed)
    for name in ("graph_id", "backup_id", "export_path", "project_id"):
        assert getattr(parsed, name) == request.get(name)


@properties(100)
@given(valid_requests, st.sampled_from(REDIRECT_KEYS), REDIRECT_VALUES)
def test_a_field_that_could_steer_the_call_is_refused_as_unknown(
    request: dict[str, Any], key: str, value: object
) -> None:
    tried()
    error = refused(lambda: parse_request({**request, key: value}))
    assert error.field == key
    assert "unknown field" in error.message


# --- ids and the URL ---------------------------------------------------------------------------------


@properties(250)
@given(st.sampled_from(ID_FIELDS), hostile_ids)
def test_an_id_that_could_bend_the_url_is_refused_before_any_request(field: str, value: str) -> None:
    tried()
    assert check_id(value) is not None
    request = {"graph_id": "movies", "backup_id": "latest", "export_path": "b-ucket/x/", field: value}
    error = refused(lambda: parse_request(request))
    assert_named_error(error, {field})
    assert "1 to 64 letters, digits, '-' or '_'" in error.message


class RecordingSession:
    """Stands in for requests.Session: records each call and answers as GES does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: str, **options: Any) -> Any:
        self.calls.append((method, url, options))
        answer: dict[str, Any] = (
            {"job_id": "ff8080815f9a3c84015f9a438ff70001"}
            if method == "POST"
            else {
                "backup_count": 1,
                "backup_list": [{"id": "b-1", "status": "success", "end_timestamp": 1_795_000_000_000}],
            }
        )
        return json_answer(answer)


def ges_client(session: RecordingSession) -> GesClient:
    http = BoundedSession(session)  # type: ignore[arg-type]
    return GesClient(ENDPOINT, StaticTokens(), timeout=1.0, max_attempts=1, http=http)


def assert_exact_url(url: str, expected_path: str) -> None:
    """`url` is the endpoint and `expected_path`, as requests and urllib3 will send it."""
    assert url == ENDPOINT + expected_path
    parsed = parse_url(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.auth) == (
        "https",
        parse_url(ENDPOINT).host,
        None,
        None,
    )
    assert (parsed.path, parsed.query, parsed.fragment) == (expected_path, None, None)
    assert requests.Request("POST", url).prepare().path_url == expected_path


@properties(200)
@given(any_ids, any_ids)
def test_every_accepted_id_builds_exactly_the_export_url(project_id: str, graph_id: str) -> None:
    tried()
    if check_id(project_id) is not None or check_id(graph_id) is not None:
        bad = "graph_id" if check_id(graph_id) is not None else "project_id"  # graph_id is checked first
        request = {
            "project_id": project_id,
            "graph_id": graph_id,
            "backup_id": "b",
            "export_path": "b-ucket/x/",
        }
        assert refused(lambda: parse_request(request)).field == bad
        return
    session = RecordingSession()
    client = ges_client(session)
    identity = ExportIdentity(project_id, graph_id, "b-1", "b-ucket/x/")

    client.latest_successful_backup(project_id, graph_id, datetime.now(UTC), Deadline(at=None))
    client.export_backup(identity, Deadline(at=None))

    [(get, list_url, _), (post, export_url, _)] = session.calls
    assert (get, post) == ("GET", "POST")
    assert_exact_url(list_url, f"/v2/{project_id}/graphs/{graph_id}/backups")
    assert_exact_url(export_url, f"/v2/{project_id}/graphs/{graph_id}/backups/export")
    assert export_url.split("/")[3:] == ["v2", project_id, "graphs", graph_id, "backups", "export"]


# --- export paths and times --------------------------------------------------------------------------


@properties(150)
@given(hostile_path_templates())
def test_an_export_path_that_is_not_bucket_dir_is_refused(path: str) -> None:
    tried()
    request = {"graph_id": "movies", "backup_id": "latest", "export_path": path}
    assert_named_error(refused(lambda: parse_request(request)), {"export_path"})


@properties(100)
@given(time_texts)
@example("0001-01-01T00:00:00+01:00")  # before the first UTC datetime: was an OverflowError
@example("9999-12-31T23:59:59-01:00")  # after the last one
def test_any_scheduled_time_is_a_utc_time_or_a_named_error(text: str) -> None:
    tried()
    moment, error = attempt(lambda: request_time(text, "scheduled_time"))
    if error is not None:
        assert_named_error(error, {"scheduled_time"})
    else:
        assert moment is not None
        assert moment.tzinfo is UTC
        assert moment == datetime.fromisoformat(text)


@properties(100)
@given(request=valid_requests, time=future_times)
def test_any_scheduled_time_more_than_five_minutes_ahead_is_refused_naming_it(
    request: dict[str, Any], time: str
) -> None:
    tried()
    with pytest.raises(InvalidRequest) as raised:
        batch_from_event({**request, "scheduled_time": time}, NOW)

    assert raised.value.field == "scheduled_time"
