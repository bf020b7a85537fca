"""Whether an export may have reached GES decides everything (docs/failures.md): only an exchange that
failed before any byte of the request left is retried; anything after that (a TLS error or a reset while
the answer is read, an answer no JSON reader decodes, an answer too large) is an unknown outcome,
remembered and never POSTed again by a machine.

GES is served over real TLS here (local/tls.py: a CA made for the test, trusted through
REQUESTS_CA_BUNDLE), so the TLS errors are the client's own, from its TLS layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ges_backup_export.ges.http import MAX_ANSWER_BYTES
from local.fake_ges import DEEP_JSON, FakeGes, Fault
from local.tls import LocalTls, local_tls
from tests.stand_ins import MOVIES_BACKUP, Function, Graphs, ges_over_tls
from tests.tracker_stand_ins import Tracker

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/sent/"}
UNKNOWN = "ExportOutcomeUnknown"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> LocalTls:
    return local_tls(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def tls_ges(
    tls: LocalTls, ges: FakeGes, function: Function, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeGes]:
    with ges_over_tls(ges, tls, monkeypatch) as fake:
        yield fake


def assert_unknown_and_never_sent_again(function: Function, ges: FakeGes) -> None:
    """The export ended unknown after one POST; asking again ends unknown without a POST."""
    first = function.invoke_failing(REQUEST)
    again = function.invoke_failing(REQUEST)

    assert (first.code, again.code) == (UNKNOWN, UNKNOWN)
    assert "may have started the export" in first.message
    assert len(ges.export_calls) == 1
    assert function.downstream() == []


def test_garbage_instead_of_a_tls_answer_after_the_request_is_an_unknown_outcome(
    function: Function, tls_ges: FakeGes, pauses: list[float]
) -> None:
    tls_ges.inject(Fault.garbage_after())

    assert_unknown_and_never_sent_again(function, tls_ges)
    assert len(tls_ges.jobs) == 1, "GES started the export it could not answer"
    assert pauses == []


@pytest.mark.parametrize("over_tls", [True, False], ids=["tls", "plain"])
def test_a_reset_after_the_request_is_an_unknown_outcome(
    function: Function, graphs: Graphs, ges: FakeGes, tls_ges: FakeGes, over_tls: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    target = tls_ges if over_tls else ges
    if not over_tls:
        monkeypatch.setenv("GES_ENDPOINT", ges.url)
    target.inject(Fault.reset_after())

    assert_unknown_and_never_sent_again(function, target)


def test_a_tls_handshake_that_failed_sent_nothing_and_is_retried(
    function: Function, tls: LocalTls, tls_ges: FakeGes, pauses: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # the function does not trust the stand-in's certificate

    error = function.invoke_failing(REQUEST)

    assert error.code == "GesUnavailable"
    assert "CERTIFICATE_VERIFY_FAILED" in error.message
    assert tls_ges.calls == []
    assert len(pauses) == 2  # GES_MAX_ATTEMPTS is 3
    # Nothing was remembered as unknown: once the certificate is trusted, the export starts.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
    assert function.invoke(REQUEST)["job_id"]
    assert len(tls_ges.export_calls) == 1


UNDECODABLE = [
    pytest.param(500, DEEP_JSON, id="500-nested-too-deep"),
    pytest.param(200, DEEP_JSON, id="200-nested-too-deep"),
    pytest.param(200, b'{"job_id": "', id="200-cut-short"),
    pytest.param(200, b"\xff\xfe not json", id="200-not-json"),
    pytest.param(200, b"[]", id="200-not-an-object"),
    pytest.param(504, b"<html>gateway timeout</html>", id="504-html"),
    pytest.param(200, b"[" + b" " * MAX_ANSWER_BYTES + b"]", id="200-too-large"),
]


@pytest.mark.parametrize(("status", "body"), UNDECODABLE)
def test_an_answer_that_cannot_be_read_after_the_request_is_an_unknown_outcome(
    function: Function, tls_ges: FakeGes, status: int, body: bytes
) -> None:
    tls_ges.inject(Fault.undecodable(status, body))

    assert_unknown_and_never_sent_again(function, tls_ges)


def test_from_the_queue_an_undecodable_answer_is_dead_lettered_as_unknown_after_one_post(
    function: Function, tls_ges: FakeGes
) -> None:
    tls_ges.inject(Fault.undecodable(500))
    function.send(REQUEST)
    function.send(REQUEST)  # a duplicate, which must not POST again

    function.poller().drain()

    dead = function.take("InputDeadLetterQueue")
    assert [message.attributes["error_code"] for message in dead] == [UNKNOWN, UNKNOWN]
    assert len(tls_ges.export_calls) == 1
    assert function.downstream() == []


@pytest.mark.parametrize("fault", [Fault.undecodable(200), Fault.garbage_after(), Fault.reset_after()])
def test_a_read_whose_answer_cannot_be_read_is_retried(
    function: Function, tls_ges: FakeGes, pauses: list[float], fault: Fault
) -> None:
    tls_ges.inject(fault, route="list_backups")

    result = function.invoke({**REQUEST, "backup_id": "latest"})

    assert result["backup_id"] == MOVIES_BACKUP
    assert len(pauses) == 1
    assert len(tls_ges.export_calls) == 1


@pytest.mark.parametrize(
    "fault", [Fault.undecodable(200), Fault.undecodable(500), Fault.garbage_after(), Fault.reset_after()]
)
def test_the_tracker_checks_again_after_a_status_answer_it_cannot_read(
    function: Function, tls_ges: FakeGes, tracker: Tracker, fault: Fault
) -> None:
    tracker.environment["GES_ENDPOINT"] = tls_ges.url
    tracker.environment["GES_MAX_ATTEMPTS"] = "1"  # the fault ends this check; the next one reads
    message = function.invoke(REQUEST)
    tls_ges.inject(fault, route="job_status")

    tracker.drain()

    events = tracker.events()
    assert [(event.detail_type, event.detail["job_id"]) for event in events] == [
        ("GES Backup Export Succeeded", message["job_id"])
    ]
    assert tls_ges.status_calls(message["job_id"]) == 2
