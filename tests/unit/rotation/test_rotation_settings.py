"""The rotation function's settings, read from a mapping: IAM_ENDPOINT and GES_ENDPOINT (https, or http for a
loopback host), the credentials secret, a required project, an optional token secret and an optional
rotation period (TOKEN_ROTATION_HOURS, the template's TokenRotationHours)."""

from __future__ import annotations

import pytest

from ges_backup_export.core.errors import ConfigurationError
from ges_backup_export.rotation.settings import RotationSettings
from tests.doubles import overridden

PROJECT = "0a1b2c3d4e5f67890a1b2c3d4e5f6789"
CREDENTIALS = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ges/iam-credentials-AbC123"
TOKEN_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ges/token-XyZ789"
REQUIRED = ("IAM_ENDPOINT", "IAM_CREDENTIALS_SECRET_ID", "GES_ENDPOINT", "GES_PROJECT_ID")


def env(**overrides: str | None) -> dict[str, str]:
    """Every variable the template sets, with `overrides` set (or removed when None)."""
    defaults = {
        "IAM_ENDPOINT": "https://iam.myhuaweicloud.com",
        "IAM_CREDENTIALS_SECRET_ID": CREDENTIALS,
        "GES_ENDPOINT": "https://ges.cn-north-4.myhuaweicloud.com",
        "GES_PROJECT_ID": PROJECT,
        "GES_TOKEN_SECRET_ID": TOKEN_SECRET,
        "TOKEN_ROTATION_HOURS": "8",
    }
    return overridden(defaults, overrides)


def refused(**overrides: str | None) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        RotationSettings.from_env(env(**overrides))
    return caught.value


def test_the_template_s_variables_give_the_settings() -> None:
    assert RotationSettings.from_env(env()) == RotationSettings(
        iam_endpoint="https://iam.myhuaweicloud.com",
        iam_credentials_secret_id=CREDENTIALS,
        ges_endpoint="https://ges.cn-north-4.myhuaweicloud.com",
        ges_project_id=PROJECT,
        token_secret_id=TOKEN_SECRET,
        token_rotation_hours=8,
    )


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("blank", [None, "", "  "])
def test_a_missing_required_variable_is_named(name: str, blank: str | None) -> None:
    assert refused(**{name: blank}).message == f"{name} is not set"


@pytest.mark.parametrize("blank", [None, "", " "])
def test_the_token_secret_is_optional(blank: str | None) -> None:
    assert RotationSettings.from_env(env(GES_TOKEN_SECRET_ID=blank)).token_secret_id is None


@pytest.mark.parametrize("blank", [None, "", " "])
def test_the_rotation_period_is_12_hours_unless_set(blank: str | None) -> None:
    assert RotationSettings.from_env(env(TOKEN_ROTATION_HOURS=blank)).token_rotation_hours == 12


@pytest.mark.parametrize("hours", [4, 5, 12, 22])
def test_the_rotation_period_takes_the_template_s_range(hours: int) -> None:
    assert RotationSettings.from_env(env(TOKEN_ROTATION_HOURS=f" {hours} ")).token_rotation_hours == hours


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("3", "must be at least 4, got 3"),
        ("0", "must be at least 4, got 0"),
        ("-12", "must be at least 4, got -12"),
        ("23", "must be at most 22, got 23"),
        ("24", "must be at most 22, got 24"),
        ("12.5", "must be a whole number, got '12.5'"),
        ("12h", "must be a whole number, got '12h'"),
    ],
)
def test_a_rotation_period_out_of_the_template_s_range_is_refused_by_name(raw: str, problem: str) -> None:
    assert refused(TOKEN_ROTATION_HOURS=raw).message == f"TOKEN_ROTATION_HOURS {problem}"


@pytest.mark.parametrize("raw", ["../other", "a/b", "p q", "x" * 65])
def test_a_project_that_is_not_a_ges_id_is_refused_by_name(raw: str) -> None:
    assert refused(GES_PROJECT_ID=raw).message.startswith("GES_PROJECT_ID")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://iam.myhuaweicloud.com/", "https://iam.myhuaweicloud.com"),
        ("https://iam.cn-north-4.myhuaweicloud.com", "https://iam.cn-north-4.myhuaweicloud.com"),
        ("https://iam.myhuaweicloud.eu", "https://iam.myhuaweicloud.eu"),
        ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
        ("http://localhost:8081/", "http://localhost:8081"),
    ],
)
def test_iam_endpoint_is_https_or_http_on_a_loopback_host(raw: str, expected: str) -> None:
    assert RotationSettings.from_env(env(IAM_ENDPOINT=raw)).iam_endpoint == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        pytest.param("http://iam.myhuaweicloud.com", "must be https:// (http is accepted only", id="http"),
        pytest.param("iam.myhuaweicloud.com", "must be an https:// URL", id="no-scheme"),
        pytest.param(
            "https://iam.myhuaweicloud.com/v3",
            "must be a base URL such as https://iam.myhuaweicloud.com",
            id="path",
        ),
        pytest.param("https://u:pw@iam.myhuaweicloud.com", "must not carry credentials", id="credentials"),
        pytest.param("https://[::1].evil.example", "must be an https:// URL whose host is", id="bad-host"),
    ],
)
def test_iam_endpoint_refusals_name_the_variable(raw: str, problem: str) -> None:
    error = refused(IAM_ENDPOINT=raw)

    assert error.message.startswith(f"IAM_ENDPOINT {problem}")
    assert "pw@" not in error.message


def test_ges_endpoint_is_checked_as_for_the_export_function() -> None:
    assert refused(GES_ENDPOINT="http://ges.example").message.startswith("GES_ENDPOINT must be https://")
