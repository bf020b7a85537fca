"""The fake GES server, exercised through real HTTP."""

from __future__ import annotations

import http.client
import json
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from local.fake_ges import (
    SAMPLE_BACKUP_ID,
    SAMPLE_OTHER_BACKUP_ID,
    SAMPLE_OTHER_PROJECT_ID,
    SAMPLE_PROJECT_ID,
    FakeGes,
    Fault,
    make_token,
    seed_sample_graphs,
)

ROOT = Path(__file__).resolve().parents[3]
PROJECT = "0123456789abcdef0123456789abcdef"
OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
GRAPH = "graph-1"
TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"  # GES's yyyy-MM-ddTHH:mm:ss


@pytest.fixture
def ges() -> Iterator[FakeGes]:
    with FakeGes() as fake:
        yield fake


def export_url(ges: FakeGes, graph: str = GRAPH) -> str:
    return f"{ges.url}/v2/{PROJECT}/graphs/{graph}/backups/export"


def export(ges: FakeGes, body: Any, *, auth: str | None = "valid", timeout: float = 2.0) -> requests.Response:
    """POST an export; ``auth`` is "valid" for the current token, None for no token, else the token sent."""
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["X-Auth-Token"] = ges.token if auth == "valid" else auth
    if isinstance(body, str):
        return requests.post(export_url(ges), data=body, headers=headers, timeout=timeout)
    return requests.post(export_url(ges), json=body, headers=headers, timeout=timeout)


