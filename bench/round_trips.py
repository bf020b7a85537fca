"""Round trips: AWS requests by service and action (counted by the proxy in front of moto) and GES calls.

Both handlers run in this process, each loaded once, so its first scenario is a cold one (the secret
is read) and the later ones find the token cached, as a warm execution environment does.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.stand_ins import StandIns, queue_event
from local.lambda_runtime import Handler, LocalContext, load_handler

BATCH_SIZE = 10
# (name, records it handles): the order matters, the duplicate repeats the warm new export.
SCENARIOS = (
    ("new export, cold (secret read)", 1),
    ("new export", 1),
    ("duplicate", 1),
    ("batch of 10 queue records", BATCH_SIZE),
)
UNTRACKED = "new export, without TRACKING_QUEUE_URL"


def count(stand_ins: StandIns, function_log: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Per variant and scenario: AWS requests by action, GES calls, records handled."""
    os.environ.update(stand_ins.function_environment())
    return {
        "ours": _scenarios(stand_ins, _load_ours(function_log), "rt-ours"),
        "baseline": _scenarios(stand_ins, _load_baseline(), "rt-baseline"),
    }


def _load_ours(function_log: Path) -> Handler:
    """Our handler, with its JSON log lines (bound to stdout at import) going to `function_log`."""
    log = function_log.open("w")  # left open: the logger writes to it for the rest of the run
    with contextlib.redirect_stdout(log):
        return load_handler()


def _load_baseline() -> Handler:
    handler: Handler = importlib.import_module("bench.baseline_handler").lambda_handler
    return handler


def _scenarios(stand_ins: StandIns, handler: Handler, label: str) -> dict[str, dict[str, Any]]:
    new = stand_ins.new_request(label)
    batch = queue_event(stand_ins, [stand_ins.new_request(label) for _ in range(BATCH_SIZE)])
    events = [stand_ins.new_request(label), new, new, batch]
    counts: dict[str, dict[str, Any]] = {}
    for (name, records), event in zip(SCENARIOS, events, strict=True):
        counted = _counted(stand_ins, _invoker(handler, event))
        counts[name] = {**counted, "records": records}
    tracking = os.environ.pop("TRACKING_QUEUE_URL")
    try:  # the first export builds the parts for these settings (a secret read); the second is counted
        handler(stand_ins.new_request(label), LocalContext())
        counts[UNTRACKED] = {
            **_counted(stand_ins, _invoker(handler, stand_ins.new_request(label))),
            "records": 1,
        }
    finally:
        os.environ["TRACKING_QUEUE_URL"] = tracking
    return counts


def _invoker(handler: Handler, event: Any) -> Callable[[], Any]:
    """One invocation of `handler` with `event`, its context made when it runs."""
    return lambda: handler(event, LocalContext())


def _counted(stand_ins: StandIns, invoke: Callable[[], Any]) -> dict[str, Any]:
    stand_ins.proxy.reset_counts()
    ges_before = len(stand_ins.ges.calls)
    result = invoke()
    if not isinstance(result, dict) or not ("job_id" in result or result.get("batchItemFailures") == []):
        raise RuntimeError(f"bench: the handler did not succeed: {result!r:.500}")
    return {
        "aws": dict(sorted(stand_ins.proxy.requests.items())),
        "ges": len(stand_ins.ges.calls) - ges_before,
    }
