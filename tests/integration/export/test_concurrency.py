"""The requests of one invocation run concurrently (GES_CONCURRENCY) and each ends exactly as it would
alone (docs/requests.md, "Many exports at once"): same result, same idempotency, same dead-lettering,
its own log keys; a 429 slows them all; the token is read once for all of them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from local.aws_proxy import AwsProxy
from local.fake_ges import FakeGes, Fault, exporting_to
from tests.stand_ins import (
    FRIENDS_BACKUP,
    FRIENDS_PROJECT,
    MOVIES_BACKUP,
    PROJECT,
    Function,
    Graphs,
    wait_for,
)
from tests.tokens import canary_token

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_ID = re.compile(r"\b[0-9a-f]{32}\b")  # a GES job id, or the digest of an export's identity


def mixed_requests(prefix: str) -> list[dict[str, Any]]:
    """Requests with every outcome: a success, its duplicate, a refusal, an unknown outcome, a transient
    failure, a success in another project, a bad request, and `latest`."""
    movies = {"graph_id": "movies", "backup_id": MOVIES_BACKUP}
    return [
        {**movies, "export_path": f"{prefix}/a/"},
        {**movies, "export_path": f"{prefix}/a/"},
        {"graph_id": "movies", "backup_id": "no-such-backup", "export_path": f"{prefix}/b/"},
        {**movies, "export_path": f"{prefix}/unknown/"},
        {**movies, "export_path": f"{prefix}/transient/"},
        {"project_id": FRIENDS_PROJECT, "graph_id": "friends", "backup_id": FRIENDS_BACKUP,
         "export_path": f"{prefix}/c/"},
        {"graph_id": "../movies", "backup_id": MOVIES_BACKUP, "export_path": f"{prefix}/d/"},
        {"graph_id": "movies", "backup_id": "latest", "export_path": f"{prefix}/latest/"},
    ]  # fmt: skip


def with_faults(ges: FakeGes, prefix: str) -> None:
    """A 500 on the export into `<prefix>/unknown/`, 503s for ever on the one into `<prefix>/transient/`,
    whichever order the requests reach GES in."""
    ges.inject(Fault.http(500), when=exporting_to(f"{prefix}/unknown/"))
    ges.inject(Fault.http(503), times=1000, when=exporting_to(f"{prefix}/transient/"))


def normalized(value: Any, prefix: str) -> Any:
    """`value` with the run's prefix, times and ids made comparable across runs: job ids and export digests
    become the order in which they first appear."""
    text = _TIME.sub("<time>", json.dumps(value).replace(prefix, "<prefix>"))
    ids: dict[str, str] = {}
    for found in _ID.findall(text):
        if found not in (PROJECT, FRIENDS_PROJECT):
            ids.setdefault(found, f"id-{len(ids)}")
    return json.loads(_ID.sub(lambda match: ids.get(match.group(), match.group()), text))


def run_list(function: Function, ges: FakeGes, monkeypatch: pytest.MonkeyPatch, concurrency: int) -> Any:
    prefix = f"run-{concurrency}"
    monkeypatch.setenv("GES_CONCURRENCY", str(concurrency))
    with_faults(ges, prefix)
    result = function.invoke({"exports": mixed_requests(prefix)})
    dead = [
        (message.body, message.attributes["error_code"]) for message in function.take("InputDeadLetterQueue")
    ]
    downstream = sorted(function.downstream(), key=lambda message: message["export_path"])  # sent at once
    return normalized({"result": result, "downstream": downstream, "dead": dead}, prefix)


def run_batch(function: Function, ges: FakeGes, monkeypatch: pytest.MonkeyPatch, concurrency: int) -> Any:
    prefix = f"batch-{concurrency}"
    monkeypatch.setenv("GES_CONCURRENCY", str(concurrency))
    with_faults(ges, prefix)
    for request in mixed_requests(prefix):
        function.send(request)
    polled = function.poller(redelivery_delay=0).poll_once()
    retried = sorted((message.body for message in function.take("InputQueue")), key=json.dumps)
    dead = sorted(
        (
            (message.body, message.attributes["error_code"])
            for message in function.take("InputDeadLetterQueue")
        ),
        key=json.dumps,
    )
    downstream = sorted(function.downstream(), key=lambda message: message["export_path"])
    outcome = {"polled": vars(polled), "retried": retried, "dead": dead, "downstream": downstream}
    return normalized(outcome, prefix)


def test_a_list_run_concurrently_ends_exactly_as_one_run_in_order(
    function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    in_order = run_list(function, ges, monkeypatch, 1)
    concurrent = run_list(function, ges, monkeypatch, 8)

    assert concurrent == in_order
    codes = [entry.get("error", {}).get("code") for entry in concurrent["result"]["exports"]]
    assert codes == [
        None,
        None,
        "GES.7024",
        "ExportOutcomeUnknown",
        "GesUnavailable",
        None,
        "InvalidRequest",
        None,
    ]
    first, duplicate = concurrent["result"]["exports"][:2]
    assert duplicate == first  # the second waited for the first and got its job_id
    assert len(concurrent["downstream"]) == 3


def test_a_batch_run_concurrently_ends_exactly_as_one_run_in_order(
    function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    in_order = run_batch(function, ges, monkeypatch, 1)
    concurrent = run_batch(function, ges, monkeypatch, 8)

    assert concurrent == in_order
    assert concurrent["polled"] == {"received": 8, "succeeded": 7, "failed": 1}
    assert [body["export_path"] for body in concurrent["retried"]] == ["<prefix>/transient/"]
    assert sorted(code for _, code in concurrent["dead"]) == [
        "ExportOutcomeUnknown",
        "GES.7024",
        "InvalidRequest",
    ]
    assert len(concurrent["downstream"]) == 3


def test_a_429_pauses_every_request_not_only_the_one_that_got_it(
    function: Function, graphs: Graphs, ges: FakeGes, pauses: list[float]
) -> None:
    throttled = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/throttled/"}
    later = {"graph_id": "movies", "backup_id": "latest", "export_path": "ges-backups/later/"}
    ges.inject(Fault.http(429, retry_after=30), when=exporting_to("ges-backups/throttled/"))
    # `later` reads the backup list first, slowly: its export starts after the 429 came back.
    ges.inject(Fault.slow(1.0), route="list_backups")

    result = function.invoke({"exports": [throttled, later]})

    assert all("job_id" in entry for entry in result["exports"])
    assert len(ges.export_calls) == 3
    assert any(30 <= pause < 31 for pause in pauses)  # the throttled request's own wait (and jitter)
    assert any(25 < pause < 30 for pause in pauses)  # the other request waited out the rest of it


def test_a_429_storm_retries_each_request_once_after_the_pause(
    function: Function, graphs: Graphs, ges: FakeGes
) -> None:
    # Real waits. Each request meets one 429 (Retry-After 1 s) on its first attempt, whenever that comes
    # (a request that finds the pause already set waits it out first); then each retries once, no sooner
    # than the second GES asked for.
    requests = [
        {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": f"storm/{index}/"}
        for index in range(8)
    ]
    for request in requests:
        ges.inject(Fault.http(429, retry_after=1), when=exporting_to(request["export_path"]))

    result = function.invoke({"exports": requests})

    assert all("job_id" in entry for entry in result["exports"])
    for request in requests:
        throttled, retried = [call for call in ges.export_calls if exporting_to(request["export_path"])(call)]
        assert (throttled.status, retried.status) == (429, 200)
        assert retried.received - throttled.received >= 1.0  # it waited out Retry-After
    assert len(function.downstream()) == 8


def test_every_log_line_carries_its_own_request_s_keys(
    function: Function,
    ges: FakeGes,
    function_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    graph_ids = [f"graph{index}" for index in range(8)]
    backups = {graph_id: ges.add_backup(FRIENDS_PROJECT, graph_id) for graph_id in graph_ids}
    ges.latency = 0.05  # long enough for the requests to interleave
    requests = [
        {"project_id": FRIENDS_PROJECT, "graph_id": g, "backup_id": "latest", "export_path": f"keys/{g}/"}
        for g in graph_ids
    ]
    for request in requests[:4]:
        function.send(request)

    result = function.invoke({"exports": requests[4:]})
    function.poller().poll_once()

    lines = [line for line in function_logs() if "graph_id" in line]
    messages = [*result["exports"], *function.downstream()]
    job_of = {message["graph_id"]: message["job_id"] for message in messages}
    assert {line["graph_id"] for line in lines} == set(graph_ids)
    for line in lines:
        if line.get("backup_id") != "latest":
            assert line["backup_id"] == backups[line["graph_id"]], line
        assert line.get("job_id", job_of[line["graph_id"]]) == job_of[line["graph_id"]], line
    queued = {line["message_id"] for line in lines if line["graph_id"] in graph_ids[:4]}
    assert len(queued) == 4
    assert not any("message_id" in line for line in lines if line["graph_id"] in graph_ids[4:])


def test_a_cold_start_reads_the_token_once_and_a_401_reads_it_again_once(
    function: Function, graphs: Graphs, ges: FakeGes, aws: AwsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GES_CONCURRENCY", "7")  # settings no environment was built from yet: a cold token
    requests = [
        {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": f"token/{index}/"}
        for index in range(8)
    ]
    aws.reset_counts()
    function.invoke({"exports": requests[:4]})
    cold = aws.count("secretsmanager.GetSecretValue")
    boto3.client("secretsmanager").put_secret_value(
        SecretId=function.stack.secret_arn, SecretString=ges.rotate_token(canary_token())
    )
    aws.reset_counts()

    result = function.invoke({"exports": requests[4:]})

    assert cold == 1
    assert aws.count("secretsmanager.GetSecretValue") == 1
    assert all("job_id" in entry for entry in result["exports"])


@pytest.mark.parametrize("concurrency", [1, 3])
def test_ges_never_sees_more_calls_at_once_than_the_setting(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    monkeypatch.setenv("GES_CONCURRENCY", str(concurrency))
    ges.latency = 0.05
    lists = [
        {"exports": [{"graph_id": "movies", "backup_id": "latest", "export_path": f"bound/{r}/{e}/"}
                     for e in range(4)]}
        for r in range(4)
    ]  # fmt: skip
    for body in lists:  # records holding lists: the bound is shared, however the requests nest
        function.send(body)

    polled = function.poller().poll_once()

    assert polled.succeeded == 4
    assert len(ges.export_calls) == 16
    assert ges.most_in_flight == concurrency


def test_no_export_holds_its_lock_while_it_waits_for_a_turn_at_ges(
    function: Function, graphs: Graphs, ges: FakeGes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An invocation killed meanwhile would leave such a lock abandoned: an unknown outcome for an
    # export that was never sent.
    monkeypatch.setenv("GES_CONCURRENCY", "2")
    ges.inject(Fault.slow(2.0), times=2)  # the first two exports keep both turns for two seconds
    for index in range(4):
        function.send({"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": f"turn/{index}/"})
    polling = threading.Thread(target=function.poller().poll_once)
    polling.start()
    wait_for(lambda: len(ges.export_calls) == 2)
    time.sleep(0.5)  # the other two requests are waiting for a turn by now

    locked = [r for r in function.idempotency_records() if r.get("status") == "INPROGRESS"]
    polling.join()

    assert len(locked) == 2
    assert len(function.downstream()) == 4
