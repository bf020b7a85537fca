"""Property-based tests (hypothesis) of bad input through the real handler, against the fake GES.

Any JSON value as a direct or scheduled event ends as a result or an ExportError, never another
exception; any text as an SQS message body ends downstream or dead-lettered with its reason in
`error_code`/`error_message`. An input that fails its checks makes no GES call (counted in the table
of docs/reliability.md, `bad_input_ges_calls`), and no field of an event can redirect a request or add a
header: whatever GES receives goes to the path built from the checked ids, with requests' own headers
and the token only.

The stack and the fake GES are per test function, so the examples of one test share them: each
example looks only at the GES calls and dead-letter messages it caused.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as note_outcome
from hypothesis import strategies as st

from ges_backup_export.core.errors import ExportError, InvalidRequest
from ges_backup_export.export.triggers import (
    Batch,
    Submission,
    batch_from_body,
    batch_from_event,
    is_queue_event,
)
from local.fake_ges import Call, FakeGes
from tests import reliability
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, Graphs
from tests.unit.export.test_parsing_properties import (
    REDIRECT_KEYS,
    REDIRECT_VALUES,
    assert_named_error,
    batch_names,
    bodies,
    event_names,
    events,
    json_values,
    mutated_requests,
    sqs_safe,
    valid_path_templates,
)

# requests' own headers and the token: anything else would have come from somewhere else.
SENT_HEADERS = {
    "host", "user-agent", "accept-encoding", "accept", "connection", "x-auth-token", "content-length",
    "content-type",
}  # fmt: skip
SENT_AT = "1795744800000"  # the SentTimestamp of events/sqs_batch.json


def properties(examples: int) -> settings:
    """The same inputs on every run; the stack (a function-scoped fixture) serves all of a test's examples."""
    return settings(
        derandomize=True,
        deadline=None,
        max_examples=examples,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# A request's time: after the sample graph's newest backup ended (so `latest` finds one) and before any
# clock the suite runs on (a time more than 5 minutes ahead of the invocation is refused).
request_times = st.datetimes(
    min_value=datetime(2026, 11, 27), max_value=datetime(2026, 11, 27, 9, 30), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))

# Requests for the graph that the `graphs` fixture seeds, so that the valid ones can get exported.
movies_requests = st.fixed_dictionaries(
    {
        "graph_id": st.just("movies"),
        "backup_id": st.sampled_from((MOVIES_BACKUP, "latest")),
        "export_path": valid_path_templates,
    },
    optional={"project_id": st.just(PROJECT), "scheduled_time": request_times},
)


@st.composite
def mutated_movies_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request for the movies graph with one field changed, as tests/unit mutates any request."""
    mutated, kind, field = draw(mutated_requests())
    request = dict(draw(movies_requests))
    if kind == "delete":
        request.pop(field, None)
    else:
        request[field] = mutated[field]
    return request


handler_events = st.one_of(
    # SQS batches take the queue path (below); look-alikes are tested at the end.
    events.filter(lambda event: not is_queue_event(event)),
    movies_requests,
    mutated_movies_requests(),
    st.lists(st.one_of(movies_requests, mutated_movies_requests(), json_values), min_size=1, max_size=3).map(
        lambda entries: {"exports": entries}
    ),
)
# Only what SQS can carry: it refuses a body with other characters (and an empty one) when it is sent.
sqs_text = st.text(st.characters(codec="utf-8").filter(lambda char: sqs_safe(char)), min_size=1, max_size=60)
handler_bodies = st.one_of(
    bodies.filter(lambda body: body != "" and sqs_safe(body)),
    sqs_text,
    handler_events.map(json.dumps),
)


def sqs_event(function: Function, body: str) -> dict[str, Any]:
    """An SQS event source mapping's event with one record, like events/sqs_batch.json."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": SENT_AT,
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": SENT_AT,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": function.stack.queue_arns["InputQueue"],
                "awsRegion": "eu-west-1",
            }
        ]
    }


def parsed(parse: Any) -> Batch | InvalidRequest:
    try:
        batch: Batch = parse()
    except InvalidRequest as error:
        return error
    return batch


def checked(outcome: Batch | InvalidRequest) -> list[Submission]:
    """The requests that passed their checks: only these may reach GES."""
    if isinstance(outcome, InvalidRequest):
        return []
    return [entry for entry in outcome.entries if isinstance(entry, Submission)]


