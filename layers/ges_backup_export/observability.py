"""The function's one Powertools Logger: JSON lines, with graph, backup and message ids per request."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "ges-backup-export")
