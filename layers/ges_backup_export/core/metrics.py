"""The job's CloudWatch metrics: Powertools Metrics in the embedded metric format (JSON lines on stdout
that CloudWatch turns into metrics; no API call, no permission).

Namespace `GesBackupExport`, one dimension, `service`; never a job id or anything else unbounded, and
never a token. The handlers publish what an invocation counted once it ends (`publish`); counting
takes a lock, because the requests of one invocation may run on several threads.

The lines go to `output`, the standard output as it was when this module was imported, as Powertools'
Logger binds its handler: in Lambda both are the function's stdout, and a local runner that imports the
function with its stdout redirected (`make local`: to the log file) gets the metrics beside the log lines
rather than in the middle of what it prints.
"""

from __future__ import annotations

import contextlib
import sys
import threading

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ges_backup_export.core.observability import SERVICE

NAMESPACE = "GesBackupExport"
# Each function names its own metrics where it counts them (export/exporter.py, tracker/announcements.py).

_metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
_lock = threading.Lock()
output = sys.stdout


def count(name: str) -> None:
    with _lock:
        _metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def seconds(name: str, value: float) -> None:
    with _lock:
        _metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)


def publish() -> None:
    """Write what was counted since the last publish (nothing when nothing was)."""
    with _lock:
        if _metrics.metric_set:
            with contextlib.redirect_stdout(output):  # Powertools prints them
                _metrics.flush_metrics()
