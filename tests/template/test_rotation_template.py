"""template.yaml's token rotation: the parameters, the resources that exist only with IamCredentialsSecretArn,
the rotation function's least privilege, the schedule, the invoke permission, the alarms, and the rule that
refuses rotation without a project."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ges_backup_export.aws.clients import WORST_CALL_SECONDS
from ges_backup_export.core.settings import DEFAULT_GES_MAX_ATTEMPTS, DEFAULT_GES_TIMEOUT_SECONDS
from ges_backup_export.ges.http import BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS
from ges_backup_export.ges.token_source import TOKEN_EXPIRING
from ges_backup_export.rotation.iam import IAM_MAX_ATTEMPTS, IAM_TIMEOUT_SECONDS
from ges_backup_export.rotation.settings import (
    DEFAULT_TOKEN_ROTATION_HOURS,
    MAX_TOKEN_ROTATION_HOURS,
    MIN_TOKEN_ROTATION_HOURS,
    RotationSettings,
)
from ges_backup_export.rotation.steps import MARGIN_SECONDS
from local.template import DEFAULT_TEMPLATE, parameter_defaults

REPO = DEFAULT_TEMPLATE.parent
CONDITION = "HasTokenRotation"
FUNCTION = "RotateTokenFunction"
ROLE = "RotateTokenRole"
LOG_GROUP = "RotateTokenLogGroup"
ROTATION_RESOURCES = {
    LOG_GROUP,
    ROLE,
    FUNCTION,
    "RotateTokenInvokePermission",
    "GesTokenRotationSchedule",
    "RotateTokenErrorsAlarm",
}
TOKEN_SECRET = {"Ref": "GesTokenSecretArn"}
CREDENTIALS_SECRET = {"Ref": "IamCredentialsSecretArn"}
ROTATION_ACTIONS = {
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
}
ENVIRONMENT = {
    "IAM_ENDPOINT": {"Ref": "IamEndpoint"},
    "IAM_CREDENTIALS_SECRET_ID": CREDENTIALS_SECRET,
    "GES_ENDPOINT": {"Ref": "GesEndpoint"},
    "GES_PROJECT_ID": {"Ref": "GesProjectId"},
    "GES_TOKEN_SECRET_ID": TOKEN_SECRET,
    "TOKEN_ROTATION_HOURS": {"Ref": "TokenRotationHours"},
    "POWERTOOLS_SERVICE_NAME": "ges-backup-export-rotation",
    "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
}
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ges/iam-credentials-AbC123"
TOKEN_LIFETIME_HOURS = 24
# With rate(N hours), a rotation happens at any time in a window of one hour (docs/token-rotation.md).
ROTATION_WINDOW_HOURS = 1


@pytest.fixture(scope="module")
def function(deployed: Any) -> dict[str, Any]:
    properties: dict[str, Any] = deployed(FUNCTION)
    return properties


@pytest.fixture(scope="module")
def statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    role = resources[ROLE]
    assert role["Type"] == "AWS::IAM::Role"
    [policy] = role["Properties"]["Policies"]
    found: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_of(statement: dict[str, Any]) -> set[str]:
    return set(as_list(statement["Action"]))


def granted(statements: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Each action, with the resources it is granted on."""
    found: dict[str, list[Any]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in actions_of(statement):
            found.setdefault(action, []).extend(as_list(statement["Resource"]))
    return found


def mentions(value: Any, *names: str) -> bool:
    text = json.dumps(value)
    return any(f'"{name}"' in text for name in names)


# --- parameters --------------------------------------------------------------------------------------


def test_rotation_is_off_unless_a_credentials_secret_is_given(
    template: dict[str, Any], parameters: dict[str, Any]
) -> None:
    assert parameters["IamCredentialsSecretArn"]["Default"] == ""
    assert template["Conditions"][CONDITION] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "IamCredentialsSecretArn"}, ""]}]
    }


def test_the_credentials_secret_is_empty_or_a_full_secret_arn(parameters: dict[str, Any]) -> None:
    pattern = parameters["IamCredentialsSecretArn"]["AllowedPattern"]
    for good in ["", ARN, "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:creds-a1B2c3"]:
        assert re.fullmatch(pattern, good), good
    for bad in [
        "*",
        "ges/iam-credentials",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ges/iam-credentials",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:*",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/creds-AbC123",
    ]:
        assert not re.fullmatch(pattern, bad), bad


def test_the_rotation_period_is_12_hours_by_default_and_between_4_and_22(parameters: dict[str, Any]) -> None:
    hours = parameters["TokenRotationHours"]
    assert (hours["Type"], hours["Default"], hours["MinValue"], hours["MaxValue"]) == ("Number", 12, 4, 22)


