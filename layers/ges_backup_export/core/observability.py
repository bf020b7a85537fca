"""The function's one Powertools Logger: JSON lines, with graph, backup and message ids per request.

Lambda's runtime sets the root logger to the function's log level. At DEBUG, botocore would then log
every request's parameters and every answer's body (a GetSecretValue answer holds the GES token) and
urllib3 every URL it calls: their loggers are held at INFO, whatever the level, so no level lets a
secret reach the logs through them.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    from ges_backup_export.core.errors import ExportError

WIRE_LOGGERS = ("botocore", "boto3", "urllib3")

# Powertools' service: a key of every log line, and the one dimension of every metric.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "ges-backup-export"
logger = Logger(service=SERVICE)


def quiet_wire_loggers() -> None:
    """Hold the loggers that write request and answer contents at INFO or above."""
    for name in WIRE_LOGGERS:
        wire = logging.getLogger(name)
        wire.setLevel(max(wire.level, logging.INFO))


def log_failure(error: ExportError) -> None:
    """One line per failed request, at ERROR when it needs a person, WARNING when a retry can fix it."""
    log = logger.error if error.permanent else logger.warning
    log("export failed", extra={"error_code": error.code, "error_message": error.message})


quiet_wire_loggers()