def assert_sent_only_where_expected(calls: list[Call], submissions: list[Submission]) -> None:
    """Each GES call went to a path built from a checked request's ids, with no header of the event's."""
    allowed = set()
    for submission in submissions:
        project = submission.request.project_id or PROJECT
        graph_path = f"/v2/{project}/graphs/{submission.request.graph_id}/backups"
        allowed |= {("POST", graph_path + "/export"), ("GET", graph_path)}
    for call in calls:
        assert (call.method, call.path) in allowed, (call.method, call.path)
        names = {name.lower() for name in call.header_names}
        assert "x-auth-token" in names
        assert names <= SENT_HEADERS, names - SENT_HEADERS
        assert call.token_valid


def record_bad_input_calls(calls: list[Call]) -> None:
    reliability.add("bad_input_ges_calls", len(calls))
    assert calls == [], "a GES call was made for an input that failed its checks"


def calls_since(ges: FakeGes, count: int) -> list[Call]:
    return ges.calls[count:]


# --- direct and scheduled events -------------------------------------------------------------------------


@properties(120)
@given(event=handler_events)
def test_any_json_value_as_an_event_is_a_result_or_an_export_error(
    function: Function, graphs: Graphs, ges: FakeGes, event: Any
) -> None:
    reliability.add("bad_inputs")
    before = len(ges.calls)
    outcome = parsed(lambda: batch_from_event(event, datetime.now(UTC)))

    try:
        result, error = function.invoke(event), None
    except ExportError as raised:  # any other exception fails the test
        result, error = None, raised

    calls = calls_since(ges, before)
    submissions = checked(outcome)
    note_outcome(f"{'checked' if submissions else 'refused'}: {type(error).__name__ if error else 'result'}")
    if not submissions:
        record_bad_input_calls(calls)
        if isinstance(outcome, InvalidRequest) or not outcome.is_list:
            assert isinstance(error, InvalidRequest)
            assert_named_error(error, event_names(event))
        else:
            assert [entry["error"]["code"] for entry in result["exports"]] == ["InvalidRequest"] * len(
                outcome.entries
            )
        return
    assert_sent_only_where_expected(calls, submissions)


@properties(30)
@given(
    detail=movies_requests,
    extra=st.dictionaries(st.sampled_from(REDIRECT_KEYS), REDIRECT_VALUES, min_size=1, max_size=4),
)
def test_the_other_fields_of_an_eventbridge_envelope_steer_nothing(
    function: Function, graphs: Graphs, ges: FakeGes, detail: dict[str, Any], extra: dict[str, Any]
) -> None:
    """An envelope's own fields (version, id, source, ...) are not requests and are ignored: one named
    like an endpoint or a header changes neither where the request goes nor what it carries."""
    reliability.add("bad_inputs")
    event = {
        **extra,
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": "2026-11-27T02:00:00Z",
        "detail": {**detail, "export_path": f"b-ucket/envelope/{uuid.uuid4().hex}/"},
    }
    before = len(ges.calls)

    result = function.invoke(event)

    calls = calls_since(ges, before)
    assert result["trigger"] == "schedule"
    assert_sent_only_where_expected(calls, checked(batch_from_event(event, datetime.now(UTC))))
    [export] = [call for call in calls if call.method == "POST"]
    assert export.path == f"/v2/{PROJECT}/graphs/movies/backups/export"
    assert export.body == {"backup_id": result["backup_id"], "export_path": result["export_path"]}


