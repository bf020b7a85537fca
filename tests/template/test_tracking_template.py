"""template.yaml's job tracker: its queue and function as the code expects them, its role's least
privilege, the metrics alarms ("no backup landed" above all) and the dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ges_backup_export.core import metrics
from ges_backup_export.core.settings import DEFAULT_JOB_POLL_INTERVAL_SECONDS, MAX_DELAY_SECONDS
from ges_backup_export.export import exporter
from ges_backup_export.tracker import announcements
from ges_backup_export.tracker.announcements import ANNOUNCED_TTL_SECONDS
from ges_backup_export.tracker.settings import DEFAULT_EVENT_BUS_NAME, DEFAULT_JOB_TRACKING_TIMEOUT_SECONDS
from local.template import parameter_defaults

TRACKER = "TrackExportFunction"
ROLE = "TrackExportRole"
SEVEN_DAYS = 7 * 24 * 3600  # CloudWatch's limit on Period x EvaluationPeriods for hourly periods
SERVICE = [{"Name": "service", "Value": "ges-backup-export"}]


@pytest.fixture(scope="module")
def tracker(deployed: Any) -> dict[str, Any]:
    properties: dict[str, Any] = deployed(TRACKER)
    return properties


def statements(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tracker role's statements, by Sid."""
    (policy,) = resources[ROLE]["Properties"]["Policies"]
    return {statement["Sid"]: statement for statement in policy["PolicyDocument"]["Statement"]}


def test_the_tracker_reads_its_queue_and_answers_with_partial_batch_failures(tracker: dict[str, Any]) -> None:
    (event,) = tracker["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["TrackingQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert tracker["Layers"] == [{"Ref": "DependenciesLayer"}]
    assert (tracker["Runtime"], tracker["Architectures"]) == ("python3.13", ["arm64"])


def test_the_tracking_queue_hides_a_message_for_six_tracker_timeouts_and_has_a_dead_letter_queue(
    resources: dict[str, Any], tracker: dict[str, Any]
) -> None:
    queue = resources["TrackingQueue"]["Properties"]
    assert int(queue["VisibilityTimeout"]) >= 6 * int(tracker["Timeout"])
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["TrackingDeadLetterQueue", "Arn"]}
    dlq = resources["TrackingDeadLetterQueue"]["Properties"]
    assert int(dlq["MessageRetentionPeriod"]) > int(queue["MessageRetentionPeriod"])
    # The tracker remembers what it announced longer than a tracking message can live.
    assert int(dlq["MessageRetentionPeriod"]) < ANNOUNCED_TTL_SECONDS


def test_both_functions_are_wired_to_the_tracker_s_settings(
    template: dict[str, Any], resources: dict[str, Any], tracker: dict[str, Any]
) -> None:
    export = resources["ExportBackupFunction"]["Properties"]["Environment"]["Variables"]
    tracked = tracker["Environment"]["Variables"]
    assert export["TRACKING_QUEUE_URL"] == tracked["TRACKING_QUEUE_URL"] == {"Ref": "TrackingQueue"}
    assert export["JOB_POLL_INTERVAL_SECONDS"] == tracked["JOB_POLL_INTERVAL_SECONDS"]
    assert tracked["DEAD_LETTER_QUEUE_URL"] == {"Ref": "TrackingDeadLetterQueue"}
    assert tracked["IDEMPOTENCY_TABLE_NAME"] == export["IDEMPOTENCY_TABLE_NAME"]
    assert set(tracked) == {
        "GES_ENDPOINT",
        "GES_TOKEN_SECRET_ID",
        "IDEMPOTENCY_TABLE_NAME",
        "TRACKING_QUEUE_URL",
        "DEAD_LETTER_QUEUE_URL",
        "EVENT_BUS_NAME",
        "JOB_POLL_INTERVAL_SECONDS",
        "JOB_TRACKING_TIMEOUT_SECONDS",
        "GES_TIMEOUT_SECONDS",
        "GES_MAX_ATTEMPTS",
        "HISTORY_TABLE_NAME",  # the restore tests' history (tests/template/test_restore_template.py)
        "RESTORE_TEST_WINDOW_DAYS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_LOG_LEVEL",
    }
    defaults = parameter_defaults(template)
    assert int(defaults["JobPollIntervalSeconds"]) == DEFAULT_JOB_POLL_INTERVAL_SECONDS
    assert int(defaults["JobTrackingTimeoutSeconds"]) == DEFAULT_JOB_TRACKING_TIMEOUT_SECONDS
    assert defaults["EventBusName"] == DEFAULT_EVENT_BUS_NAME
    assert template["Parameters"]["JobPollIntervalSeconds"]["MaxValue"] == MAX_DELAY_SECONDS


