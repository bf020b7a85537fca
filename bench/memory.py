"""Peak memory: a fresh interpreter imports the handler and handles one SQS batch of ten new exports."""

from __future__ import annotations

import statistics

from bench.spawn import VARIANTS, alternating, run_child
from bench.stand_ins import StandIns, queue_event

BATCH_SIZE = 10


def measure(stand_ins: StandIns, rounds: int) -> dict[str, float]:
    """Per variant, the median peak RSS in MB (VmHWM, KiB) over `rounds` interpreters."""
    peaks: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for variant in alternating(rounds):
        event = queue_event(stand_ins, [stand_ins.new_request(f"mem-{variant}") for _ in range(BATCH_SIZE)])
        run = run_child(stand_ins, variant, "batch", {"event": event})
        peaks[variant].append(run.figures["max_rss_kb"] / 1024)
    return {variant: statistics.median(values) for variant, values in peaks.items()}
