"""Warm per-record time: many new exports through a warm execution environment, ours and the baseline.

Each variant runs in fresh interpreters (the stand-ins' threads stay out of its GIL), warms up, then
times each record: direct invocations of one request, and SQS batches of ten (time per record).
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.spawn import VARIANTS, alternating, run_child
from bench.stand_ins import StandIns, queue_event

WARMUP = 10
BATCH_SIZE = 10


def measure(stand_ins: StandIns, rounds: int, direct: int, batches: int) -> dict[str, dict[str, list[float]]]:
    """Per variant, every timed record's milliseconds, pooled over `rounds` interleaved interpreters."""
    pooled: dict[str, dict[str, list[float]]] = {
        variant: {"direct_ms": [], "batch_record_ms": []} for variant in VARIANTS
    }
    for variant in alternating(rounds):
        figures = run_child(stand_ins, variant, "warm", _spec(stand_ins, variant, direct, batches)).figures
        for key, values in figures.items():
            pooled[variant][key].extend(values)
    return pooled


def _spec(stand_ins: StandIns, variant: str, direct: int, batches: int) -> dict[str, Any]:
    label = f"warm-{variant}"
    return {
        "warmup": [stand_ins.new_request(label) for _ in range(WARMUP)],
        "direct": [stand_ins.new_request(label) for _ in range(direct)],
        "batches": [
            queue_event(stand_ins, [stand_ins.new_request(label) for _ in range(BATCH_SIZE)])
            for _ in range(batches)
        ],
    }


def summary(pooled: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Median and mean per record, per variant and kind of invocation."""
    return {
        variant: {
            f"{key}_{name}": function(values)
            for key, values in kinds.items()
            for name, function in (("median", statistics.median), ("mean", statistics.fmean))
        }
        for variant, kinds in pooled.items()
    }
