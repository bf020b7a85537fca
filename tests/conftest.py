"""Suite-wide guard: no GES token may appear in anything the suite captures; and the function's log
lines of a test, for any test that reads them (`function_logs`).

Every token the tests hand to the fake GES is made by `tests.tokens.canary_token`, which plants a marker after
every 500 characters. After each test phase, the captured stdout, stderr and log records (where the
function's Powertools JSON lines land) and any failure report are searched for the marker; a hit
fails the run at the end, naming the tests.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ges_backup_export.core.observability import logger
from tests import reliability
from tests.tokens import CANARY, assert_no_token

_leaks: list[str] = []

# The function logs at DEBUG throughout the suite, so that every line it can write is searched.
os.environ["POWERTOOLS_LOG_LEVEL"] = "DEBUG"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    texts = [content for _, content in report.sections] + [report.longreprtext]
    if any(CANARY in text for text in texts):
        _leaks.append(f"{report.nodeid} ({report.when})")


_problems: list[str] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reliability.add("token_leaks", len(_leaks))
    if _leaks:
        _problems.append("GES token found in the captured output of:\n  " + "\n  ".join(_leaks))
    if session.exitstatus == pytest.ExitCode.OK and (problem := reliability.sync_page()):
        _problems.append(problem)
    if _problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(f"token scan: {len(_leaks)} test phases with a GES token in their output")
    if reliability.complete():  # a partial run's counts mean nothing
        terminalreporter.write_sep("-", "reliability (docs/reliability.md, section Reliability)")
        terminalreporter.write_line(reliability.table())
    for problem in _problems:
        terminalreporter.write_line(problem, red=True)


@pytest.fixture
def function_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The function's JSON log lines of this test, parsed; they are still echoed (and token-scanned)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    handler.setStream(previous)
    if previous is not None:
        previous.write(stream.getvalue())
    assert_no_token(stream.getvalue())
