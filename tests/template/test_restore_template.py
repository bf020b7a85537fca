"""template.yaml's restore tester: its settings are the code's, its role grants each action on its one
resource, its schedule sends a restore test request, its alarms and its history table are there."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ges_backup_export.restore.request import parse_event
from ges_backup_export.restore.settings import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS
from local.template import parameter_defaults

TESTER = "TestRestoreFunction"
SCHEDULER_TIME = "<aws.scheduler.scheduled-time>"


@pytest.fixture(scope="module")
def tester(deployed: Any) -> dict[str, Any]:
    properties: dict[str, Any] = deployed(TESTER)
    return properties


def statements(resources: dict[str, Any], role: str) -> dict[str, tuple[list[str], Any]]:
    (policy,) = resources[role]["Properties"]["Policies"]
    return {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in policy["PolicyDocument"]["Statement"]}


def arn(name: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [name, "Arn"]}


def test_the_tester_is_wired_to_every_setting_it_reads(tester: dict[str, Any]) -> None:
    variables = tester["Environment"]["Variables"]
    assert variables["TRACKING_QUEUE_URL"] == {"Ref": "RestoreTestQueue"}
    assert variables["DEAD_LETTER_QUEUE_URL"] == {"Ref": "RestoreTestDeadLetterQueue"}
    assert variables["HISTORY_TABLE_NAME"] == {"Ref": "RestoreHistoryTable"}
    assert variables["RESTORE_TEST_WINDOW_DAYS"] == {"Ref": "RestoreTestWindowDays"}
    assert set(variables) == {
        "GES_ENDPOINT", "GES_PROJECT_ID", "GES_TOKEN_SECRET_ID", "IDEMPOTENCY_TABLE_NAME",
        "IDEMPOTENCY_TTL_SECONDS",
        "GES_TIMEOUT_SECONDS", "GES_MAX_ATTEMPTS", "GES_CONCURRENCY", "HISTORY_TABLE_NAME",
        "RESTORE_TEST_WINDOW_DAYS", "TRACKING_QUEUE_URL", "DEAD_LETTER_QUEUE_URL", "EVENT_BUS_NAME",
        "JOB_POLL_INTERVAL_SECONDS", "JOB_TRACKING_TIMEOUT_SECONDS", "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_LOG_LEVEL",
    }  # fmt: skip


def test_the_tracker_records_the_history_the_tester_reads(resources: dict[str, Any]) -> None:
    tracker = resources["TrackExportFunction"]["Properties"]["Environment"]["Variables"]
    tester = resources[TESTER]["Properties"]["Environment"]["Variables"]
    for name in ("HISTORY_TABLE_NAME", "RESTORE_TEST_WINDOW_DAYS"):
        assert tracker[name] == tester[name]


def test_the_tester_s_role_grants_each_action_on_its_one_resource(resources: dict[str, Any]) -> None:
    bus = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"
    assert statements(resources, "TestRestoreRole") == {
        "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], arn("TestRestoreLogGroup")),
        "PollRestoreTestQueue": (
            ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            arn("RestoreTestQueue"),
        ),
        "FollowImportJobs": (["sqs:SendMessage"], arn("RestoreTestQueue")),
        "SendFailures": (["sqs:SendMessage"], arn("RestoreTestDeadLetterQueue")),
        "ReadGesToken": (["secretsmanager:GetSecretValue"], {"Ref": "GesTokenSecretArn"}),
        "IdempotencyRecords": (
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            arn("IdempotencyTable"),
        ),
        "ReadExportHistory": (["dynamodb:Query"], arn("RestoreHistoryTable")),
        "PutRestoreEvents": (["events:PutEvents"], {"Fn::Sub": bus}),
    }
    assert statements(resources, "RestoreTestScheduleRole") == {
        "InvokeRestoreTester": (["lambda:InvokeFunction"], arn(TESTER)),
        "SendUndeliveredTicks": (["sqs:SendMessage"], arn("RestoreTestDeadLetterQueue")),
    }
    assert resources[TESTER]["Properties"]["Role"] == arn("TestRestoreRole")


def test_the_follow_up_queue_triggers_the_tester_and_redrives_to_its_dead_letter_queue(
    resources: dict[str, Any], tester: dict[str, Any]
) -> None:
    event = tester["Events"]["RestoreTestQueueEvent"]
    assert event["Properties"]["Queue"] == arn("RestoreTestQueue")
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources["RestoreTestQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == arn("RestoreTestDeadLetterQueue")
    assert tester["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"] == arn(
        "RestoreTestDeadLetterQueue"
    )


@pytest.mark.parametrize("target", ["", "scratch"])
def test_the_schedule_sends_a_restore_test_the_tester_accepts(
    template: dict[str, Any], tester: dict[str, Any], target: str
) -> None:
    schedule = tester["Events"]["RestoreTestSchedule"]
    assert schedule["Type"] == "ScheduleV2"
    properties = schedule["Properties"]
    defaults = {
        **parameter_defaults(template),
        "RestoreTestGraphId": "movies",
        "RestoreTestTargetGraphId": target,
    }
    condition, with_target, without = properties["Input"]["Fn::If"]
    assert condition == "HasRestoreTestTarget"
    text = (with_target if target else without)["Fn::Sub"]
    assert SCHEDULER_TIME in text
    request = json.loads(re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: defaults[m.group(1)], text))
    request["scheduled_time"] = "2026-11-27T02:00:00Z"
    parsed = parse_event(request, parse_event_now())
    assert getattr(parsed, "target_graph_id", None) == (target or None)
    assert properties["State"] == {"Ref": "RestoreTestScheduleState"}
    assert properties["RoleArn"] == arn("RestoreTestScheduleRole")
    assert properties["DeadLetterConfig"]["Arn"] == arn("RestoreTestDeadLetterQueue")


def parse_event_now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 11, 28, tzinfo=UTC)


def test_the_restore_parameters_have_the_contract_s_defaults_and_bounds(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    defaults = parameter_defaults(template)
    assert defaults["RestoreTestScheduleState"] == "DISABLED"
    assert defaults["RestoreTestGraphId"] == "*"
    assert defaults["RestoreTestSelection"] == "latest"
    assert parameters["RestoreTestSelection"]["AllowedValues"] == ["latest", "random"]
    assert defaults["RestoreTestTargetGraphId"] == ""
    assert "SUN" in defaults["RestoreTestScheduleExpression"]  # weekly
    window = parameters["RestoreTestWindowDays"]
    assert (int(window["Default"]), window["MinValue"], window["MaxValue"]) == (
        DEFAULT_WINDOW_DAYS,
        1,
        MAX_WINDOW_DAYS,
    )
    expected = parameters["ExpectedRestoreTestDays"]
    assert (expected["Default"], expected["MinValue"], expected["MaxValue"]) == (7, 1, 7)


def test_the_history_table_is_keyed_by_graph_and_end_time_and_expires(resources: dict[str, Any]) -> None:
    table = resources["RestoreHistoryTable"]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "graph", "KeyType": "HASH"},
        {"AttributeName": "ended", "KeyType": "RANGE"},
    ]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}


def test_a_failed_test_and_no_passed_test_raise_alarms(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    failed = resources["RestoreTestsFailedAlarm"]["Properties"]
    assert (failed["MetricName"], failed["Threshold"], failed["ComparisonOperator"]) == (
        "RestoreTestsFailed", 0, "GreaterThanThreshold"
    )  # fmt: skip
    none = resources["NoRestoreTestPassedAlarm"]
    assert none["Condition"] == "RestoreTestScheduleEnabled"
    assert template["Conditions"]["RestoreTestScheduleEnabled"] == {
        "Fn::Equals": [{"Ref": "RestoreTestScheduleState"}, "ENABLED"]
    }
    alarm = none["Properties"]
    assert alarm["MetricName"] == "RestoreTestsPassed"
    assert alarm["Period"] == 86400
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == {"Ref": "ExpectedRestoreTestDays"}
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
        1, "LessThanThreshold", "breaching"
    )  # fmt: skip


def test_the_dashboard_has_a_restore_row(resources: dict[str, Any]) -> None:
    body, _ = resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for name in ("RestoreTestsPassed", "RestoreTestsFailed", "RestoreTestSeconds"):
        assert f'"{name}"' in body
