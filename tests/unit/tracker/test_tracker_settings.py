"""The job tracker's settings (TrackerSettings) and the export function's two tracking settings
(TRACKING_QUEUE_URL, JOB_POLL_INTERVAL_SECONDS), as the contract's tables give them; and how the tracker's
events client is configured."""

from __future__ import annotations

from typing import Any

import pytest

from ges_backup_export.aws.clients import CONNECT_TIMEOUT_SECONDS, EVENTS_CONFIG, WORST_CALL_SECONDS
from ges_backup_export.core.errors import ConfigurationError
from ges_backup_export.core.settings import DEFAULT_GES_MAX_ATTEMPTS, DEFAULT_GES_TIMEOUT_SECONDS
from ges_backup_export.export.settings import Settings
from ges_backup_export.tracker.settings import TrackerSettings
from tests.doubles import overridden

TRACKING = "https://sqs.eu-west-1.amazonaws.com/123456789012/ges-backup-export-tracking"
TRACKING_DLQ = "https://sqs.eu-west-1.amazonaws.com/123456789012/ges-backup-export-tracking-dlq"
DOWNSTREAM = "https://sqs.eu-west-1.amazonaws.com/123456789012/ges-backup-export-downstream"
REQUIRED = ("GES_ENDPOINT", "GES_TOKEN_SECRET_ID", "IDEMPOTENCY_TABLE_NAME", "TRACKING_QUEUE_URL")


def tracker_env(**overrides: str | None) -> dict[str, str]:
    """The tracker's required variables, with `overrides` set (or removed when None)."""
    defaults = {
        "GES_ENDPOINT": "https://ges.cn-north-4.myhuaweicloud.com",
        "GES_TOKEN_SECRET_ID": "ges-backup-export/token",
        "IDEMPOTENCY_TABLE_NAME": "ges-backup-export-idempotency",
        "TRACKING_QUEUE_URL": TRACKING,
    }
    return overridden(defaults, overrides)


def refused(**overrides: str | None) -> str:
    with pytest.raises(ConfigurationError) as caught:
        TrackerSettings.from_env(tracker_env(**overrides))
    return caught.value.message


def export_settings(**overrides: str) -> Settings:
    env = {
        "GES_ENDPOINT": "https://ges.cn-north-4.myhuaweicloud.com",
        "GES_TOKEN_SECRET_ID": "ges-backup-export/token",
        "IDEMPOTENCY_TABLE_NAME": "ges-backup-export-idempotency",
        "DOWNSTREAM_QUEUE_URL": DOWNSTREAM,
        **overrides,
    }
    return Settings.from_env(env)


# --- the tracker ------------------------------------------------------------------------------------------


def test_the_required_variables_alone_give_the_contract_s_defaults() -> None:
    assert TrackerSettings.from_env(tracker_env()) == TrackerSettings(
        ges_endpoint="https://ges.cn-north-4.myhuaweicloud.com",
        ges_project_id=None,
        token_secret_id="ges-backup-export/token",
        idempotency_table_name="ges-backup-export-idempotency",
        tracking_queue_url=TRACKING,
        dead_letter_queue_url=None,
        event_bus_name="default",
        job_poll_interval_seconds=30,
        job_tracking_timeout_seconds=86_400,
        ges_timeout_seconds=DEFAULT_GES_TIMEOUT_SECONDS,
        ges_max_attempts=DEFAULT_GES_MAX_ATTEMPTS,
    )


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("value", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_a_missing_required_variable_is_named(name: str, value: str | None) -> None:
    assert refused(**{name: value}) == f"{name} is not set"


def test_every_setting_is_read() -> None:
    settings = TrackerSettings.from_env(
        tracker_env(
            DEAD_LETTER_QUEUE_URL=TRACKING_DLQ,
            EVENT_BUS_NAME="backups",
            JOB_POLL_INTERVAL_SECONDS="45",
            JOB_TRACKING_TIMEOUT_SECONDS="7200",
            GES_TIMEOUT_SECONDS="5",
            GES_MAX_ATTEMPTS="2",
        )
    )

    assert (
        settings.dead_letter_queue_url,
        settings.event_bus_name,
        settings.job_poll_interval_seconds,
        settings.job_tracking_timeout_seconds,
        settings.ges_timeout_seconds,
        settings.ges_max_attempts,
    ) == (TRACKING_DLQ, "backups", 45, 7200, 5.0, 2)


@pytest.mark.parametrize("value", ["0", "1", "900"])
def test_the_poll_interval_may_be_0_to_900_seconds(value: str) -> None:
    settings = TrackerSettings.from_env(tracker_env(JOB_POLL_INTERVAL_SECONDS=value))

    assert settings.job_poll_interval_seconds == int(value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("901", "JOB_POLL_INTERVAL_SECONDS must be at most 900, got 901"),
        ("-1", "JOB_POLL_INTERVAL_SECONDS must be at least 0, got -1"),
        ("30s", "JOB_POLL_INTERVAL_SECONDS must be a whole number, got '30s'"),
        ("1.5", "JOB_POLL_INTERVAL_SECONDS must be a whole number, got '1.5'"),
    ],
)
def test_a_poll_interval_sqs_cannot_delay_by_is_refused(value: str, problem: str) -> None:
    assert refused(JOB_POLL_INTERVAL_SECONDS=value) == problem


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "JOB_TRACKING_TIMEOUT_SECONDS must be at least 1, got 0"),
        ("a day", "JOB_TRACKING_TIMEOUT_SECONDS must be a whole number, got 'a day'"),
    ],
)
def test_a_bad_tracking_timeout_is_refused(value: str, problem: str) -> None:
    assert refused(JOB_TRACKING_TIMEOUT_SECONDS=value) == problem