@properties(50)
@given(
    request=movies_requests,
    key=st.sampled_from(REDIRECT_KEYS),
    value=REDIRECT_VALUES,
    how=st.sampled_from(("direct", "exports", "envelope", "queue")),
)
def test_a_field_that_could_steer_the_call_is_refused_before_any_call(
    function: Function, graphs: Graphs, ges: FakeGes, request: dict[str, Any], key: str, value: Any, how: str
) -> None:
    reliability.add("bad_inputs")
    steering = {**request, key: value}
    before = len(ges.calls)

    if how == "queue":
        body = json.dumps(steering)
        assert function.invoke(sqs_event(function, body)) == {"batchItemFailures": []}
        [dead] = function.take("InputDeadLetterQueue")
        assert dead.raw_body == body
        assert dead.attributes["error_code"] == "InvalidRequest"
        assert dead.attributes["error_message"].startswith(f"{key}: unknown field")
    elif how == "exports":
        result = function.invoke({"exports": [steering]})
        [entry] = result["exports"]
        assert entry["error"]["code"] == "InvalidRequest"
        assert entry["error"]["message"].startswith(f"exports[0].{key}: unknown field")
        [dead] = function.take("InputDeadLetterQueue")  # a list's failed requests are kept there too
        assert dead.body == steering  # alone, as it came: it failed its checks
        assert dead.attributes["error_code"] == "InvalidRequest"
    else:
        event = (
            steering
            if how == "direct"
            else {"detail-type": "Scheduled Event", "time": "2026-11-27T02:00:00Z", "detail": steering}
        )
        error = function.invoke_failing(event)
        prefix = "" if how == "direct" else "detail."
        assert str(error).startswith(f"InvalidRequest: {prefix}{key}: unknown field")

    record_bad_input_calls(calls_since(ges, before))


# --- SQS message bodies ----------------------------------------------------------------------------------


@properties(100)
@given(body=handler_bodies)
@example(body='{"\\ud800": 1}')  # a lone surrogate in a key: was a BatchProcessingError, now dead-lettered
@example(body='{"\\ufffe": 1, "a\\u0000b": 2}')  # characters SQS refuses in a message attribute
@example(body='{"exports": [{"\\udfff": 1}, 1]}')
def test_any_text_as_a_message_body_ends_downstream_or_dead_lettered_with_its_reason(
    function: Function, graphs: Graphs, ges: FakeGes, body: str
) -> None:
    reliability.add("bad_inputs")
    before = len(ges.calls)
    sent_at = datetime.fromtimestamp(int(SENT_AT) / 1000, UTC)
    outcome = parsed(lambda: batch_from_body(body, sent_at, datetime.now(UTC)))

    result = function.invoke(sqs_event(function, body))

    calls = calls_since(ges, before)
    dead = function.take("InputDeadLetterQueue")
    submissions = checked(outcome)
    note_outcome(
        f"{'checked' if submissions else 'refused'}: "
        f"{dead[0].attributes.get('error_code') if dead else 'downstream'}"
    )
    assert result == {"batchItemFailures": []}, "no transient failure here: every record is settled"
    if not submissions:
        record_bad_input_calls(calls)
    else:
        assert_sent_only_where_expected(calls, submissions)
    if dead and isinstance(outcome, Batch) and outcome.is_list:
        # A list's failed requests are dead-lettered each alone, its reason naming its place.
        reasons = [message.attributes["error_message"] for message in dead]
        assert all(sqs_safe(reason) for reason in reasons), "SQS refuses these characters in an attribute"
        refused = [index for index, entry in enumerate(outcome.entries) if isinstance(entry, InvalidRequest)]
        for index in refused:
            assert any(reason.startswith(f"exports[{index}]: InvalidRequest: ") for reason in reasons), (
                reasons
            )
        assert all(re.match(r"exports\[\d+\]: ", reason) for reason in reasons), reasons
    elif dead:
        [message] = dead
        assert message.raw_body == body
        code, reason = message.attributes["error_code"], message.attributes["error_message"]
        assert code
        assert reason
        assert sqs_safe(reason), "SQS refuses these characters in a message attribute"
        if not submissions:
            assert code == "InvalidRequest"
            unreadable = isinstance(outcome, InvalidRequest) and outcome.field == "body"
            names = {"body"} | (set() if unreadable else batch_names(json.loads(body), ""))
            assert any(reason.startswith(f"{name}: ") for name in names), reason
    else:
        assert isinstance(outcome, Batch)
        assert all(isinstance(entry, Submission) for entry in outcome.entries), "a bad one is dead-lettered"


@pytest.mark.parametrize(
    "records",
    [
        pytest.param([{"eventSource": "aws:sqs"}], id="no-message-id-no-body"),
        pytest.param([{"eventSource": "aws:sqs", "messageId": "m-1"}], id="no-body"),
    ],
)
def test_an_sqs_shaped_event_with_malformed_records_is_refused_by_name(
    function: Function, ges: FakeGes, records: list[dict[str, Any]]
) -> None:
    error = function.invoke_failing({"Records": records})

    assert str(error).startswith("InvalidRequest: ")
    assert ges.calls == []
