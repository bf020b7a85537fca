"""The token rotation function's settings (README, "Token rotation")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ges_backup_export.core.settings import (
    check_setting_id,
    endpoint,
    ges_endpoint,
    optional,
    required,
    whole_number,
)

IAM_ENDPOINT_EXAMPLE = "https://iam.myhuaweicloud.com"
# TOKEN_ROTATION_HOURS: the template's TokenRotationHours, its default and bounds (4 hours is the shortest
# rotation Secrets Manager schedules; an IAM token lives 24 hours and must outlive the period by an hour,
# so 22 is the longest period a fresh token ever passes).
DEFAULT_TOKEN_ROTATION_HOURS = 12
MIN_TOKEN_ROTATION_HOURS = 4
MAX_TOKEN_ROTATION_HOURS = 22


@dataclass(frozen=True)
class RotationSettings:
    """The token rotation function's settings. The token is scoped to `ges_project_id`, so it is required.

    `token_secret_id`, when set, is the only secret the function rotates; the secret of a step is always
    the one the event names. `token_rotation_hours` is the period the template schedules: a new token must
    outlive it by an hour (steps.py)."""

    iam_endpoint: str
    iam_credentials_secret_id: str
    ges_endpoint: str
    ges_project_id: str
    token_secret_id: str | None
    token_rotation_hours: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RotationSettings:
        project_id = required(env, "GES_PROJECT_ID")
        check_setting_id("GES_PROJECT_ID", project_id)
        return cls(
            iam_endpoint=endpoint("IAM_ENDPOINT", required(env, "IAM_ENDPOINT"), IAM_ENDPOINT_EXAMPLE),
            iam_credentials_secret_id=required(env, "IAM_CREDENTIALS_SECRET_ID"),
            ges_endpoint=ges_endpoint(required(env, "GES_ENDPOINT")),
            ges_project_id=project_id,
            token_secret_id=optional(env, "GES_TOKEN_SECRET_ID"),
            token_rotation_hours=whole_number(
                env,
                "TOKEN_ROTATION_HOURS",
                DEFAULT_TOKEN_ROTATION_HOURS,
                minimum=MIN_TOKEN_ROTATION_HOURS,
                maximum=MAX_TOKEN_ROTATION_HOURS,
            ),
        )