@pytest.mark.parametrize(
    "bus",
    ["default", "ges-backups", "team/backups.v2", "arn:aws:events:eu-west-1:123456789012:event-bus/backups"],
)
def test_an_event_bus_name_or_arn_is_taken(bus: str) -> None:
    assert TrackerSettings.from_env(tracker_env(EVENT_BUS_NAME=bus)).event_bus_name == bus


@pytest.mark.parametrize("bus", ["two words", "bus*", "x" * 257])
def test_a_bad_event_bus_is_refused_naming_the_variable(bus: str) -> None:
    assert refused(EVENT_BUS_NAME=bus).startswith("EVENT_BUS_NAME must be an EventBridge bus name or ARN")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRACKING_QUEUE_URL", "ges-backup-export-tracking"),
        ("DEAD_LETTER_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com"),
        ("GES_ENDPOINT", "http://ges.example.com"),
    ],
)
def test_a_malformed_url_is_refused_naming_the_variable(name: str, value: str) -> None:
    assert refused(**{name: value}).startswith(f"{name} must be")


@pytest.mark.parametrize("suffix", [".fifo", ".fifo/", ".FIFO"])
def test_a_fifo_tracking_queue_is_refused_naming_the_variable(suffix: str) -> None:
    """Each re-check of a job would reuse the first message's deduplication id, and SQS would drop it."""
    problem = refused(TRACKING_QUEUE_URL=TRACKING + suffix)

    assert problem.startswith("TRACKING_QUEUE_URL must be a standard SQS queue, not a FIFO queue")


def test_the_tracker_needs_no_project_and_no_downstream_queue() -> None:
    """It follows jobs of any project the messages name, and sends nothing downstream."""
    settings = TrackerSettings.from_env(tracker_env(GES_PROJECT_ID=None, DOWNSTREAM_QUEUE_URL=None))

    assert settings.tracking_queue_url == TRACKING


# --- the export function's side ---------------------------------------------------------------------------


def test_the_export_function_tracks_nothing_without_tracking_queue_url() -> None:
    settings = export_settings()

    assert (settings.tracking_queue_url, settings.job_poll_interval_seconds) == (None, 30)


def test_the_export_function_reads_its_tracking_queue_and_first_delay() -> None:
    settings = export_settings(TRACKING_QUEUE_URL=TRACKING, JOB_POLL_INTERVAL_SECONDS="0")

    assert (settings.tracking_queue_url, settings.job_poll_interval_seconds) == (TRACKING, 0)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"TRACKING_QUEUE_URL": "tracking"}, "TRACKING_QUEUE_URL must be an SQS queue URL"),
        ({"TRACKING_QUEUE_URL": TRACKING + ".fifo"}, "TRACKING_QUEUE_URL must be a standard SQS queue"),
        ({"JOB_POLL_INTERVAL_SECONDS": "901"}, "JOB_POLL_INTERVAL_SECONDS must be at most 900, got 901"),
    ],
)
def test_the_export_function_refuses_bad_tracking_settings(overrides: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        export_settings(**overrides)

    assert caught.value.message.startswith(problem)


# --- the events client ------------------------------------------------------------------------------------


def test_the_events_client_never_repeats_a_put_and_fits_the_deadline_s_margin_for_one_call() -> None:
    """PutEvents has no idempotency key: a put the SDK repeated after an answer that did not come in time
    could announce a job twice, unseen."""
    config: Any = EVENTS_CONFIG  # botocore's Config sets its options as attributes the stubs do not know
    retries = config.retries
    worst = CONNECT_TIMEOUT_SECONDS + float(config.read_timeout)

    assert retries.get("total_max_attempts") == 1
    assert worst <= WORST_CALL_SECONDS
