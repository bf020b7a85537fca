"""The restore tester's cost: a restore test's AWS requests and GES calls beside a bare baseline making the
same calls (bench/baseline_restore.py), and the time of a `"*"` restore test over 20 graphs with GES
answering every call in 200 ms.

Round trips: both handlers run in this process, in the tester's environment (the template's), each loaded
once, so the first tick is a cold one (the secret is read). A test is a tick (the graph's details, the
history, the graph's claim, its backups, the import once, the follow-up) and the follow-ups of its import
job: one that finds the job still running (the follow-up again) and one that finds it ended (the backups
listed, the imported one deleted, the event put, the claim given back). The receive and delete of Lambda's
event source mapping are not counted, as for the export.

The `"*"` test: in a fresh interpreter, warm (one `"*"` test of a one-graph project first), each timed test
on a project of its own with 20 graphs, each graph with an export in the history: the graph list, then per
graph its backups and the import, at most GES_CONCURRENCY calls at once. Ideal is what those calls alone
take: the list, then ceil(2 x 20 / GES_CONCURRENCY) rounds of calls, each the latency.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bench.spawn import ROOT, run_child
from bench.stand_ins import PROJECT, StandIns, queue_event
from local.aws import take_messages
from local.lambda_runtime import Handler, LocalContext, function_environment, load_function

TESTER = "TestRestoreFunction"
FOLLOW_UPS = "RestoreTestQueue"
GES_LATENCY_SECONDS = 0.2
GRAPHS = 20
CONCURRENCY = 8  # the template's default
TIMED = 3  # "*" tests timed per interpreter, after one warm-up test
RUNS = {"ours": CONCURRENCY, "ours_one_at_a_time": 1}
COUNTED = (
    "tick, cold (secret read)",
    "tick",
    "the same tick again (a retry)",
    "follow-up, import job still running",
    "follow-up, import job ended (delete, event)",
)
WHOLE = "a whole test (tick, 2 follow-ups)"


def measure(stand_ins: StandIns) -> dict[str, Any]:
    environment = tester_environment(stand_ins)
    return {
        "requests": {
            variant: _round_trips(stand_ins, environment, variant) for variant in ("ours", "baseline")
        },
        "all_graphs": _all_graphs(stand_ins, environment),
    }


def tester_environment(stand_ins: StandIns) -> dict[str, str]:
    """A fresh interpreter's environment (StandIns.function_environment) with the tester's variables."""
    return {
        **stand_ins.function_environment(),
        **stand_ins.stack.environment_of(TESTER),
        "JOB_POLL_INTERVAL_SECONDS": "0",
    }


# -- round trips -----------------------------------------------------------------------------------


def _round_trips(stand_ins: StandIns, environment: dict[str, str], variant: str) -> dict[str, Any]:
    """AWS requests by action and GES calls of each step of a restore test (COUNTED, then WHOLE)."""
    stand_ins.ges.obs.import_script = ("running", "success")
    graphs = [f"restore-{variant}-{i}" for i in range(2)]
    ticks = [_tick(stand_ins, graph_id) for graph_id in graphs]
    with function_environment(environment):
        handler = _load(variant)
        counts = {COUNTED[0]: _counted(stand_ins, handler, ticks[0])}
        counts[COUNTED[1]] = _counted(stand_ins, handler, ticks[1])
        counts[COUNTED[2]] = _counted(stand_ins, handler, ticks[1])
        for name in COUNTED[3:]:
            counts[name] = _counted(stand_ins, handler, _follow_up_event(stand_ins, graphs[1]))
    whole: dict[str, int] = {}
    for name in (COUNTED[1], *COUNTED[3:]):
        for action, n in counts[name]["aws"].items():
            whole[action] = whole.get(action, 0) + n
    counts[WHOLE] = {
        "aws": dict(sorted(whole.items())),
        "ges": sum(counts[name]["ges"] for name in (COUNTED[1], *COUNTED[3:])),
    }
    stand_ins.ges.obs.import_script = ("success",)
    return counts


def _load(variant: str) -> Handler:
    if variant == "ours":
        return load_function("functions/test_restore/")
    import importlib

    handler: Handler = importlib.import_module("bench.baseline_restore").lambda_handler
    return handler


def _tick(stand_ins: StandIns, graph_id: str, project_id: str = PROJECT) -> dict[str, Any]:
    """A tick for one graph with an export in the history (and in the fake OBS)."""
    _seed(stand_ins, project_id, graph_id)
    return {"graph_id": graph_id, "project_id": project_id, "scheduled_time": _now()}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seed(stand_ins: StandIns, project_id: str, graph_id: str) -> None:
    """An export of the graph whose job succeeded an hour ago: in the history (written as the tracker
    writes it) and in the fake OBS."""
    layers = str(ROOT / "layers")  # the layer, as load_function puts it on sys.path (not at import:
    if layers not in sys.path:  # the export handler's logger must bind where round_trips.py says)
        sys.path.insert(0, layers)
    from ges_backup_export.restore.history import History, HistoryEntry

    path = f"bench-restore/{project_id}/{graph_id}/"
    ended = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = HistoryEntry(project_id, graph_id, "bench", path, uuid.uuid4().hex, ended)
    History(stand_ins.stack.physical["RestoreHistoryTable"], boto3.client("dynamodb")).record(entry, 30)
    stand_ins.ges.add_graph(project_id, graph_id)
    stand_ins.ges.obs.put(path, project_id, graph_id)


def _follow_up_event(stand_ins: StandIns, graph_id: str) -> dict[str, Any]:
    """The follow-up queue's message for the graph's import job, as the event source delivers it."""
    messages = take_messages(stand_ins.stack.queue_urls[FOLLOW_UPS])
    (body,) = [json.loads(m["Body"]) for m in messages if json.loads(m["Body"])["graph_id"] == graph_id]
    return queue_event(stand_ins, [body], queue=FOLLOW_UPS)


def _counted(stand_ins: StandIns, handler: Handler, event: dict[str, Any]) -> dict[str, Any]:
    stand_ins.proxy.reset_counts()
    ges_before = len(stand_ins.ges.calls)
    result = handler(event, LocalContext())
    ok = result == {"batchItemFailures": []} or all(
        test.get("outcome") in ("started", "duplicate") for test in result.get("restore_tests") or [{}]
    )
    if not ok:
        raise RuntimeError(f"bench: the restore tester did not succeed: {result!r:.500}")
    aws = dict(sorted(stand_ins.proxy.requests.items()))
    return {"aws": aws, "ges": len(stand_ins.ges.calls) - ges_before}


# -- a "*" test over 20 graphs ---------------------------------------------------------------------


def _all_graphs(stand_ins: StandIns, environment: dict[str, str]) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "latency_ms": GES_LATENCY_SECONDS * 1000,
        "graphs": GRAPHS,
        "concurrency": CONCURRENCY,
        "ideal_ms": (1 + math.ceil(2 * GRAPHS / CONCURRENCY)) * GES_LATENCY_SECONDS * 1000,
    }
    stand_ins.ges.latency = GES_LATENCY_SECONDS
    try:
        for name, concurrency in RUNS.items():
            warmup = _every_graph(stand_ins, 1)
            events = [_every_graph(stand_ins, GRAPHS) for _ in range(TIMED)]
            calls_before = len(stand_ins.ges.calls)
            settings = {**environment, "GES_CONCURRENCY": str(concurrency)}
            spec = {"warmup": [warmup], "events": events}
            ms = run_child(stand_ins, "tester", "events", spec, settings=settings).figures["ms"]
            calls = len(stand_ins.ges.calls) - calls_before
            figures[name] = {"ms": statistics.median(ms), "ges_calls": (calls - 3) / TIMED}
    finally:
        stand_ins.ges.latency = 0.0
    return figures


def _every_graph(stand_ins: StandIns, graphs: int) -> dict[str, Any]:
    """A `"*"` tick on a new project of `graphs` graphs, each with an export in the history."""
    project_id = uuid.uuid4().hex
    for i in range(graphs):
        _seed(stand_ins, project_id, f"g{i:02d}")
    return {"graph_id": "*", "project_id": project_id, "scheduled_time": _now()}


def main() -> None:
    """This step alone (`python -m bench.restore`): its figures and its part of the report, printed."""
    from bench import report_tables, stand_ins

    with stand_ins.running() as stands:
        results = measure(stands)
    print(json.dumps(results, indent=2))
    print("\n".join(report_tables.restore_table(results)))


if __name__ == "__main__":
    main()
