"""The README's Reliability table, counted by the suite while it runs.

Tests add to `tally`; at the end of the session `tests/conftest.py` prints the table. When every part
that feeds it has run (a whole-suite run), the table must equal the one in README.md between the
markers below, or the session fails; `make reliability` runs the suite and writes the table there.
"""

from __future__ import annotations

import os
import re
from collections import Counter
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
    "killed invocations), each sent to GES at most once and dead-lettered as unknown",
    "soak_lost": "requests lost in the soak (neither downstream nor dead-lettered)",
    "duplicate_exports": "duplicate exports (the same export started twice, or sent to GES twice after "
    "it may have started) in the soak",
    "soak_untracked": "started exports in the soak (job_ids delivered downstream) without exactly one "
    "completion event (none, or two although EventBridge's answer to each put came in time)",
    "token_leaks": "test phases whose captured output held a GES token",
}
# The rows a whole-suite run always produces; a partial run leaves the README alone.
FED_BY_SUITE = {"fault_injections", "bad_inputs", "soak_messages"}

tally: Counter[str] = Counter()


def add(row: str, count: int = 1) -> None:
    if row not in ROWS:
        raise KeyError(f"unknown reliability row {row!r}")
    tally[row] += count


def table() -> str:
    lines = ["| what | count |", "| --- | ---: |"]
    lines += [f"| {label} | {tally[key]} |" for key, label in ROWS.items()]
    return "\n".join(lines)


def complete() -> bool:
    return all(tally[key] for key in FED_BY_SUITE)


def readme_table() -> str:
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), README.read_text(), re.DOTALL)
    return match.group(1) if match else ""


def sync_readme() -> str | None:
    """After a whole-suite run: write the table when asked to, else a problem if the README differs."""
    if not complete():
        return None
    if os.environ.get(UPDATE_VARIABLE) == "1":
        text = README.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        README.write_text(text[:start] + "\n" + table() + "\n" + text[end:])
        return None
    if readme_table() != table():
        return "the README's reliability table differs from the one above; run `make reliability`"
    return None
