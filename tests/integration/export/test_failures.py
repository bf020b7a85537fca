"""Failures (docs/failures.md, "Failures"): what the caller sees, what is retried, where a request ends up."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from typing import Any

import boto3
import pytest

from ges_backup_export.ges.calls import LIST_PAGE_SIZE, MAX_LIST_PAGES
from local.fake_ges import ERROR_STYLES, FakeGes, Fault
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, Graphs, sample_event, wait_for
from tests.tokens import canary_token

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/f/"}
TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.mark.parametrize("style", ERROR_STYLES)  # every spelling Huawei's SDK reads (docs/ges-api.md, 5)
@pytest.mark.parametrize(("status", "code"), [(400, "GES.7001"), (403, "GES.7041"), (404, "GES.0047")])
def test_a_ges_refusal_carries_its_code_and_message_and_is_not_retried(
    function: Function, graphs: Graphs, ges: FakeGes, status: int, code: str, style: str
) -> None:
    ges.inject(Fault.ges_error(status, code, "Refused for a reason.", style=style))

    error = function.invoke_failing(REQUEST)

    # GES's code and message, the graph and project it was about, and the request's time, which a redrive
    # of a failed asynchronous run keeps.
    about = rf"graph movies \(project {PROJECT}\)"
    assert re.fullmatch(rf"{code}: {about}: Refused for a reason\. \[requested_at {TIME}\]", str(error))
    assert len(ges.export_calls) == 1


@pytest.mark.parametrize("status", [429, 502, 503])
def test_a_transient_answer_is_retried_with_backoff(
    function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float], status: int
) -> None:
    ges.inject(Fault.http(status), times=2)

    result = function.invoke(REQUEST)

    assert len(ges.export_calls) == 3
    assert len(pauses) == 2
    assert function.downstream() == [result]


def test_retry_after_is_honoured(
    function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float]
) -> None:
    ges.inject(Fault.http(429, retry_after=7))

    function.invoke(REQUEST)

    assert pauses[0] >= 7


def test_transient_failures_beyond_the_attempts_end_as_ges_unavailable(
    function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GES_MAX_ATTEMPTS", "4")
    ges.inject(Fault.http(503), times=4)

    error = function.invoke_failing(REQUEST)

    assert error.code == "GesUnavailable"
    assert "503" in error.message
    assert len(ges.export_calls) == 4
    assert function.downstream() == []


def test_a_refused_connection_is_retried(
    function: Function, graphs: Graphs, pauses: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("GES_ENDPOINT", f"http://127.0.0.1:{closed_port}")

    error = function.invoke_failing(REQUEST)

    assert error.code == "GesUnavailable"
    assert len(pauses) == 2


@pytest.mark.parametrize(
    "fault", [Fault.http(500), Fault.http(504), Fault.dropped()], ids=["500", "504", "dropped"]
)
def test_an_ambiguous_answer_is_never_retried(
    function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float], fault: Fault
) -> None:
    ges.inject(fault)

    error = function.invoke_failing(REQUEST)

    assert error.code == "ExportOutcomeUnknown"
    assert "check the graph's jobs" in error.message
    assert len(ges.export_calls) == 1
    assert pauses == []


def test_no_answer_in_time_after_sending_is_ambiguous(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GES_TIMEOUT_SECONDS", "0.3")
    ges.inject(Fault.slow(1.0))

    error = function.invoke_failing(REQUEST)

    assert error.code == "ExportOutcomeUnknown"
    assert len(ges.export_calls) == 1
    # GES did start it, once its slow answer was over: exactly why a machine must not send it again.
    wait_for(lambda: ges.exported_paths == {"ges-backups/movies/f/"})


def test_the_backup_list_is_safe_to_read_again_after_a_server_error(
    function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float]
) -> None:
    ges.inject(Fault.http(500), route="list_backups")

    result = function.invoke({**REQUEST, "backup_id": "latest"})

    assert result["backup_id"] == graphs.movies_latest


def test_a_rotated_token_is_read_again_once(function: Function, graphs: Graphs, ges: FakeGes) -> None:
    function.invoke({**REQUEST, "export_path": "ges-backups/warm/"})  # the old token is now cached
    new_token = ges.rotate_token(canary_token())
    boto3.client("secretsmanager").put_secret_value(
        SecretId=function.stack.secret_arn, SecretString=new_token
    )

    result = function.invoke(REQUEST)

    assert [call.token_valid for call in ges.export_calls] == [True, False, True]
    assert result["job_id"] in ges.jobs


def test_a_token_rejected_again_after_reading_it_anew_is_token_rejected(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    ges.rotate_token(canary_token())

    error = function.invoke_failing(REQUEST)

    assert error.code == "TokenRejected"
    assert "APIG.0301" in error.message
    assert len(ges.export_calls) == 2


def test_the_secret_may_hold_json_with_a_token_key(function: Function, graphs: Graphs, ges: FakeGes) -> None:
    secret = json.dumps({"token": ges.token, "note": "rotated daily"})
    boto3.client("secretsmanager").put_secret_value(SecretId=function.stack.secret_arn, SecretString=secret)

    result = function.invoke(REQUEST)

    assert result["job_id"] in ges.jobs


def test_too_little_time_left_means_no_call_at_all(function: Function, graphs: Graphs, ges: FakeGes) -> None:
    error = function.invoke_failing(REQUEST, timeout_seconds=5)

    assert error.code == "GesUnavailable"
    assert "time" in error.message
    assert ges.calls == []


def test_a_retry_after_longer_than_the_time_left_is_not_waited_for(
    function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float]
) -> None:
    ges.inject(Fault.http(429, retry_after=600))

    error = function.invoke_failing(REQUEST, timeout_seconds=60)

    assert error.code == "GesUnavailable"
    assert pauses == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GES_ENDPOINT", ""),
        ("GES_ENDPOINT", "http://ges.example.com"),
        ("GES_TOKEN_SECRET_ID", ""),
        ("IDEMPOTENCY_TABLE_NAME", ""),
        ("DOWNSTREAM_QUEUE_URL", "not-a-url"),
        ("GES_MAX_ATTEMPTS", "0"),
        ("GES_TIMEOUT_SECONDS", "ten"),
    ],
)
def test_a_bad_setting_is_named(
    function: Function,
    graphs: Graphs,
    ges: FakeGes,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)

    error = function.invoke_failing(REQUEST)

    assert str(error).startswith(f"ConfigurationError: {variable} ")
    assert ges.calls == []


def test_a_missing_secret_is_a_configuration_error(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GES_TOKEN_SECRET_ID", "no-such-secret")

    error = function.invoke_failing(REQUEST)

    assert str(error).startswith("ConfigurationError: GES_TOKEN_SECRET_ID")
    assert ges.calls == []


def test_latest_over_a_backup_list_longer_than_the_client_reads_is_refused_naming_the_list(
    function: Function, ges: FakeGes
) -> None:
    """Acting on part of the list could export an older backup than `latest` means: an error instead."""
    for index in range(MAX_LIST_PAGES * LIST_PAGE_SIZE + 1):
        ges.add_backup(PROJECT, "movies", start_timestamp=1_700_000_000_000 + index * 60_000)

    error = function.invoke_failing({**REQUEST, "backup_id": "latest"})

    assert error.code == "InvalidRequest"
    assert error.message.startswith(
        f"backup_id: latest: the backup list of graph movies has more than {MAX_LIST_PAGES} pages"
    )
    assert ges.export_calls == []


class TestQueueRecords:
    """A queue record that can never succeed goes to the dead-letter queue at once, with its reason."""

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ("{not json", "InvalidRequest"),
            ('{"graph_id": "movies"}', "InvalidRequest"),
            ('{"graph_id": "movies", "backup_id": "gone", "export_path": "b-1/x/"}', "GES.7024"),
        ],
    )
    def test_a_record_that_can_never_succeed_is_dead_lettered_with_its_reason(
        self, function: Function, graphs: Graphs, body: str, code: str
    ) -> None:
        function.send(body)

        totals = function.poller().drain()

        assert (totals.succeeded, totals.failed) == (1, 0)
        (dead,) = function.take("InputDeadLetterQueue")
        assert dead.raw_body == body
        assert dead.attributes["error_code"] == code
        assert dead.attributes["error_message"]
        assert function.take("InputQueue") == []

    def test_an_ambiguous_export_is_dead_lettered_not_retried(
        self, function: Function, graphs: Graphs, ges: FakeGes
    ) -> None:
        ges.inject(Fault.http(504))
        function.send(REQUEST)

        function.poller().drain()

        (dead,) = function.take("InputDeadLetterQueue")
        assert dead.attributes["error_code"] == "ExportOutcomeUnknown"
        assert len(ges.export_calls) == 1

    def test_a_list_record_dead_letters_its_failed_requests_alone(
        self, function: Function, graphs: Graphs, ges: FakeGes
    ) -> None:
        gone = {**REQUEST, "backup_id": "gone", "export_path": "ges-backups/movies/gone/"}
        function.send({"exports": [REQUEST, gone, {**gone, "graph_id": "../x"}]})

        function.poller().drain()

        (started,) = function.downstream()
        refused, invalid = function.take("InputDeadLetterQueue")
        # Each failed request alone, as a request the function accepts when redriven: at the record's time.
        assert refused.body == {**gone, "scheduled_time": started["requested_at"]}
        assert refused.attributes["error_code"] == "GES.7024"
        assert refused.attributes["error_message"].startswith("exports[1]: GES.7024: graph movies ")
        assert invalid.body == {**gone, "graph_id": "../x"}  # as it came: it failed its checks
        assert invalid.attributes["error_message"].startswith(
            "exports[2]: InvalidRequest: exports[2].graph_id"
        )
        ges.add_backup(PROJECT, "movies", backup_id="gone", start_timestamp=1_795_000_000_000)
        function.send(refused.raw_body)
        function.poller().drain()
        (redriven,) = function.downstream()
        assert (redriven["backup_id"], redriven["requested_at"]) == ("gone", started["requested_at"])

    def test_a_transient_failure_is_reported_for_sqs_to_retry(
        self, function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float]
    ) -> None:
        ges.inject(Fault.http(503), times=3)
        function.send(REQUEST)

        first = function.poller().poll_once()
        then = function.poller().drain()

        assert (first.failed, then.succeeded) == (1, 1)
        assert function.take("InputDeadLetterQueue") == []
        assert len(function.downstream()) == 1

    def test_without_a_dead_letter_setting_sqs_redrive_moves_the_record(
        self, function: Function, graphs: Graphs, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "")
        function.send("{not json")

        totals = function.poller().drain()

        max_receives = int(function.stack.parameters["MaxReceiveCount"])
        assert (totals.received, totals.failed) == (max_receives, max_receives)
        (dead,) = function.take("InputDeadLetterQueue")
        assert dead.raw_body == "{not json"

    def test_a_batch_reports_only_its_failed_records(
        self, function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float]
    ) -> None:
        function.send(REQUEST)
        ges.inject(Fault.http(503), times=3, route="list_backups")
        function.send({**REQUEST, "backup_id": "latest", "export_path": "b-1/latest/"})

        first = function.poller().poll_once()

        assert (first.received, first.succeeded, first.failed) == (2, 1, 1)
        assert [m["backup_id"] for m in function.downstream()] == [MOVIES_BACKUP]


class TestScheduledLists:
    """A scheduled `exports` list returns per-entry errors that no one reads: its failed requests are
    kept in the dead-letter queue as well, with the tick time that makes a redrive resolve the same."""

    def envelope(self, *requests: dict[str, str]) -> dict[str, Any]:
        event: dict[str, Any] = sample_event("eventbridge_envelope.json")
        event["detail"] = {"exports": list(requests)}
        return event

    def test_failed_entries_are_dead_lettered_and_a_redrive_exports_only_them(
        self, function: Function, graphs: Graphs, ges: FakeGes
    ) -> None:
        works = {**REQUEST, "export_path": "b-1/{graph_id}/{date}/"}
        fails = {**works, "backup_id": "gone", "export_path": "b-2/{graph_id}/{date}/"}
        result = function.invoke(self.envelope(works, fails))

        assert [sorted(entry) for entry in result["exports"]][1] == ["error"]
        (dead,) = function.take("InputDeadLetterQueue")
        assert dead.attributes["error_code"] == "GES.7024"
        assert dead.attributes["error_message"].startswith("exports[1]: GES.7024: ")
        assert dead.body == {**fails, "scheduled_time": "2026-11-27T02:00:00Z"}

        ges.add_backup(PROJECT, "movies", backup_id="gone", start_timestamp=1_795_000_000_000)
        function.send(dead.raw_body)
        function.poller().drain()

        paths = [message["export_path"] for message in function.downstream()]
        assert paths == ["b-1/movies/2026-11-27/", "b-2/movies/2026-11-27/"]
        # The list's two requests ran at once: which one reached GES first is not fixed.
        assert Counter(call.body["backup_id"] for call in ges.export_calls) == {MOVIES_BACKUP: 1, "gone": 2}

    def test_without_a_dead_letter_queue_the_run_fails_for_the_on_failure_destination(
        self, function: Function, graphs: Graphs, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "")

        error = function.invoke_failing(self.envelope(REQUEST, {**REQUEST, "backup_id": "gone"}))

        assert error.code == "GES.7024"
        assert len(function.downstream()) == 1

    def test_a_direct_list_shows_its_errors_to_the_caller_and_keeps_them_in_the_dead_letter_queue(
        self, function: Function, graphs: Graphs
    ) -> None:
        """Invoked asynchronously (`--invocation-type Event`, a rule with a constant Input), nobody reads
        the result: the failed requests must be kept where a person looks."""
        gone = {**REQUEST, "backup_id": "gone"}
        result = function.invoke({"exports": [REQUEST, gone]})

        assert result["exports"][1]["error"]["code"] == "GES.7024"
        (dead,) = function.take("InputDeadLetterQueue")
        assert dead.attributes["error_code"] == "GES.7024"
        assert dead.attributes["error_message"].startswith("exports[1]: GES.7024: ")
        assert dead.body == {**gone, "scheduled_time": result["exports"][0]["requested_at"]}

    def test_a_direct_list_without_a_dead_letter_queue_shows_its_errors_to_the_caller(
        self, function: Function, graphs: Graphs, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "")

        result = function.invoke({"exports": [REQUEST, {**REQUEST, "backup_id": "gone"}]})

        assert result["exports"][1]["error"]["code"] == "GES.7024"
        assert function.take("InputDeadLetterQueue") == []
