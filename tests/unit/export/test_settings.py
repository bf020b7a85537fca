"""The function's settings, read from a mapping: required variables, GES_ENDPOINT, numbers, optionals."""

from __future__ import annotations

import pytest

from ges_backup_export.core.errors import ConfigurationError
from ges_backup_export.core.settings import DEFAULT_GES_MAX_ATTEMPTS, DEFAULT_GES_TIMEOUT_SECONDS
from ges_backup_export.export.settings import (
    DEFAULT_GES_CONCURRENCY,
    DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    MAX_GES_CONCURRENCY,
    Settings,
)
from tests.doubles import overridden

QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/ges-backup-export-downstream"
DEAD_LETTERS = "https://sqs.eu-west-1.amazonaws.com/123456789012/ges-backup-export-dead-letters"
REQUIRED = ("GES_ENDPOINT", "GES_TOKEN_SECRET_ID", "IDEMPOTENCY_TABLE_NAME", "DOWNSTREAM_QUEUE_URL")


def env(**overrides: str | None) -> dict[str, str]:
    """The required variables, with `overrides` set (or removed when None)."""
    defaults = {
        "GES_ENDPOINT": "https://ges.cn-north-4.myhuaweicloud.com",
        "GES_TOKEN_SECRET_ID": "ges-backup-export/token",
        "IDEMPOTENCY_TABLE_NAME": "ges-backup-export-idempotency",
        "DOWNSTREAM_QUEUE_URL": QUEUE,
    }
    return overridden(defaults, overrides)


def refused(**overrides: str | None) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env(**overrides))
    return caught.value


# --- required variables ------------------------------------------------------------------------------


def test_required_variables_alone_give_settings_with_defaults() -> None:
    assert Settings.from_env(env()) == Settings(
        ges_endpoint="https://ges.cn-north-4.myhuaweicloud.com",
        ges_project_id=None,
        token_secret_id="ges-backup-export/token",
        idempotency_table_name="ges-backup-export-idempotency",
        idempotency_ttl_seconds=DEFAULT_IDEMPOTENCY_TTL_SECONDS,
        downstream_queue_url=QUEUE,
        dead_letter_queue_url=None,
        ges_timeout_seconds=DEFAULT_GES_TIMEOUT_SECONDS,
        ges_max_attempts=DEFAULT_GES_MAX_ATTEMPTS,
    )


def test_defaults_are_those_of_the_contract() -> None:
    assert (DEFAULT_IDEMPOTENCY_TTL_SECONDS, DEFAULT_GES_TIMEOUT_SECONDS, DEFAULT_GES_MAX_ATTEMPTS) == (
        1296000,
        10,
        3,
    )


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_required_variable_is_named_first(name: str) -> None:
    error = refused(**{name: None})

    assert error.message.startswith(name)
    assert str(error).startswith(f"ConfigurationError: {name}")


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_required_variable_counts_as_missing(name: str, blank: str) -> None:
    assert refused(**{name: blank}).message.startswith(name)


def test_empty_mapping_is_refused_naming_a_required_variable() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({})

    assert caught.value.message.split()[0] in REQUIRED


def test_configuration_error_is_not_permanent() -> None:
    assert refused(GES_ENDPOINT=None).permanent is False


def test_required_values_are_stripped() -> None:
    settings = Settings.from_env(env(GES_TOKEN_SECRET_ID="  my-secret \n", IDEMPOTENCY_TABLE_NAME=" t "))

    assert (settings.token_secret_id, settings.idempotency_table_name) == ("my-secret", "t")


def test_secret_arn_is_accepted_as_secret_id() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ges-token-AbCdEf"

    assert Settings.from_env(env(GES_TOKEN_SECRET_ID=arn)).token_secret_id == arn


# --- GES_ENDPOINT ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://ges.cn-north-4.myhuaweicloud.com", "https://ges.cn-north-4.myhuaweicloud.com"),
        ("https://ges.cn-north-4.myhuaweicloud.com/", "https://ges.cn-north-4.myhuaweicloud.com"),
        ("https://ges.cn-north-4.myhuaweicloud.com//", "https://ges.cn-north-4.myhuaweicloud.com"),
        ("https://ges.example:8443", "https://ges.example:8443"),
        ("https://ges.example:8443/", "https://ges.example:8443"),
        ("https://10.0.0.1", "https://10.0.0.1"),
        ("HTTPS://ges.example", "https://ges.example"),
        ("  https://ges.example  ", "https://ges.example"),
    ],
)
def test_https_endpoint_is_accepted_without_trailing_slash(raw: str, expected: str) -> None:
    assert Settings.from_env(env(GES_ENDPOINT=raw)).ges_endpoint == expected


@pytest.mark.parametrize(
    "raw",
    [
        "http://127.0.0.1",
        "http://127.0.0.1:8080",
        "http://127.1.2.3:8080",
        "http://[::1]",
        "http://[::1]:8080",
        "http://localhost",
        "http://localhost:8080",
        "http://LOCALHOST:8080",
    ],
)
def test_http_endpoint_on_a_loopback_host_is_accepted(raw: str) -> None:
    assert Settings.from_env(env(GES_ENDPOINT=raw + "/")).ges_endpoint.lower() == raw.lower()


