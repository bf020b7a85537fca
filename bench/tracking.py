"""The job tracker's cost: time per tracking message, and AWS requests per check and per tracked job.

Tracking messages are built as the export function sends them, for jobs the fake GES knows: one that
ended (the check puts its completion event), one still running (the check sends the message again,
delayed). The time is per message of SQS batches of ten, in a fresh interpreter with the tracker's own
environment (the template's); the requests are counted by the proxy in front of moto, in this process,
with the tracker loaded once (so its first check is a cold one).
"""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from typing import Any

from bench.spawn import run_child
from bench.stand_ins import BACKUP, GRAPH, PROJECT, StandIns, queue_event
from local.aws import take_messages
from local.lambda_runtime import Handler, LocalContext, function_environment, load_function

TRACKER = "TrackExportFunction"
TRACKING = "TrackingQueue"
BATCH_SIZE = 10
BATCHES = 10  # timed, after one warm-up batch
LIFE = ("pending", "running", "success")  # a tracked job's statuses, one per check


def measure(stand_ins: StandIns) -> dict[str, Any]:
    """Milliseconds per tracking message (median over batches), and AWS requests by scenario."""
    environment = {**stand_ins.function_environment(), **stand_ins.stack.environment_of(TRACKER)}
    environment["JOB_POLL_INTERVAL_SECONDS"] = "0"
    ms: dict[str, float] = {}
    for name, script in (("ended", ("success",)), ("running", ("running",))):
        batches = [_event(stand_ins, script) for _ in range(BATCHES + 1)]
        spec = {"warmup": batches[:1], "events": batches[1:]}
        run = run_child(stand_ins, "tracker", "events", spec, settings=environment)
        ms[name] = statistics.median(run.figures["ms"]) / BATCH_SIZE
    return {"ms_per_message": ms, "requests": _count(stand_ins, environment)}


def _count(stand_ins: StandIns, environment: dict[str, str]) -> dict[str, dict[str, int]]:
    """AWS requests of one check of each kind, and of a whole job followed through LIFE."""
    with function_environment(environment):
        handler = load_function("functions/track_export/")
        counts = {
            "first check, cold (secret read)": _counted(stand_ins, handler, _event(stand_ins, LIFE[-1:], 1)),
            "check of a job still running": _counted(stand_ins, handler, _event(stand_ins, ("running",), 1)),
            "check of a job that ended": _counted(stand_ins, handler, _event(stand_ins, ("success",), 1)),
        }
        counts[f"a whole job, {len(LIFE)} checks"] = _whole_job(stand_ins, handler)
    return counts


def _whole_job(stand_ins: StandIns, handler: Handler) -> dict[str, int]:
    """Every check of one job until its event: each check's message is the one the previous one sent."""
    take_messages(stand_ins.stack.queue_urls[TRACKING])  # what earlier checks sent
    event = _event(stand_ins, LIFE, 1)
    total: dict[str, int] = {}
    for _ in LIFE:
        for action, count in _counted(stand_ins, handler, event).items():
            total[action] = total.get(action, 0) + count
        sent = take_messages(stand_ins.stack.queue_urls[TRACKING])
        event = queue_event(stand_ins, [json.loads(sent[0]["Body"])], queue=TRACKING) if sent else event
    return dict(sorted(total.items()))


def _counted(stand_ins: StandIns, handler: Handler, event: dict[str, Any]) -> dict[str, int]:
    stand_ins.proxy.reset_counts()
    result = handler(event, LocalContext())
    if result != {"batchItemFailures": []}:
        raise RuntimeError(f"bench: the tracker did not succeed: {result!r:.500}")
    return dict(sorted(stand_ins.proxy.requests.items()))


def _event(stand_ins: StandIns, script: tuple[str, ...], size: int = BATCH_SIZE) -> dict[str, Any]:
    """A tracker's SQS batch of tracking messages, one per new job following `script`."""
    return queue_event(stand_ins, [_message(stand_ins, script) for _ in range(size)], queue=TRACKING)


def _message(stand_ins: StandIns, script: tuple[str, ...]) -> dict[str, str]:
    job_id = stand_ins.ges.add_job(PROJECT, GRAPH, script=script)
    return {
        "job_id": job_id, "project_id": PROJECT, "graph_id": GRAPH, "backup_id": BACKUP,
        "export_path": f"bench-tracking/{job_id}/", "trigger": "queue",
        "requested_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip
