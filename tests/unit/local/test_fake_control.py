"""The fake GES's control routes (local/fake_control.py): a fault injected from outside fires as
`FakeGes.inject`'s does, and a body that is not a fault is refused, saying why."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from local.fake_control import PATH, enable
from local.fake_ges import SAMPLE_BACKUP_ID, SAMPLE_GRAPH_ID, SAMPLE_PROJECT_ID, FakeGes, seed_sample_graphs

EXPORT_PATH = "ges-backups/movies/control/"


@pytest.fixture
def ges() -> Iterator[FakeGes]:
    with enable(FakeGes()) as fake:
        seed_sample_graphs(fake)
        yield fake


def call(url: str, method: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the fake, on loopback
    if token:
        request.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def export(ges: FakeGes, path: str = EXPORT_PATH) -> tuple[int, Any]:
    url = f"{ges.url}/v2/{SAMPLE_PROJECT_ID}/graphs/{SAMPLE_GRAPH_ID}/backups/export"
    return call(url, "POST", {"backup_id": SAMPLE_BACKUP_ID, "export_path": path}, ges.token)


def test_a_fault_posted_from_outside_answers_the_next_export_and_is_counted(ges: FakeGes) -> None:
    fault = {"route": "export", "status": 500, "times": 1}

    assert call(ges.url + PATH, "POST", fault) == (200, {"queued": fault})
    first, second = export(ges), export(ges)

    assert first[0] == 500
    assert second[0] != 500  # once only; GES itself answers the second
    assert call(ges.url + PATH, "GET") == (200, {"faults_fired": 1})
    assert [c.status for c in ges.export_calls] == [500, second[0]]  # the control calls are not GES's


def test_a_lost_answer_after_ges_started_the_export_leaves_a_job_to_find(ges: FakeGes) -> None:
    seeded = set(ges.jobs)
    call(ges.url + PATH, "POST", {"fault": "reset_after", "export_path": EXPORT_PATH})

    with pytest.raises((ConnectionError, urllib.error.URLError)):
        export(ges)

    started = set(ges.jobs) - seeded
    assert len(started) == 1


def test_delete_drops_the_faults_not_fired_yet(ges: FakeGes) -> None:
    call(ges.url + PATH, "POST", {"status": 503, "times": 5})

    assert call(ges.url + PATH, "DELETE") == (200, {"cleared": True})
    assert call(ges.url + PATH, "GET") == (200, {"faults_fired": 0})


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([500], "JSON object"),
        ({"route": "nowhere", "status": 500}, "route must be one of"),
        ({"status": 500, "fault": "dropped"}, "either"),
        ({}, "either"),
        ({"status": 200}, "400 to 599"),
        ({"fault": "melt"}, "fault must be one of"),
        ({"status": 500, "times": 0}, "at least 1"),
        ({"status": 500, "colour": "red"}, "unknown fields"),
    ],
)
def test_a_body_that_is_no_fault_is_refused_saying_why(ges: FakeGes, body: Any, says: str) -> None:
    status, answer = call(ges.url + PATH, "POST", body)

    assert status == 400
    assert says in answer["error"]
    assert call(ges.url + PATH, "GET") == (200, {"faults_fired": 0})


def test_a_fake_without_the_control_routes_treats_them_as_an_unknown_api() -> None:
    with FakeGes() as plain:
        status, answer = call(plain.url + PATH, "POST", {"status": 500})

    assert status == 404
    assert answer["error_code"] == "APIG.0101"