@pytest.mark.parametrize(
    "raw",
    [
        "http://ges.cn-north-4.myhuaweicloud.com",
        "http://10.0.0.1",
        "http://192.168.1.10:8080",
        "http://0.0.0.0:8080",
        "http://[::]:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://mylocalhost",
    ],
)
def test_http_endpoint_on_another_host_is_refused(raw: str) -> None:
    error = refused(GES_ENDPOINT=raw)

    assert error.message.startswith("GES_ENDPOINT")
    assert "loopback" in error.message


@pytest.mark.parametrize(
    "raw",
    [
        "ges.cn-north-4.myhuaweicloud.com",
        "ftp://ges.example",
        "obs://bucket",
        "https://",
        "https:///v2",
        "//ges.example",
        "file:///etc/passwd",
    ],
)
def test_endpoint_without_https_scheme_and_host_is_refused(raw: str) -> None:
    assert refused(GES_ENDPOINT=raw).message.startswith("GES_ENDPOINT must be an https:// URL")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("https://ges.example/v2", id="path"),
        pytest.param("https://ges.example/v2/", id="path-slash"),
        pytest.param("https://ges.example/.", id="dot-path"),
        pytest.param("https://ges.example?a=b", id="query"),
        pytest.param("https://ges.example/?a=b", id="slash-query"),
        pytest.param("https://ges.example#frag", id="fragment"),
    ],
)
def test_endpoint_with_path_query_or_fragment_is_refused(raw: str) -> None:
    assert refused(GES_ENDPOINT=raw).message.startswith("GES_ENDPOINT must be a base URL")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("https://user@ges.example", id="user"),
        pytest.param("https://user:secret@ges.example", id="credentials"),
        pytest.param("http://user:secret@127.0.0.1", id="loopback-credentials"),
    ],
)
def test_endpoint_with_credentials_is_refused(raw: str) -> None:
    assert refused(GES_ENDPOINT=raw).message == "GES_ENDPOINT must not carry credentials"


@pytest.mark.parametrize("raw", ["https://[::1", "https://[not-an-ip]"])
def test_endpoint_with_a_malformed_host_is_refused_by_name(raw: str) -> None:
    assert refused(GES_ENDPOINT=raw).message.startswith("GES_ENDPOINT")


@pytest.mark.parametrize("raw", ["https://ges.example:abc", "https://ges.example:99999"])
def test_endpoint_with_a_malformed_port_is_refused_by_name(raw: str) -> None:
    assert refused(GES_ENDPOINT=raw).message.startswith("GES_ENDPOINT")


def test_endpoint_refusal_does_not_repeat_its_password() -> None:
    assert "s3cr3t" not in str(refused(GES_ENDPOINT="https://user:s3cr3t@ges.example"))


# --- numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "attribute", "expected"),
    [
        ("IDEMPOTENCY_TTL_SECONDS", "3600", "idempotency_ttl_seconds", 3600),
        ("IDEMPOTENCY_TTL_SECONDS", " 1 ", "idempotency_ttl_seconds", 1),
        ("GES_MAX_ATTEMPTS", "1", "ges_max_attempts", 1),
        ("GES_MAX_ATTEMPTS", "5", "ges_max_attempts", 5),
        ("GES_TIMEOUT_SECONDS", "2.5", "ges_timeout_seconds", 2.5),
        ("GES_TIMEOUT_SECONDS", "30", "ges_timeout_seconds", 30.0),
        ("GES_TIMEOUT_SECONDS", "900", "ges_timeout_seconds", 900.0),
        ("GES_TIMEOUT_SECONDS", "0.001", "ges_timeout_seconds", 0.001),
    ],
)
def test_numeric_setting_is_read(name: str, raw: str, attribute: str, expected: float) -> None:
    assert getattr(Settings.from_env(env(**{name: raw})), attribute) == expected


@pytest.mark.parametrize(
    ("name", "attribute", "default"),
    [
        ("IDEMPOTENCY_TTL_SECONDS", "idempotency_ttl_seconds", 1296000),
        ("GES_MAX_ATTEMPTS", "ges_max_attempts", 3),
        ("GES_TIMEOUT_SECONDS", "ges_timeout_seconds", 10.0),
    ],
)
@pytest.mark.parametrize("raw", [None, "", "  "])
def test_unset_or_empty_numeric_setting_takes_its_default(
    name: str, attribute: str, default: float, raw: str | None
) -> None:
    assert getattr(Settings.from_env(env(**{name: raw})), attribute) == default


@pytest.mark.parametrize("name", ["IDEMPOTENCY_TTL_SECONDS", "GES_MAX_ATTEMPTS"])
@pytest.mark.parametrize("raw", ["abc", "1.5", "3s", "0x10", "1e3", "one"])
def test_whole_number_setting_that_is_not_a_whole_number_is_refused(name: str, raw: str) -> None:
    error = refused(**{name: raw})

    assert error.message.startswith(f"{name} must be a whole number")