def get(ges: FakeGes, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{ges.url}{path}", params=params, headers={"X-Auth-Token": ges.token}, timeout=2)


def start_export(ges: FakeGes, graph: str = GRAPH, path: str = "bucket/d/") -> str:
    """Add a backup to ``graph`` and export it to ``path``; returns the job_id."""
    backup = ges.add_backup(PROJECT, graph)
    resp = requests.post(
        export_url(ges, graph),
        json={"backup_id": backup, "export_path": path},
        headers={"X-Auth-Token": ges.token},
        timeout=2,
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["job_id"])


def job_status(ges: FakeGes, job_id: str) -> requests.Response:
    return get(ges, f"/v2/{PROJECT}/graphs/{GRAPH}/jobs/{job_id}/status")


def with_token(ges: FakeGes, token: str, path: str) -> requests.Response:
    return requests.get(f"{ges.url}{path}", headers={"X-Auth-Token": token}, timeout=2)


def wait_for(condition: Any, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def test_make_token_is_a_long_url_safe_mii_blob() -> None:
    token = make_token()
    assert len(token) == 4096
    assert token.startswith("MII")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len(make_token(100)) == 100
    assert make_token() != token


def test_export_success_records_a_job_served_by_the_status_api(ges: FakeGes) -> None:
    backup = ges.add_backup(PROJECT, GRAPH)
    resp = export(ges, {"backup_id": backup, "export_path": "bucket/dir/"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["X-Request-Id"]
    job_id = resp.json()["job_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)
    assert ges.exported_paths == {"bucket/dir/"}
    assert ges.jobs[job_id]["job_name"] == "ExportBackup"
    status = get(ges, f"/v2/{PROJECT}/graphs/{GRAPH}/jobs/{job_id}/status")
    assert status.status_code == 200
    assert status.json() == ges.jobs[job_id]
    assert status.json()["status"] == "success"
    assert status.json()["related_graph"] == "ges_graph_1"
    [call] = ges.export_calls
    assert (call.method, call.status, call.token_valid) == ("POST", 200, True)
    assert call.body == {"backup_id": backup, "export_path": "bucket/dir/"}
    jobs = get(ges, f"/v2/{PROJECT}/graphs/jobs").json()
    assert jobs == {"job_count": 1, "job_list": [ges.jobs[job_id]]}


def test_unknown_job_is_ges_7007(ges: FakeGes) -> None:
    resp = get(ges, f"/v2/{PROJECT}/graphs/{GRAPH}/jobs/{'0' * 32}/status")
    assert (resp.status_code, resp.json()["error_code"]) == (400, "GES.7007")


@pytest.mark.parametrize(
    ("token", "reason"), [(None, "x-auth-token not found"), ("MIIwrong", "decrypt token fail")]
)
def test_bad_token_is_apig_0301_and_never_recorded(ges: FakeGes, token: str | None, reason: str) -> None:
    backup = ges.add_backup(PROJECT, GRAPH)
    resp = export(ges, {"backup_id": backup, "export_path": "bucket/dir/"}, auth=token)
    assert resp.status_code == 401
    body = resp.json()
    assert body["error_code"] == "APIG.0301"
    assert body["error_msg"] == f"Incorrect IAM authentication information: {reason}"
    assert body["request_id"] == resp.headers["X-Request-Id"]
    assert ges.exported_paths == set()
    export(ges, {"backup_id": backup, "export_path": "bucket/other/"})
    assert [c.token_valid for c in ges.calls] == [False, True]
    assert ges.token not in repr(ges.calls)


def test_rotate_token_invalidates_the_old_one_at_once(ges: FakeGes) -> None:
    old = ges.token
    new = ges.rotate_token()
    assert new == ges.token != old
    resp = requests.get(f"{ges.url}/v2/{PROJECT}/graphs/jobs", headers={"X-Auth-Token": old}, timeout=2)
    assert (resp.status_code, resp.json()["error_code"]) == (401, "APIG.0301")
    assert get(ges, f"/v2/{PROJECT}/graphs/jobs").status_code == 200
    assert ges.rotate_token("MIIchosen") == "MIIchosen"


ERRORS = [
    ("not json", "bucket/d/", "GES.7016", "Request body or header invalid"),
    ("no graph", "bucket/d/", "GES.7000", "The graph does not exist or has been deleted."),
    ("stopped", "bucket/d/", "GES.7001", "The graph is not running."),
    ("no backup_id", "bucket/d/", "GES.7049", "The parameter [backup_id] is not exist."),
    ("", "bucket/d/", "GES.7050", "The parameter [backup_id] is empty."),
    ("ok", None, "GES.7049", "The parameter [export_path] is not exist."),
    ("ok", "", "GES.7050", "The parameter [export_path] is empty."),
    ("unknown", "bucket/d/", "GES.7024", "The graph backup does not exist or has been deleted."),
    ("failed", "bucket/d/", "GES.7040", "The graph backup is not successful."),
    ("ok", "bucket/used/", "GES.0001",
     "Incorrect parameter: the export path [bucket/used/] is not an empty OBS directory."),
]  # fmt: skip


@pytest.mark.parametrize(("backup", "path", "code", "message"), ERRORS)
def test_export_refusals_are_400_with_ges_codes(
    ges: FakeGes, backup: str, path: str | None, code: str, message: str
) -> None:
    ok = ges.add_backup(PROJECT, GRAPH)
    failed = ges.add_backup(PROJECT, GRAPH, status="failed")
    export(ges, {"backup_id": ok, "export_path": "bucket/used/"})
    if backup == "no graph":
        ges.reset()
    if backup == "stopped":
        ges.add_graph(PROJECT, GRAPH, status="900")
    body: Any = {"backup_id": {"ok": ok, "failed": failed}.get(backup, backup), "export_path": path}
    if backup == "no backup_id":
        del body["backup_id"]
    if path is None:
        del body["export_path"]
    resp = export(ges, "{not json" if backup == "not json" else body)
    assert resp.status_code == 400
    assert resp.json() == {"error_code": code, "error_msg": message}
    assert len(ges.jobs) == (0 if backup == "no graph" else 1)


def test_camel_error_style_applies_to_ges_errors_only(ges: FakeGes) -> None:
    ges.error_style = "camel"
    resp = export(ges, {"backup_id": "x", "export_path": "bucket/d/"})
    assert resp.json() == {
        "errorCode": "GES.7000",
        "errorMessage": "The graph does not exist or has been deleted.",
    }
    assert export(ges, {}, auth=None).json()["error_code"] == "APIG.0301"


def test_a_parent_of_an_exported_path_is_not_empty_either(ges: FakeGes) -> None:
    backup = ges.add_backup(PROJECT, GRAPH)
    assert export(ges, {"backup_id": backup, "export_path": "bucket/a/b/"}).status_code == 200
    for path in ("bucket/a/b", "bucket/a/"):
        assert export(ges, {"backup_id": backup, "export_path": path}).json()["error_code"] == "GES.0001"
    assert export(ges, {"backup_id": backup, "export_path": "bucket/a/c/"}).status_code == 200


def test_list_backups_pages_in_insertion_order(ges: FakeGes) -> None:
    stamps = [1_700_000_000_000 + ((i * 7) % 23) * 60_000 for i in range(23)]  # not in time order
    ids = [ges.add_backup(PROJECT, GRAPH, start_timestamp=s) for s in stamps]
    path = f"/v2/{PROJECT}/graphs/{GRAPH}/backups"
    first = get(ges, path).json()
    pages = [first, get(ges, path, offset=10).json(), get(ges, path, offset=20, limit=10).json()]
    assert [p["backup_count"] for p in pages] == [23, 23, 23]
    assert [len(p["backup_list"]) for p in pages] == [10, 10, 3]
    assert [b["id"] for p in pages for b in p["backup_list"]] == ids
    item = first["backup_list"][0]
    assert item["start_timestamp"] == stamps[0]
    assert item["start_time"] == "2023-11-14T22:13:20"
    assert item["end_timestamp"] == stamps[0] + 60_000
    assert {
        "id", "name", "backup_method", "graph_id", "graph_name", "graph_status", "graph_size_type_index",
        "data_store_version", "arch", "status", "start_timestamp", "start_time", "end_timestamp",
        "end_time", "size", "duration", "encrypted",
    } == set(item)  # fmt: skip
    assert (item["graph_status"], item["arch"], item["encrypted"]) == ("200", "x86_64", False)


@pytest.mark.parametrize("params", [{"offset": "x"}, {"limit": "-1"}, {"offset": "1.5"}])
def test_list_backups_rejects_bad_paging(ges: FakeGes, params: dict[str, str]) -> None:
    ges.add_graph(PROJECT, GRAPH)
    resp = get(ges, f"/v2/{PROJECT}/graphs/{GRAPH}/backups", **params)
    assert (resp.status_code, resp.json()["error_code"]) == (400, "GES.0001")


def test_list_backups_of_unknown_graph_is_ges_7000(ges: FakeGes) -> None:
    resp = get(ges, f"/v2/{PROJECT}/graphs/nope/backups")
    assert (resp.status_code, resp.json()["error_code"]) == (400, "GES.7000")


def test_default_timestamps_make_the_last_added_the_newest(ges: FakeGes) -> None:
    ids = [ges.add_backup(PROJECT, GRAPH) for _ in range(3)]
    items = get(ges, f"/v2/{PROJECT}/graphs/{GRAPH}/backups").json()["backup_list"]
    assert max(items, key=lambda b: b["start_timestamp"])["id"] == ids[-1]
    with pytest.raises(ValueError, match="already exists"):
        ges.add_backup(PROJECT, GRAPH, backup_id=ids[0])


def test_throttling_fault_sets_retry_after_and_is_consumed_once(ges: FakeGes) -> None:
    backup = ges.add_backup(PROJECT, GRAPH)
    ges.inject(Fault.http(429, retry_after=2))
    resp = export(ges, {"backup_id": backup, "export_path": "bucket/d/"}, auth=None)  # faults come first
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "2"
    assert resp.json()["error_code"] == "APIG.0308"
    assert ges.exported_paths == set()
    assert export(ges, {"backup_id": backup, "export_path": "bucket/d/"}).status_code == 200
    assert [c.status for c in ges.export_calls] == [429, 200]


def test_fault_times_and_routes(ges: FakeGes) -> None:
    backup = ges.add_backup(PROJECT, GRAPH)
    ges.inject(Fault.http(503), times=2)
    ges.inject(Fault.ges_error(400, "GES.7002", "The graph is being backed up.", style="camel"))
    ges.inject(Fault.http(500), route="list_backups")
    body = {"backup_id": backup, "export_path": "bucket/d/"}
    answers = [export(ges, body) for _ in range(4)]
    assert [r.status_code for r in answers] == [503, 503, 400, 200]
    assert answers[0].json()["error_code"] == "APIG.0203"
    assert answers[2].json() == {"errorCode": "GES.7002", "errorMessage": "The graph is being backed up."}
    listed = get(ges, f"/v2/{PROJECT}/graphs/{GRAPH}/backups")
    assert listed.json() == {
        "error_code": "GES.7006",
        "error_msg": "Internal error in underlying graph engine.",
    }
    ges.inject(Fault.http(502), route="any")
    assert get(ges, f"/v2/{PROJECT}/graphs/jobs").status_code == 502
    with pytest.raises(ValueError, match="unknown route"):
        ges.inject(Fault.http(500), route="nope")


def test_slow_fault_times_out_the_client_but_the_export_is_accepted(ges: FakeGes) -> None:
    backup = ges.add_backup(PROJECT, GRAPH)
    ges.inject(Fault.slow(0.3))
    url, body = export_url(ges), {"backup_id": backup, "export_path": "bucket/slow/"}
    with pytest.raises(requests.ReadTimeout):
        requests.post(url, json=body, headers={"X-Auth-Token": ges.token}, timeout=0.1)
    assert wait_for(lambda: ges.exported_paths == {"bucket/slow/"})  # the ambiguous case
    assert wait_for(lambda: ges.export_calls[0].status == 200)


def test_dropped_connection_is_a_connection_error_and_recorded(ges: FakeGes) -> None:
    backup = ges.add_backup(PROJECT, GRAPH)
    ges.inject(Fault.dropped())
    with pytest.raises(requests.ConnectionError):
        export(ges, {"backup_id": backup, "export_path": "bucket/d/"})
    [call] = ges.export_calls
    assert call.status is None
    assert call.body == {"backup_id": backup, "export_path": "bucket/d/"}
    assert ges.exported_paths == set()


def test_latency_delays_every_answer(ges: FakeGes) -> None:
    ges.latency = 0.2
    started = time.monotonic()
    assert export(ges, {}, auth=None).status_code == 401
    assert time.monotonic() - started >= 0.2


def test_server_prints_nothing_even_for_aborted_connections(
    ges: FakeGes, capfd: pytest.CaptureFixture[str]
) -> None:
    backup = ges.add_backup(PROJECT, GRAPH)
    ges.inject(Fault.dropped())
    ges.inject(Fault.slow(0.2))
    with pytest.raises(requests.ConnectionError):
        export(ges, {"backup_id": backup, "export_path": "bucket/a/"})
    with pytest.raises(requests.ReadTimeout):
        export(ges, {"backup_id": backup, "export_path": "bucket/b/"}, auth=None, timeout=0.05)
    assert wait_for(lambda: len(ges.calls) == 2 and ges.calls[1].status == 401)
    export(ges, {"backup_id": backup, "export_path": "bucket/c/"})
    assert capfd.readouterr() == ("", "")


def test_unknown_route_is_apig_0101(ges: FakeGes) -> None:
    resp = requests.delete(f"{ges.url}/v2/{PROJECT}/graphs/{GRAPH}", timeout=2)
    assert resp.status_code == 404
    assert resp.json()["error_code"] == "APIG.0101"
    assert resp.headers["Content-Type"] == "application/json"


def test_keep_alive_serves_several_requests_on_one_connection(ges: FakeGes) -> None:
    host, port = ges.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        for _ in range(3):
            conn.request("GET", f"/v2/{PROJECT}/graphs/jobs", headers={"X-Auth-Token": ges.token})
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.read() == b'{"job_count": 0, "job_list": []}'
    finally:
        conn.close()


def test_reset_clears_state_but_keeps_token_and_server(ges: FakeGes) -> None:
    token = ges.token
    backup = ges.add_backup(PROJECT, GRAPH)
    export(ges, {"backup_id": backup, "export_path": "bucket/d/"})
    ges.inject(Fault.http(503))
    ges.reset()
    assert (ges.calls, ges.jobs, ges.exported_paths, ges.token) == ([], {}, set(), token)
    resp = get(ges, f"/v2/{PROJECT}/graphs/{GRAPH}/backups")  # no fault left, graph gone
    assert (resp.status_code, resp.json()["error_code"]) == (400, "GES.7000")


# -- graphs (section 4) and the project's backups (section 2b) ------------------------------------
GRAPH_FIELDS = {
    "id", "name", "status", "data_store_version", "graph_size_type_index", "arch", "product_type",
    "created", "updated", "encrypted",
}  # fmt: skip


def test_list_graphs_pages_the_projects_graphs_in_insertion_order(ges: FakeGes) -> None:
    ids = [f"g{index:02d}" for index in range(12)]
    for graph_id in ids:
        ges.add_graph(PROJECT, graph_id)
    ges.add_graph(PROJECT, "g03", name="stopped_graph", status="900")
    ges.add_graph(OTHER_PROJECT, "elsewhere", status="800")
    path = f"/v2/{PROJECT}/graphs"
    first, second = get(ges, path).json(), get(ges, path, offset=10, limit=10).json()
    assert (first["graph_count"], second["graph_count"]) == (12, 12)
    assert [len(first["graphs"]), len(second["graphs"])] == [10, 2]
    assert [graph["id"] for graph in first["graphs"] + second["graphs"]] == ids
    stopped = first["graphs"][3]
    assert set(stopped) >= GRAPH_FIELDS
    assert (stopped["name"], stopped["status"], first["graphs"][0]["status"]) == (
        "stopped_graph",
        "900",
        "200",
    )
    assert re.fullmatch(TIME, stopped["created"])
    assert re.fullmatch(TIME, stopped["updated"])
    assert (stopped["arch"], stopped["product_type"], stopped["encrypted"]) == ("x86_64", "InMemory", False)
    other = get(ges, f"/v2/{OTHER_PROJECT}/graphs").json()
    assert (other["graph_count"], other["graphs"][0]["status"]) == (1, "800")
    bad = get(ges, path, limit="ten")
    assert (bad.status_code, bad.json()["error_code"]) == (400, "GES.0001")


def test_show_graph_wraps_the_listed_graph_and_a_missing_one_is_ges_7000(ges: FakeGes) -> None:
    ges.add_graph(PROJECT, GRAPH, status="800")
    shown = get(ges, f"/v2/{PROJECT}/graphs/{GRAPH}")
    assert shown.status_code == 200
    assert shown.json() == {"graph": get(ges, f"/v2/{PROJECT}/graphs").json()["graphs"][0]}
    graph = shown.json()["graph"]
    assert (graph["id"], graph["name"], graph["status"]) == (GRAPH, "ges_graph_1", "800")
    for path in (f"/v2/{PROJECT}/graphs/nope", f"/v2/{OTHER_PROJECT}/graphs/{GRAPH}"):
        missing = get(ges, path)
        assert (missing.status_code, missing.json()["error_code"]) == (400, "GES.7000")


def test_graphs_jobs_and_graphs_backups_are_not_graph_ids(ges: FakeGes) -> None:
    ges.add_backup(PROJECT, GRAPH)
    ges.inject(Fault.http(503), route="show_graph")
    assert get(ges, f"/v2/{PROJECT}/graphs/backups").json()["backup_count"] == 1
    assert get(ges, f"/v2/{PROJECT}/graphs/jobs/").json() == {"job_count": 0, "job_list": []}
    assert get(ges, f"/v2/{PROJECT}/graphs/{GRAPH}").status_code == 503  # the fault waited for show_graph
    posted = requests.post(
        f"{ges.url}/v2/{PROJECT}/graphs/{GRAPH}", headers={"X-Auth-Token": ges.token}, timeout=2
    )
    assert (posted.status_code, posted.json()["error_code"]) == (404, "APIG.0101")


def test_list_all_backups_pages_the_projects_backups_graph_by_graph(ges: FakeGes) -> None:
    first = [ges.add_backup(PROJECT, "graph-a") for _ in range(7)]
    ges.add_backup(OTHER_PROJECT, "graph-a")
    second = [ges.add_backup(PROJECT, "graph-b", status="failed") for _ in range(5)]
    path = f"/v2/{PROJECT}/graphs/backups"
    pages = [get(ges, path).json(), get(ges, path, offset=10).json()]
    assert [page["backup_count"] for page in pages] == [12, 12]
    assert [item["id"] for page in pages for item in page["backup_list"]] == first + second
    per_graph = get(ges, f"/v2/{PROJECT}/graphs/graph-b/backups").json()["backup_list"]
    assert pages[1]["backup_list"] == per_graph[3:]  # the same items as the graph's own list
    bad = get(ges, path, offset="-1")
    assert (bad.status_code, bad.json()["error_code"]) == (400, "GES.0001")


# -- the job list's filters (section 3) -----------------------------------------------------------
@pytest.fixture
def scripted_jobs(ges: FakeGes) -> list[str]:
    """Five jobs: graph-a running, graph-a pending, graph-b success, graph-b failed, graph-a success."""
    plan = [("graph-a", "running"), ("graph-a", "pending"), ("graph-b", "success"), ("graph-b", "failed"),
            ("graph-a", "success")]  # fmt: skip
    ids = []
    for index, (graph, status) in enumerate(plan):
        job_id = start_export(ges, graph, f"bucket/{index}/")
        ges.script_job(job_id, [status])
        ids.append(job_id)
    return ids


def listed_jobs(ges: FakeGes, **params: Any) -> list[str]:
    body = get(ges, f"/v2/{PROJECT}/graphs/jobs", **params).json()
    ids = [job["job_id"] for job in body["job_list"]]
    if "limit" not in params and "offset" not in params:
        assert body["job_count"] == len(ids)
    return ids


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [0, 1, 2, 3, 4]),
        ({"status": "running"}, [0]),
        ({"status": "waiting"}, [1]),
        ({"status": "success"}, [2, 4]),
        ({"status": "failed"}, [3]),
        ({"graph_name": "ges_graph_b"}, [2, 3]),
        ({"graph_name": "ges_graph_a", "status": "success"}, [4]),
        ({"graph_name": "nope"}, []),
    ],
)
def test_job_list_filters_by_status_and_graph_name(
    ges: FakeGes, scripted_jobs: list[str], params: dict[str, str], expected: list[int]
) -> None:
    assert listed_jobs(ges, **params) == [scripted_jobs[index] for index in expected]


def test_job_list_filters_by_begin_date_inclusively_and_pages_the_matches(
    ges: FakeGes, scripted_jobs: list[str]
) -> None:
    days = {job_id: ges.jobs[job_id]["begin_time"][:10] for job_id in scripted_jobs}
    first, last = min(days.values()), max(days.values())
    assert listed_jobs(ges, start_time=first, end_time=last) == scripted_jobs
    assert listed_jobs(ges, start_time=last, end_time=last) == [j for j in scripted_jobs if days[j] == last]
    assert listed_jobs(ges, start_time=_shift(last, 1)) == []
    assert listed_jobs(ges, end_time=_shift(first, -1)) == []
    page = get(ges, f"/v2/{PROJECT}/graphs/jobs", status="success", offset=1, limit=1).json()
    assert page["job_count"] == 2
    assert [job["job_id"] for job in page["job_list"]] == [scripted_jobs[4]]


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


@pytest.mark.parametrize("value", ["2026-13-01", "2026-02-30", "2026/11/01", "20261101", "yesterday"])
@pytest.mark.parametrize("name", ["start_time", "end_time"])
def test_job_list_refuses_an_invalid_date(ges: FakeGes, name: str, value: str) -> None:
    resp = get(ges, f"/v2/{PROJECT}/graphs/jobs", **{name: value})
    assert (resp.status_code, resp.json()["error_code"]) == (400, "GES.0001")
    assert name in resp.json()["error_msg"]


# -- error spellings (section 5) ------------------------------------------------------------------
def _spelled(style: str, code: str, message: str) -> dict[str, Any]:
    spellings: dict[str, dict[str, Any]] = {
        "snake": {"error_code": code, "error_msg": message},
        "camel": {"errorCode": code, "errorMessage": message},
        "camel_msg": {"errorCode": code, "errorMsg": message},
        "code": {"code": code, "message": message},
        "nested": {"error": {"error_code": code, "error_msg": message}},
    }
    return spellings[style]


@pytest.mark.parametrize("style", ["snake", "camel", "camel_msg", "code", "nested"])
def test_error_styles_spell_ges_errors_but_not_gateway_ones(ges: FakeGes, style: str) -> None:
    ges.error_style = style
    missing = get(ges, f"/v2/{PROJECT}/graphs/nope")
    assert missing.json() == _spelled(style, "GES.7000", "The graph does not exist or has been deleted.")
    ges.inject(Fault.ges_error(400, "GES.7002", "The graph is being backed up.", style=style), route="any")
    injected = get(ges, f"/v2/{PROJECT}/graphs")
    assert injected.json() == _spelled(style, "GES.7002", "The graph is being backed up.")
    assert with_token(ges, "MIIwrong", f"/v2/{PROJECT}/graphs").json()["error_code"] == "APIG.0301"
    with FakeGes(error_style=style) as other:
        assert get(other, f"/v2/{PROJECT}/graphs/nope").json() == missing.json()


def test_an_unknown_error_style_is_refused_at_once(ges: FakeGes) -> None:
    with pytest.raises(ValueError, match="unknown error style"):
        ges.error_style = "kebab"
    with pytest.raises(ValueError, match="unknown error style"):
        FakeGes(error_style="kebab")
    with pytest.raises(ValueError, match="unknown error style"):
        Fault.ges_error(400, "GES.0001", "x", style="kebab")
    assert ges.error_style == "snake"


# -- backups (section 2) --------------------------------------------------------------------------
def listed_backups(ges: FakeGes, graph: str = GRAPH) -> dict[str, dict[str, Any]]:
    items = get(ges, f"/v2/{PROJECT}/graphs/{graph}/backups", limit=100).json()["backup_list"]
    return {item["id"]: item for item in items}


def test_manual_and_auto_backups_are_named_like_gess_and_lie_in_the_past(ges: FakeGes) -> None:
    before = int(time.time()) * 1000
    manual = ges.add_backup(PROJECT, GRAPH)
    auto = ges.add_backup(PROJECT, GRAPH, backup_method="auto", status="failed")
    after = time.time() * 1000
    items = listed_backups(ges)
    made, automatic = items[manual], items[auto]
    stamp = made["start_time"].replace("-", "").replace("T", "").replace(":", "")
    assert (made["backup_method"], made["name"]) == ("manual", f"ges_graph_1-{stamp}")
    assert automatic["backup_method"] == "auto"
    assert re.fullmatch(r"ges_graph_1_\d{14}_auto", automatic["name"])
    assert before - 600_000 <= made["start_timestamp"]
    assert automatic["start_timestamp"] == made["start_timestamp"] + 1000  # the last added is the newest
    assert (made["end_timestamp"] - made["start_timestamp"], made["duration"]) == (60_000, 60)
    assert all(item["end_timestamp"] < after for item in items.values())


def test_default_start_follows_a_later_explicit_backup_and_end_can_be_given(ges: FakeGes) -> None:
    future = int(time.time()) * 1000 + 3_600_000
    ges.add_backup(PROJECT, GRAPH, start_timestamp=future, end_timestamp=future + 5_000, status="backing_up")
    following = ges.add_backup(PROJECT, GRAPH)
    items = listed_backups(ges)
    assert items[following]["start_timestamp"] == future + 1000
    explicit = next(item for item in items.values() if item["status"] == "backing_up")
    assert (explicit["end_timestamp"], explicit["duration"]) == (future + 5_000, 5)
    with pytest.raises(ValueError, match="before"):
        ges.add_backup(PROJECT, GRAPH, start_timestamp=future, end_timestamp=future - 1)
    with pytest.raises(ValueError, match="unknown backup status"):
        ges.add_backup(PROJECT, GRAPH, status="succeeded")
    with pytest.raises(ValueError, match="unknown backup method"):
        ges.add_backup(PROJECT, GRAPH, backup_method="import")


# -- jobs that move (section 3) -------------------------------------------------------------------
def test_a_job_moves_one_step_per_status_call_then_stays(ges: FakeGes) -> None:
    ges.job_script = ("pending", "running", "running", "success")
    job_id = start_export(ges)
    created = listed_jobs_body(ges)[0]
    assert (created["status"], created["fail_reason"]) == ("pending", "")
    assert "end_time" not in created
    assert re.fullmatch(TIME, created["begin_time"])
    answers = [job_status(ges, job_id).json() for _ in range(2)]
    assert [listed_jobs_body(ges)[0]["status"] for _ in range(3)] == ["running"] * 3  # listing moves nothing
    answers += [job_status(ges, job_id).json() for _ in range(4)]
    assert [a["status"] for a in answers] == [
        "pending",
        "running",
        "running",
        "success",
        "success",
        "success",
    ]
    assert all("end_time" not in answer for answer in answers[:3])
    done = answers[3]
    assert re.fullmatch(TIME, done["end_time"])
    assert done["end_time"] >= done["begin_time"]
    assert done["fail_reason"] == ""
    assert answers[5]["end_time"] == done["end_time"]
    assert listed_jobs_body(ges)[0] == answers[-1] == ges.jobs[job_id]
    assert ges.status_calls(job_id) == 6
    assert ges.status_calls("unknown") == 0


def listed_jobs_body(ges: FakeGes) -> list[dict[str, Any]]:
    return list(get(ges, f"/v2/{PROJECT}/graphs/jobs").json()["job_list"])


def test_script_job_overrides_one_job_with_any_statuses_and_a_fail_reason(ges: FakeGes) -> None:
    first, second = start_export(ges, path="bucket/a/"), start_export(ges, path="bucket/b/")
    ges.script_job(first, ["paused", "running", "failed"], fail_reason="OBS bucket not found")
    answers = [job_status(ges, first).json() for _ in range(4)]
    assert [a["status"] for a in answers] == ["paused", "running", "failed", "failed"]
    assert (answers[0]["fail_reason"], "end_time" in answers[0]) == ("", False)
    assert answers[2]["fail_reason"] == "OBS bucket not found"
    assert re.fullmatch(TIME, answers[2]["end_time"])
    assert job_status(ges, second).json()["status"] == "success"  # the default script
    ges.job_script = ["failed"]
    failed = job_status(ges, start_export(ges, path="bucket/c/")).json()
    assert (failed["status"], bool(failed["fail_reason"])) == ("failed", True)
    with pytest.raises(KeyError):
        ges.script_job("nope", ["running"])
    with pytest.raises(TypeError):
        ges.script_job(first, "success")
    with pytest.raises(ValueError, match="at least one status"):
        ges.job_script = []
    ges.reset()
    assert ges.job_script == ("success",)


def test_a_forgotten_job_is_ges_7007_and_leaves_the_job_list(ges: FakeGes) -> None:
    kept, forgotten = start_export(ges, path="bucket/a/"), start_export(ges, path="bucket/b/")
    ges.forget_job(forgotten)
    resp = job_status(ges, forgotten)
    assert (resp.status_code, resp.json()) == (
        400,
        {"error_code": "GES.7007", "error_msg": "The job does not exist."},
    )
    assert listed_jobs(ges) == [kept]
    assert forgotten in ges.jobs  # the export did happen
    assert ges.status_calls(forgotten) == 1
    with pytest.raises(KeyError):
        ges.forget_job("nope")


def test_faults_on_the_status_route_come_first_and_move_no_script(ges: FakeGes) -> None:
    ges.job_script = ("running", "success")
    job_id = start_export(ges)
    ges.inject(Fault.http(503), route="job_status")
    assert job_status(ges, job_id).status_code == 503
    assert ges.status_calls(job_id) == 0
    assert [job_status(ges, job_id).json()["status"] for _ in range(2)] == ["running", "success"]
    assert ges.status_calls(job_id) == 2


# -- tokens of a fake IAM (sections 5 to 7) -------------------------------------------------------
class TinyIam:
    """Just enough of an IAM: the tokens it issued and still holds valid, with their projects."""

    def __init__(self) -> None:
        self.valid: dict[str, str] = {}

    def issue(self, project_id: str) -> str:
        token = make_token(2048)
        self.valid[token] = project_id
        return token

    def token_project(self, token: str) -> str | None:
        return self.valid.get(token)


def test_issued_tokens_are_valid_for_their_project_until_the_issuer_drops_them() -> None:
    iam = TinyIam()
    with FakeGes(issuer=iam) as ges:
        for project in (PROJECT, OTHER_PROJECT):
            ges.add_backup(project, GRAPH)
        old, new = iam.issue(PROJECT), iam.issue(PROJECT)
        mine, others = f"/v2/{PROJECT}/graphs/{GRAPH}/backups", f"/v2/{OTHER_PROJECT}/graphs/{GRAPH}/backups"
        assert [with_token(ges, token, mine).status_code for token in (old, new)] == [200, 200]
        wrong = with_token(ges, new, others)
        assert (wrong.status_code, wrong.json()) == (
            400,
            {"error_code": "GES.0016", "error_msg": "Resource not found"},
        )
        assert with_token(ges, ges.token, others).status_code == 200  # its own token: any project
        del iam.valid[old]  # expired
        for token in (old, make_token()):
            refused = with_token(ges, token, mine)
            assert (refused.status_code, refused.json()["error_code"]) == (401, "APIG.0301")
        assert [call.token_valid for call in ges.calls] == [True, True, True, True, False, False]
        assert not any(token in repr(ges.calls) for token in (old, new, ges.token))


def test_an_issued_token_of_another_project_exports_nothing(ges: FakeGes) -> None:
    iam = TinyIam()
    token = iam.issue(PROJECT)
    assert with_token(ges, token, f"/v2/{PROJECT}/graphs").status_code == 401
    ges.accept_tokens_from(iam)
    backup = ges.add_backup(OTHER_PROJECT, GRAPH)
    url = f"{ges.url}/v2/{OTHER_PROJECT}/graphs/{GRAPH}/backups/export"
    ges.error_style = "camel"
    body = {"backup_id": backup, "export_path": "bucket/d/"}
    resp = requests.post(url, json=body, headers={"X-Auth-Token": token}, timeout=2)
    assert (resp.status_code, resp.json()) == (
        400,
        {"errorCode": "GES.0016", "errorMessage": "Resource not found"},
    )
    assert (ges.jobs, ges.exported_paths) == ({}, set())
    assert with_token(ges, token, f"/v2/{PROJECT}/graphs").status_code == 200
    ges.accept_tokens_from(None)
    assert with_token(ges, token, f"/v2/{PROJECT}/graphs").status_code == 401


# -- a trickling answer ---------------------------------------------------------------------------
def test_a_trickled_answer_outlasts_a_per_read_timeout_and_the_export_is_accepted(ges: FakeGes) -> None:
    backup = ges.add_backup(PROJECT, GRAPH)
    ges.inject(Fault.trickle(0.05))
    started = time.monotonic()
    resp = export(ges, {"backup_id": backup, "export_path": "bucket/trickle/"}, timeout=0.5)
    assert time.monotonic() - started > 2.0  # well over the 0.5 s timeout, yet no timeout
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json()["job_id"] in ges.jobs
    assert ges.exported_paths == {"bucket/trickle/"}
    assert [call.status for call in ges.export_calls] == [200]
    with pytest.raises(ValueError, match="positive"):
        Fault.trickle(0)


def test_stopping_the_fake_ends_a_trickle() -> None:
    ges = FakeGes().start()
    backup = ges.add_backup(PROJECT, GRAPH)
    ges.inject(Fault.trickle(5.0))  # the whole answer would take some 20 minutes
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(export(ges, {"backup_id": backup, "export_path": "bucket/t/"}, timeout=30))
        except requests.RequestException as error:
            outcome.append(error)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    assert wait_for(lambda: ges.exported_paths == {"bucket/t/"})
    ges.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert isinstance(outcome[0], requests.ConnectionError)


# -- the sample data and the command line ---------------------------------------------------------
def test_seed_sample_graphs_holds_what_the_sample_events_name(ges: FakeGes) -> None:
    seed_sample_graphs(ges)
    path = f"/v2/{SAMPLE_PROJECT_ID}/graphs/movies/backups"
    first = get(ges, path).json()
    assert (first["backup_count"], len(first["backup_list"])) == (13, 10)
    backups = get(ges, path, limit=100).json()["backup_list"]
    assert backups[0]["id"] == SAMPLE_BACKUP_ID
    by_start = sorted(backups, key=lambda b: b["start_timestamp"])
    assert [b["status"] for b in by_start] == ["success"] * 12 + ["failed"]
    assert by_start[0]["id"] == SAMPLE_BACKUP_ID
    assert all(b["end_timestamp"] < time.time() * 1000 for b in backups)
    friends = get(ges, f"/v2/{SAMPLE_OTHER_PROJECT_ID}/graphs/friends/backups").json()["backup_list"]
    assert [b["id"] for b in friends] == [SAMPLE_OTHER_BACKUP_ID]
    events = [
        json.loads((ROOT / "events" / name).read_text())
        for name in ("console_single.json", "console_exports.json")
    ]
    for entry in [events[0], *events[1]["exports"]]:
        if entry["backup_id"] != "latest":
            project = entry.get("project_id", SAMPLE_PROJECT_ID)
            listed = get(ges, f"/v2/{project}/graphs/{entry['graph_id']}/backups", limit=100).json()
            assert entry["backup_id"] in [b["id"] for b in listed["backup_list"]]


def test_the_command_line_prints_the_environment_but_never_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("stale")
    token_file.chmod(0o644)
    command = [sys.executable, "-m", "local.fake_ges", "--port", "0", "--token-file", str(token_file)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [line.rstrip("\n") for line in _until(process.stdout, "Ctrl-C")]
        token = token_file.read_text()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        environment = dict(line.split("=", 1) for line in lines if line.startswith("GES_"))
        assert environment["GES_PROJECT_ID"] == SAMPLE_PROJECT_ID
        listed = with_token_at(
            environment["GES_ENDPOINT"], token, f"/v2/{SAMPLE_PROJECT_ID}/graphs/movies/backups"
        )
        assert listed.json()["backup_count"] == 13
        assert any("token file" in line for line in lines)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert token.startswith("MII")
    assert token not in "\n".join(lines) + out + err


def _until(stream: Any, prefix: str) -> Iterator[str]:
    for line in stream:
        yield line
        if line.startswith(prefix):
            return


def with_token_at(url: str, token: str, path: str) -> requests.Response:
    return requests.get(f"{url}{path}", headers={"X-Auth-Token": token}, timeout=2)