def test_the_default_period_replaces_a_token_with_half_its_life_left(template: dict[str, Any]) -> None:
    # A rotation happens in a one-hour window every N hours: the gap between two is at most N + 1 hours.
    longest_gap = int(parameter_defaults(template)["TokenRotationHours"]) + ROTATION_WINDOW_HOURS
    assert TOKEN_LIFETIME_HOURS - longest_gap >= 11


def test_no_allowed_period_lets_a_token_expire_before_it_is_replaced(parameters: dict[str, Any]) -> None:
    # Secrets Manager's shortest rotation is 4 hours. The longest allowed one replaces a token at the
    # latest as it expires: no margin for a failed rotation (docs/token-rotation.md says so).
    assert parameters["TokenRotationHours"]["MinValue"] >= 4
    assert parameters["TokenRotationHours"]["MaxValue"] + ROTATION_WINDOW_HOURS <= TOKEN_LIFETIME_HOURS


def test_the_iam_endpoint_is_the_global_one_by_default_and_https_only(parameters: dict[str, Any]) -> None:
    endpoint = parameters["IamEndpoint"]
    assert endpoint["Default"] == "https://iam.myhuaweicloud.com"
    for good in [
        endpoint["Default"],
        "https://iam.cn-north-4.myhuaweicloud.com",
        "https://iam.myhuaweicloud.eu/",
    ]:
        assert re.fullmatch(endpoint["AllowedPattern"], good), good
    for bad in [
        "http://iam.myhuaweicloud.com",
        "https://iam.myhuaweicloud.com/v3",
        "iam.myhuaweicloud.com",
        "",
    ]:
        assert not re.fullmatch(endpoint["AllowedPattern"], bad), bad


# --- the rule: no rotation without a project -----------------------------------------------------------


