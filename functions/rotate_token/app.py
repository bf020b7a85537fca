"""Lambda entry point of the token rotation: Secrets Manager runs it once per step of every rotation of the
GES token secret, and the ges_backup_export layer does the step (rotation/steps.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ges_backup_export.core.observability import logger
from ges_backup_export.rotation.runtime import run_step


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> None:
    run_step(event, context.get_remaining_time_in_millis())
