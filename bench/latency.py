"""Many exports at once: an SQS batch of 10 and an `exports` list of 100 with GES answering in 200 ms.

Side by side in fresh interpreters: ours at the template's GES_CONCURRENCY (8), ours at 1 (one request
after the other, as before concurrency), and the baseline (one after the other; it takes no lists).
The ideal is `ceil(records / GES_CONCURRENCY) x latency`: what the GES calls alone take.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.spawn import run_child
from bench.stand_ins import StandIns, queue_event

GES_LATENCY_SECONDS = 0.2
BATCH_SIZE = 10
LIST_SIZE = 100
CONCURRENCY = 8  # the template's default
BATCHES = 3  # timed per interpreter, after one warm-up export
# name: (variant, GES_CONCURRENCY); the baseline has no such setting
RUNS = {"ours": ("ours", CONCURRENCY), "ours_one_at_a_time": ("ours", 1), "baseline": ("baseline", 1)}


def measure(stand_ins: StandIns) -> dict[str, Any]:
    """Per run: milliseconds per batch of 10 (median of BATCHES), and for a list of 100 (ours only)."""
    figures: dict[str, Any] = {
        "latency_ms": GES_LATENCY_SECONDS * 1000,
        "ideal_batch_ms": _ideal(BATCH_SIZE),
        "ideal_list_ms": _ideal(LIST_SIZE),
        "concurrency": CONCURRENCY,
    }
    with _slow_ges(stand_ins):
        for name, (variant, concurrency) in RUNS.items():
            label = "latency-" + name.replace("_", "-")
            batches = [
                queue_event(stand_ins, [stand_ins.new_request(label) for _ in range(BATCH_SIZE)])
                for _ in range(BATCHES)
            ]
            spec = {"warmup": [stand_ins.new_request(label)], "events": batches}
            if variant == "ours":
                spec["events"].append({"exports": [stand_ins.new_request(label) for _ in range(LIST_SIZE)]})
            settings = {"GES_CONCURRENCY": str(concurrency)}
            ms = run_child(stand_ins, variant, "events", spec, settings=settings).figures["ms"]
            figures[name] = {"batch_ms": statistics.median(ms[:BATCHES])}
            if variant == "ours":
                figures[name]["list_ms"] = ms[BATCHES]
    return figures


def _ideal(records: int) -> float:
    return math.ceil(records / CONCURRENCY) * GES_LATENCY_SECONDS * 1000


@contextmanager
def _slow_ges(stand_ins: StandIns) -> Iterator[None]:
    stand_ins.ges.latency = GES_LATENCY_SECONDS
    try:
        yield
    finally:
        stand_ins.ges.latency = 0.0
