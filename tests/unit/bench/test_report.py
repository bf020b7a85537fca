"""The bench's report renders every table from a whole run's results.

`make bench` runs in no test (it takes minutes), so a defect in its report only showed at the end of a
run. The sample is the results file of a whole `make bench` run (2026-12-07).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import report

SAMPLE = Path(__file__).with_name("results_sample.json")


def sample() -> dict[str, Any]:
    results: dict[str, Any] = json.loads(SAMPLE.read_text())
    return results


def test_the_summary_of_a_whole_run_has_every_part() -> None:
    summary = report.summary(sample())

    for part in (
        "**cold start**",
        "The job tracker (bench/tracking.py): warm, per tracking message",
        "The restore tester (bench/restore.py):",
        "| a whole test (tick, 2 follow-ups) |",
        "| package (`sam build`) |",
    ):
        assert part in summary


def test_the_breakdown_of_a_whole_run_renders() -> None:
    assert report.breakdown(sample()).strip()