def evaluate(value: Any, parameters: dict[str, str]) -> Any:
    """A rule's condition or assertion (Fn::Not, Fn::Equals, Ref) for the given parameter values."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Not"}:
        return not evaluate(value["Fn::Not"][0], parameters)
    if isinstance(value, dict) and set(value) == {"Fn::Equals"}:
        left, right = (evaluate(item, parameters) for item in value["Fn::Equals"])
        return left == right
    assert not isinstance(value, dict), f"not evaluated here: {value}"
    return value


@pytest.mark.parametrize(
    ("credentials", "project", "accepted"),
    [
        pytest.param(ARN, "0a1b2c3d4e5f67890a1b2c3d4e5f6789", True, id="rotation-with-a-project"),
        pytest.param(ARN, "", False, id="rotation-without-a-project"),
        pytest.param("", "", True, id="no-rotation-no-project"),
        pytest.param("", "0a1b2c3d4e5f67890a1b2c3d4e5f6789", True, id="no-rotation-a-project"),
    ],
)
def test_a_stack_with_rotation_needs_a_project(
    template: dict[str, Any], credentials: str, project: str, accepted: bool
) -> None:
    values = {"IamCredentialsSecretArn": credentials, "GesProjectId": project}
    rule = template["Rules"]["TokenRotationNeedsAProject"]
    applies = evaluate(rule["RuleCondition"], values)
    holds = all(evaluate(assertion["Assert"], values) for assertion in rule["Assertions"])
    assert (not applies or holds) is accepted
    assert all("GesProjectId" in assertion["AssertDescription"] for assertion in rule["Assertions"])


# --- everything under the condition ----------------------------------------------------------------------


def test_the_rotation_resources_exist_only_with_rotation(resources: dict[str, Any]) -> None:
    conditional = {name for name, resource in resources.items() if resource.get("Condition") == CONDITION}
    assert conditional == ROTATION_RESOURCES


def test_every_resource_and_output_that_names_the_rotation_is_under_the_condition(
    template: dict[str, Any],
) -> None:
    for section in ("Resources", "Outputs"):
        for name, item in template[section].items():
            if mentions(
                item, *ROTATION_RESOURCES, "IamCredentialsSecretArn", "TokenRotationHours", "IamEndpoint"
            ):
                assert item.get("Condition") == CONDITION, f"{section}.{name}"


# --- the function ----------------------------------------------------------------------------------------


def test_the_function_is_built_like_the_export_function(deployed: Any, function: dict[str, Any]) -> None:
    export = deployed("ExportBackupFunction")
    for key in ("Runtime", "Architectures", "Layers"):
        assert function[key] == export[key], key
    assert function["LoggingConfig"]["ApplicationLogLevel"] == export["LoggingConfig"]["ApplicationLogLevel"]
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    assert function["Runtime"] == "python3.13"


def test_the_handler_is_the_rotation_handler(function: dict[str, Any]) -> None:
    assert (function["CodeUri"], function["Handler"]) == ("functions/rotate_token/", "app.lambda_handler")
    source = REPO / "functions/rotate_token/app.py"
    assert "def lambda_handler(" in source.read_text(encoding="utf-8")


def test_the_function_logs_to_its_own_log_group(resources: dict[str, Any], function: dict[str, Any]) -> None:
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": LOG_GROUP}
    group = resources[LOG_GROUP]["Properties"]
    export_group = resources["ExportBackupLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["LogGroupName"] != export_group["LogGroupName"]


def test_the_environment_is_exactly_the_rotation_settings(function: dict[str, Any]) -> None:
    assert function["Environment"]["Variables"] == ENVIRONMENT


def test_the_environment_gives_valid_rotation_settings(
    function: dict[str, Any], template: dict[str, Any]
) -> None:
    values = {
        **parameter_defaults(template),
        "GesEndpoint": "https://ges.cn-north-4.myhuaweicloud.com",
        "GesProjectId": "0a1b2c3d4e5f67890a1b2c3d4e5f6789",
        "GesTokenSecretArn": ARN.replace("iam-credentials", "token"),
        "IamCredentialsSecretArn": ARN,
    }
    variables = function["Environment"]["Variables"]
    env = {
        key: values[value["Ref"]] if isinstance(value, dict) else value for key, value in variables.items()
    }

    settings = RotationSettings.from_env(env)

    assert settings.iam_endpoint == "https://iam.myhuaweicloud.com"
    assert settings.token_secret_id == values["GesTokenSecretArn"]
    assert settings.token_rotation_hours == 12


def test_the_function_knows_the_schedule_s_period_within_the_same_bounds(
    function: dict[str, Any], parameters: dict[str, Any], resources: dict[str, Any]
) -> None:
    # A new token must outlive the period by an hour (rotation/steps.py): the function must be told the period
    # the schedule uses, and accept every value the parameter allows.
    variable = function["Environment"]["Variables"]["TOKEN_ROTATION_HOURS"]
    schedule = resources["GesTokenRotationSchedule"]["Properties"]["RotationRules"]["ScheduleExpression"]
    assert variable == {"Ref": "TokenRotationHours"}
    assert "${TokenRotationHours}" in schedule["Fn::Sub"]
    hours = parameters["TokenRotationHours"]
    assert (hours["Default"], hours["MinValue"], hours["MaxValue"]) == (
        DEFAULT_TOKEN_ROTATION_HOURS,
        MIN_TOKEN_ROTATION_HOURS,
        MAX_TOKEN_ROTATION_HOURS,
    )


def test_the_timeout_fits_a_step_at_its_worst(function: dict[str, Any]) -> None:
    # createSecret: DescribeSecret, two GetSecretValue, IAM's attempts with their waits, PutSecretValue (the
    # margin). testSecret: DescribeSecret, GetSecretValue, GES's attempts with their waits, and the
    # UpdateSecretVersionStage that gives up a version whose token GES rejected (the margin).
    waits = sum(min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt) for attempt in range(3))
    create = 3 * WORST_CALL_SECONDS + IAM_MAX_ATTEMPTS * IAM_TIMEOUT_SECONDS + waits + MARGIN_SECONDS
    test = (
        2 * WORST_CALL_SECONDS
        + DEFAULT_GES_MAX_ATTEMPTS * DEFAULT_GES_TIMEOUT_SECONDS
        + waits
        + MARGIN_SECONDS
    )
    assert function["Timeout"] >= max(create, test)
    assert function["Timeout"] <= 900


# --- least privilege ----------------------------------------------------------------------------------


def test_the_function_runs_as_its_own_role_assumed_by_lambda_only(
    resources: dict[str, Any], function: dict[str, Any]
) -> None:
    assert function["Role"] == {"Fn::GetAtt": [ROLE, "Arn"]}
    [trust] = as_list(resources[ROLE]["Properties"]["AssumeRolePolicyDocument"]["Statement"])
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert as_list(trust["Action"]) == ["sts:AssumeRole"]
    assert "ManagedPolicyArns" not in resources[ROLE]["Properties"]


def test_the_role_grants_exactly_the_rotation_s_actions_each_on_its_one_resource(
    statements: list[dict[str, Any]],
) -> None:
    assert granted(statements) == {
        "logs:CreateLogStream": [{"Fn::GetAtt": [LOG_GROUP, "Arn"]}],
        "logs:PutLogEvents": [{"Fn::GetAtt": [LOG_GROUP, "Arn"]}],
        "secretsmanager:GetSecretValue": [CREDENTIALS_SECRET, TOKEN_SECRET],
        "secretsmanager:DescribeSecret": [TOKEN_SECRET],
        "secretsmanager:PutSecretValue": [TOKEN_SECRET],
        "secretsmanager:UpdateSecretVersionStage": [TOKEN_SECRET],
    }


def test_the_credentials_secret_is_only_read(statements: list[dict[str, Any]]) -> None:
    on_credentials = [s for s in statements if CREDENTIALS_SECRET in as_list(s["Resource"])]
    assert [actions_of(s) for s in on_credentials] == [{"secretsmanager:GetSecretValue"}]
    assert [as_list(s["Resource"]) for s in on_credentials] == [[CREDENTIALS_SECRET]]


def test_the_token_secret_gets_the_four_rotation_actions_in_one_statement(
    statements: list[dict[str, Any]],
) -> None:
    on_token = [s for s in statements if TOKEN_SECRET in as_list(s["Resource"])]
    assert [actions_of(s) for s in on_token] == [ROTATION_ACTIONS]
    assert [as_list(s["Resource"]) for s in on_token] == [[TOKEN_SECRET]]


def test_the_export_function_still_only_reads_the_token(resources: dict[str, Any]) -> None:
    [policy] = resources["ExportBackupRole"]["Properties"]["Policies"]
    secretsmanager = [
        action
        for statement in policy["PolicyDocument"]["Statement"]
        for action in actions_of(statement)
        if action.startswith("secretsmanager:")
    ]
    assert secretsmanager == ["secretsmanager:GetSecretValue"]


# --- schedule and permission ---------------------------------------------------------------------------


def test_the_schedule_rotates_the_token_secret_with_the_function_at_a_rate_in_hours(
    resources: dict[str, Any], template: dict[str, Any]
) -> None:
    schedule = resources["GesTokenRotationSchedule"]
    assert schedule["Type"] == "AWS::SecretsManager::RotationSchedule"
    properties = schedule["Properties"]
    assert properties["SecretId"] == TOKEN_SECRET
    assert (
        properties["SecretId"]
        == resources["ExportBackupFunction"]["Properties"]["Environment"]["Variables"]["GES_TOKEN_SECRET_ID"]
    )
    assert properties["RotationLambdaARN"] == {"Fn::GetAtt": [FUNCTION, "Arn"]}
    expression = properties["RotationRules"]["ScheduleExpression"]
    assert expression == {"Fn::Sub": "rate(${TokenRotationHours} hours)"}
    hours = parameter_defaults(template)["TokenRotationHours"]
    assert expression["Fn::Sub"].replace("${TokenRotationHours}", hours) == "rate(12 hours)"
    assert "AutomaticallyAfterDays" not in properties["RotationRules"]


def test_secrets_manager_of_this_account_alone_may_invoke_the_function(resources: dict[str, Any]) -> None:
    permission = resources["RotateTokenInvokePermission"]
    assert permission["Type"] == "AWS::Lambda::Permission"
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [FUNCTION, "Arn"]},
        "Principal": "secretsmanager.amazonaws.com",
        "SourceAccount": {"Ref": "AWS::AccountId"},
    }


def test_the_schedule_is_created_after_the_permission(resources: dict[str, Any]) -> None:
    # The first rotation starts when the schedule is created: Secrets Manager must be allowed to invoke.
    assert as_list(resources["GesTokenRotationSchedule"]["DependsOn"]) == ["RotateTokenInvokePermission"]


# --- alarms ------------------------------------------------------------------------------------------------


def test_a_failed_rotation_step_raises_an_alarm(resources: dict[str, Any]) -> None:
    alarm = resources["RotateTokenErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": FUNCTION}}]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Sum",
        "GreaterThanThreshold",
        0,
    )
    assert alarm["AlarmActions"] == {
        "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
    }
    assert "docs/token-rotation.md" in alarm["AlarmDescription"]


def test_a_token_about_to_expire_raises_an_alarm_with_or_without_rotation(resources: dict[str, Any]) -> None:
    metric_filter = resources["GesTokenExpiringMetricFilter"]
    assert "Condition" not in metric_filter
    properties = metric_filter["Properties"]
    assert properties["LogGroupName"] == {"Ref": "ExportBackupLogGroup"}
    assert properties["FilterPattern"] == f'{{ $.message = "{TOKEN_EXPIRING}" }}'
    [metric] = properties["MetricTransformations"]
    alarm = resources["GesTokenExpiringAlarm"]
    assert "Condition" not in alarm
    assert (alarm["Properties"]["Namespace"], alarm["Properties"]["MetricName"]) == (
        metric["MetricNamespace"],
        metric["MetricName"],
    )
    assert alarm["Properties"]["Threshold"] == 0
