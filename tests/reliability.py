"""The README's Reliability table, counted by the suite while it runs.

Tests add to `tally`; at the end of the session `tests/conftest.py` prints the table. When every part
that feeds it has run (a whole-suite run), what must hold is checked: the rows of MUST_BE_ZERO are 0 in
this run (nothing lost, no duplicate export, no started job without its one event, no GES call for bad
input, no token in any output), and the README's table has the same rows. The figures (faults injected,
inputs generated, soak messages) are not compared: how many faults fire depends on how many retries a
run happened to make, and a green suite must not turn red on a tally. `make reliability` runs the suite
and writes its table into README.md.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
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
    "token_leaks": "test phases whose captured output held a GES token",
}
# The rows a whole-suite run always produces; a partial run leaves the README alone.
FED_BY_SUITE = {"fault_injections", "bad_inputs", "soak_messages"}
# What must hold in every whole-suite run.
MUST_BE_ZERO = ("bad_input_ges_calls", "soak_lost", "duplicate_exports", "soak_untracked", "token_leaks")

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


def readme_table() -> str:
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), README.read_text(), re.DOTALL)
    return match.group(1) if match else ""


def _labels(text: str) -> list[str]:
    return [line.rsplit("|", 2)[0] for line in text.splitlines()]


def sync_readme() -> str | None:
    """After a whole-suite run: write the table when asked to; else a problem if a row that must be 0 is
    not, or if the README's table does not have the same rows."""
    if not complete():
        return None
    if os.environ.get(UPDATE_VARIABLE) == "1":
        text = README.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        README.write_text(text[:start] + "\n" + table() + "\n" + text[end:])
    return verdict(tally, readme_table())


def verdict(counts: Mapping[str, int], documented: str) -> str | None:
    """What is wrong with a whole-suite run's `counts`, given the README's table `documented`."""
    broken = [f"{ROWS[key]}: {counts.get(key, 0)}" for key in MUST_BE_ZERO if counts.get(key, 0)]
    if broken:
        return "reliability rows that must be 0 are not:\n  " + "\n  ".join(broken)
    if _labels(documented) != _labels(table(counts)):
        return "the README's reliability table has other rows than the one above; run `make reliability`"
    return None
