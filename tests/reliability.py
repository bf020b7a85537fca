"""The Reliability table of docs/reliability.md, counted by the suite while it runs.

Tests add to `tally`; at the end of the session `tests/conftest.py` prints the table. When every part
that feeds it has run (a whole-suite run), what must hold is checked: the rows of MUST_BE_ZERO are 0 in
this run (nothing lost, no duplicate export or import, no started job or restore test without its one
event, no GES call for bad input, no token in any output), and the page's table has the same rows. The
figures (faults injected, inputs generated, soak messages) are not compared: how many faults fire depends
on how many retries a run happened to make, and a green suite must not turn red on a tally. `make
reliability` runs the suite and writes its table into docs/reliability.md.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
BEGIN = "<!-- reliability-table:begin -->"
END = "<!-- reliability-table:end -->"
UPDATE_VARIABLE = "UPDATE_RELIABILITY_TABLE"

# row key -> what the row counts, in table order.
ROWS = {
    "fault_injections": "faults injected and survived (GES and AWS), through the real handler",
    "bad_inputs": "generated bad inputs tried (hypothesis), each a valid request or a named error",
    "bad_input_ges_calls": "GES calls made for an invalid input",
    "soak_messages": "queue messages in the soak (duplicates, poison, faults, 4 execution environments)",
    "soak_unknown_outcomes": "unknown outcomes injected in the soak (500s, answers too slow after sending, "
    "garbage instead of the TLS answer, resets, undecodable answers, killed invocations), each sent to GES "
    "at most once and dead-lettered as unknown",
    "soak_lost": "requests lost in the soak (neither downstream nor dead-lettered)",
    "duplicate_exports": "duplicate exports (the same export started twice, or sent to GES twice after "
    "it may have started) in the soak",
    "soak_untracked": "started exports in the soak (job_ids delivered downstream) without exactly one "
    "completion event (none, or two although EventBridge's answer to each put came in time)",
    "soak_restore_tests": "restore tests in the soak beside the exports (schedule ticks, some delivered "
    "twice, import and delete faults, unknown imports settled, 2 follow-up execution environments)",
    "duplicate_imports": "duplicate imports in the soak (one restore test's import started twice in GES, "
    "or sent to GES again after it may have started)",
    "soak_restore_unended": "restore tests in the soak without exactly one event (none, two although "
    "EventBridge's answer to each put came in time, or another kind than its faults make it)",
    "token_leaks": "test phases whose captured output held a GES token",
}
# The rows a whole-suite run always produces; a partial run leaves the page alone.
FED_BY_SUITE = {"fault_injections", "bad_inputs", "soak_messages"}
# What must hold in every whole-suite run.
MUST_BE_ZERO = (
    "bad_input_ges_calls",
    "soak_lost",
    "duplicate_exports",
    "soak_untracked",
    "duplicate_imports",
    "soak_restore_unended",
    "token_leaks",
)

tally: Counter[str] = Counter()


def add(row: str, count: int = 1) -> None:
    if row not in ROWS:
        raise KeyError(f"unknown reliability row {row!r}")
    tally[row] += count


def table(counts: Mapping[str, int] = tally) -> str:
    lines = ["| what | count |", "| --- | ---: |"]
    lines += [f"| {label} | {counts.get(key, 0)} |" for key, label in ROWS.items()]
    return "\n".join(lines)


def complete() -> bool:
    return all(tally[key] for key in FED_BY_SUITE)


def page_table() -> str:
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), PAGE.read_text(), re.DOTALL)
    return match.group(1) if match else ""


def _labels(text: str) -> list[str]:
    return [line.rsplit("|", 2)[0] for line in text.splitlines()]


def sync_page() -> str | None:
    """After a whole-suite run: write the table when asked to; else a problem if a row that must be 0 is
    not, or if the page's table does not have the same rows."""
    if not complete():
        return None
    if os.environ.get(UPDATE_VARIABLE) == "1":
        text = PAGE.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        PAGE.write_text(text[:start] + "\n" + table() + "\n" + text[end:])
    return verdict(tally, page_table())


def verdict(counts: Mapping[str, int], documented: str) -> str | None:
    """What is wrong with a whole-suite run's `counts`, given the page's table `documented`."""
    broken = [f"{ROWS[key]}: {counts.get(key, 0)}" for key in MUST_BE_ZERO if counts.get(key, 0)]
    if broken:
        return "reliability rows that must be 0 are not:\n  " + "\n  ".join(broken)
    if _labels(documented) != _labels(table(counts)):
        return "docs/reliability.md's table has other rows than the one above; run `make reliability`"
    return None