def test_the_tracker_s_role_grants_each_action_on_its_one_resource(resources: dict[str, Any]) -> None:
    granted = {
        sid: (sorted(statement["Action"]), statement["Resource"])
        for sid, statement in statements(resources).items()
    }
    bus = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"
    assert granted == {
        "WriteOwnLogs": (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            {"Fn::GetAtt": ["TrackExportLogGroup", "Arn"]},
        ),
        "PollTrackingQueue": (
            ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            {"Fn::GetAtt": ["TrackingQueue", "Arn"]},
        ),
        "CheckJobsAgainLater": (["sqs:SendMessage"], {"Fn::GetAtt": ["TrackingQueue", "Arn"]}),
        "SendUnreadableMessages": (["sqs:SendMessage"], {"Fn::GetAtt": ["TrackingDeadLetterQueue", "Arn"]}),
        "ReadGesToken": (["secretsmanager:GetSecretValue"], {"Ref": "GesTokenSecretArn"}),
        "AnnouncedJobs": (
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            {"Fn::GetAtt": ["IdempotencyTable", "Arn"]},
        ),
        "PutCompletionEvents": (["events:PutEvents"], {"Fn::Sub": bus}),
        "RecordExportHistory": (["dynamodb:PutItem"], {"Fn::GetAtt": ["RestoreHistoryTable", "Arn"]}),
    }


@pytest.mark.parametrize("metric", [announcements.JOBS_FAILED, announcements.JOBS_TIMED_OUT])
def test_any_failed_or_timed_out_job_raises_an_alarm(resources: dict[str, Any], metric: str) -> None:
    (alarm,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == metric
    ]
    assert (alarm["Namespace"], alarm["Dimensions"]) == (metrics.NAMESPACE, SERVICE)
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Sum",
        "GreaterThanThreshold",
        0,
    )


def test_no_backup_landed_fires_after_expected_hours_without_a_success_while_the_schedule_runs(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    resource = resources["NoBackupLandedAlarm"]
    alarm = resource["Properties"]
    assert resource["Condition"] == "ScheduleEnabled"
    assert template["Conditions"]["ScheduleEnabled"] == {"Fn::Equals": [{"Ref": "ScheduleState"}, "ENABLED"]}
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]) == (
        metrics.NAMESPACE,
        announcements.JOBS_SUCCEEDED,
        SERVICE,
    )
    # Every hour of the window without a success (no data at all included) breaches.
    assert alarm["Period"] == 3600
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == {"Ref": "ExpectedExportHours"}
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Sum",
        "LessThanThreshold",
        1,
    )
    assert alarm["TreatMissingData"] == "breaching"
    hours = template["Parameters"]["ExpectedExportHours"]
    assert int(hours["Default"]) == 26
    assert 3600 * int(hours["MaxValue"]) <= SEVEN_DAYS


def test_the_dashboard_shows_every_metric_and_the_dead_letter_depths(resources: dict[str, Any]) -> None:
    body, names = resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(body)
    shown = json.dumps(dashboard)
    for name in (
        exporter.EXPORTS_STARTED,
        exporter.EXPORTS_DEDUPLICATED,
        exporter.EXPORTS_FAILED,
        announcements.JOBS_SUCCEEDED,
        announcements.JOBS_FAILED,
        announcements.JOBS_TIMED_OUT,
        announcements.JOB_SECONDS,
    ):
        assert f'"{name}"' in shown, name
    assert {value["Fn::GetAtt"][0] for value in names.values()} == {
        "InputDeadLetterQueue",
        "TrackingDeadLetterQueue",
        "FailedRunsQueue",
        "RestoreTestDeadLetterQueue",
    }
    assert all("${" + name + "}" in body for name in names)