@pytest.mark.parametrize("name", ["IDEMPOTENCY_TTL_SECONDS", "GES_MAX_ATTEMPTS"])
@pytest.mark.parametrize("raw", ["0", "-1", "-86400"])
def test_whole_number_setting_below_one_is_refused(name: str, raw: str) -> None:
    assert refused(**{name: raw}).message.startswith(f"{name} must be at least 1")


@pytest.mark.parametrize("raw", ["abc", "10s", "ten", "1,5"])
def test_timeout_that_is_not_a_number_is_refused(raw: str) -> None:
    assert refused(GES_TIMEOUT_SECONDS=raw).message.startswith("GES_TIMEOUT_SECONDS must be a number")


@pytest.mark.parametrize("raw", ["0", "-1", "900.5", "901", "nan", "inf", "-inf"])
def test_timeout_out_of_range_is_refused(raw: str) -> None:
    assert refused(GES_TIMEOUT_SECONDS=raw).message.startswith("GES_TIMEOUT_SECONDS must be more than 0")


# --- optional variables ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_project_id_means_unset(raw: str) -> None:
    assert Settings.from_env(env(GES_PROJECT_ID=raw)).ges_project_id is None


def test_project_id_is_read() -> None:
    settings = Settings.from_env(env(GES_PROJECT_ID="0a1b2c3d4e5f67890a1b2c3d4e5f6789"))

    assert settings.ges_project_id == "0a1b2c3d4e5f67890a1b2c3d4e5f6789"


@pytest.mark.parametrize("raw", ["../other", "a/b", "a b", "x" * 65, "pr\u043eject"])
def test_project_id_that_is_not_a_ges_id_is_refused_by_name(raw: str) -> None:
    assert refused(GES_PROJECT_ID=raw).message.startswith("GES_PROJECT_ID")


def test_dead_letter_queue_is_optional() -> None:
    assert Settings.from_env(env()).dead_letter_queue_url is None


@pytest.mark.parametrize("raw", ["", "  "])
def test_empty_dead_letter_queue_means_unset(raw: str) -> None:
    assert Settings.from_env(env(DEAD_LETTER_QUEUE_URL=raw)).dead_letter_queue_url is None


def test_dead_letter_queue_is_read() -> None:
    assert Settings.from_env(env(DEAD_LETTER_QUEUE_URL=DEAD_LETTERS)).dead_letter_queue_url == DEAD_LETTERS


@pytest.mark.parametrize("name", ["DOWNSTREAM_QUEUE_URL", "DEAD_LETTER_QUEUE_URL"])
@pytest.mark.parametrize(
    "raw",
    ["ges-backup-export-downstream", "https://sqs.eu-west-1.amazonaws.com", "https://sqs/", "sqs://q/x"],
)
def test_queue_url_that_is_not_a_queue_url_is_refused_by_name(name: str, raw: str) -> None:
    assert refused(**{name: raw}).message.startswith(f"{name} must be an SQS queue URL")


def test_local_queue_url_over_http_is_accepted() -> None:
    url = "http://127.0.0.1:5000/123456789012/downstream"

    assert Settings.from_env(env(DOWNSTREAM_QUEUE_URL=url)).downstream_queue_url == url


def test_fifo_queue_url_is_kept_as_given() -> None:
    url = QUEUE + ".fifo"

    assert Settings.from_env(env(DOWNSTREAM_QUEUE_URL=url)).downstream_queue_url == url


@pytest.mark.parametrize("suffix", [".fifo", ".fifo/", ".FIFO"])
def test_a_fifo_tracking_queue_is_refused_by_name(suffix: str) -> None:
    """FIFO deduplication would drop the tracker's delayed re-checks of a job (and a FIFO queue takes no
    per-message delay): the tracking queue must be a standard one."""
    error = refused(TRACKING_QUEUE_URL=QUEUE.replace("downstream", "tracking") + suffix)

    assert error.message.startswith("TRACKING_QUEUE_URL must be a standard SQS queue, not a FIFO queue")


# --- concurrency ------------------------------------------------------------------------------------


def test_concurrency_defaults_to_eight_and_one_restores_one_request_at_a_time() -> None:
    assert DEFAULT_GES_CONCURRENCY == 8
    assert Settings.from_env(env()).ges_concurrency == DEFAULT_GES_CONCURRENCY
    assert Settings.from_env(env(GES_CONCURRENCY="1")).ges_concurrency == 1
    assert Settings.from_env(env(GES_CONCURRENCY=str(MAX_GES_CONCURRENCY))).ges_concurrency == 64


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("0", "at least 1"), ("65", "at most 64"), ("eight", "a whole number"), ("2.5", "a whole number")],
)
def test_concurrency_out_of_range_is_refused_by_name(raw: str, problem: str) -> None:
    assert refused(GES_CONCURRENCY=raw).message.startswith(f"GES_CONCURRENCY must be {problem}")
