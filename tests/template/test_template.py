"""template.yaml as data: pins what the code and the operations rely on.

cfn-lint and `sam validate --lint` check the template's syntax, checkov and cfn-lint-serverless its
security and reliability rules (`make template-lint`); these tests check its meaning (for example the
visibility timeout against the function timeout, which cfn-lint 1.58 does not flag, or that the role
grants SendMessage on exactly the queues the code sends to) and pin every suppressed scanner finding.
"""

import json
import re
from typing import Any

import pytest

from ges_backup_export.core.message_format import ALL_GRAPHS, MAX_MESSAGE_BYTES
from ges_backup_export.export.request import parse_request
from ges_backup_export.export.settings import (
    DEFAULT_GES_CONCURRENCY,
    DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    MAX_GES_CONCURRENCY,
)
from local.template import DEFAULT_TEMPLATE, parameter_defaults

REPO = DEFAULT_TEMPLATE.parent

REQUIRED_SETTINGS = ["GES_ENDPOINT", "GES_TOKEN_SECRET_ID", "IDEMPOTENCY_TABLE_NAME", "DOWNSTREAM_QUEUE_URL"]
OPTIONAL_SETTINGS = [
    "GES_PROJECT_ID",
    "IDEMPOTENCY_TTL_SECONDS",
    "DEAD_LETTER_QUEUE_URL",
    "GES_TIMEOUT_SECONDS",
    "GES_MAX_ATTEMPTS",
    "GES_CONCURRENCY",
    "TRACKING_QUEUE_URL",
    "JOB_POLL_INTERVAL_SECONDS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_LOG_LEVEL",
]
QUEUES = [
    "InputQueue",
    "InputDeadLetterQueue",
    "DownstreamQueue",
    "FailedRunsQueue",
    "TrackingQueue",
    "TrackingDeadLetterQueue",
    "RestoreTestQueue",  # the restore tester's (tests/template/test_restore_template.py)
    "RestoreTestDeadLetterQueue",
]
OUTPUTS = [
    "InputQueueUrl",
    "InputDeadLetterQueueUrl",
    "DownstreamQueueUrl",
    "FailedRunsQueueUrl",
    "ExportBackupFunctionName",
    "ExportBackupFunctionArn",
    "IdempotencyTableName",
    "TrackingQueueUrl",
    "TrackingDeadLetterQueueUrl",
    "TrackExportFunctionName",
]
IDEMPOTENCY_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
# What Lambda's SQS poller needs (the actions of AWSLambdaSQSQueueExecutionRole, minus its logs:* ones).
POLLER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
SCHEDULER_TIME = "<aws.scheduler.scheduled-time>"
FUNCTION_ROLE = "ExportBackupRole"
SCHEDULE_ROLE = "ScheduleRole"
TRACKER_ROLE = "TrackExportRole"
ROTATION_ROLE = "RotateTokenRole"  # tests/template/test_rotation_template.py checks its scope
RESTORE_ROLES = ("TestRestoreRole", "RestoreTestScheduleRole")  # tests/template/test_restore_template.py
IAM_POLICY_TYPES = {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}
# Every scanner finding suppressed in template.yaml, by resource. A new suppression needs its reason
# in the template and its entry here; fixing a finding means removing both.
CHECKOV_SKIPS = {
    "ExportBackupLogGroup": {"CKV_AWS_158"},
    "ExportBackupFunction": {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"},
    "InputQueue": {"CKV_AWS_27"},
    "InputDeadLetterQueue": {"CKV_AWS_27"},
    "DownstreamQueue": {"CKV_AWS_27"},
    "FailedRunsQueue": {"CKV_AWS_27"},
    "IdempotencyTable": {"CKV_AWS_119"},
    "TrackingQueue": {"CKV_AWS_27"},
    "TrackingDeadLetterQueue": {"CKV_AWS_27"},
    "TrackExportLogGroup": {"CKV_AWS_158"},
    "TrackExportFunction": {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"},
    "RotateTokenLogGroup": {"CKV_AWS_158"},
    "RotateTokenFunction": {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"},
    # The restore tester's (tests/template/test_restore_template.py).
    "RestoreHistoryTable": {"CKV_AWS_119"},
    "RestoreTestQueue": {"CKV_AWS_27"},
    "RestoreTestDeadLetterQueue": {"CKV_AWS_27"},
    "TestRestoreLogGroup": {"CKV_AWS_158"},
    "TestRestoreFunction": {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"},
}
CFN_LINT_IGNORES = {
    "ExportBackupFunction": {"WS1000", "WS1004"},
    "RotateTokenFunction": {"WS1000", "WS1004"},
    "InputDeadLetterQueue": {"ES6000"},
    "DownstreamQueue": {"ES6000"},
    "FailedRunsQueue": {"ES6000"},
    "TrackingDeadLetterQueue": {"ES6000"},
    "TrackExportFunction": {"WS1000", "WS1004"},
    "RestoreTestDeadLetterQueue": {"ES6000"},
    "TestRestoreFunction": {"WS1000", "WS1004"},
}
ALARM_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


@pytest.fixture(scope="module")
def defaults(template: dict[str, Any]) -> dict[str, str]:
    return parameter_defaults(template)


@pytest.fixture(scope="module")
def function(deployed: Any) -> dict[str, Any]:
    properties: dict[str, Any] = deployed("ExportBackupFunction")
    return properties


@pytest.fixture(scope="module")
def environment(function: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = function["Environment"]["Variables"]
    return variables


@pytest.fixture(scope="module")
def queue_event(function: dict[str, Any]) -> dict[str, Any]:
    event = function["Events"]["QueueEvent"]
    assert event["Type"] == "SQS"
    properties: dict[str, Any] = event["Properties"]
    return properties


@pytest.fixture(scope="module")
def schedule_event(function: dict[str, Any]) -> dict[str, Any]:
    event = function["Events"]["ScheduleEvent"]
    assert event["Type"] == "ScheduleV2"
    properties: dict[str, Any] = event["Properties"]
    return properties


@pytest.fixture(scope="module")
def statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of the function's execution role."""
    return role_statements(resources, FUNCTION_ROLE)


@pytest.fixture(scope="module")
def schedule_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return role_statements(resources, SCHEDULE_ROLE)


@pytest.fixture(scope="module")
def all_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    """Every permission statement the template declares, in any role or policy."""
    found: list[dict[str, Any]] = []
    for name, resource in resources.items():
        if resource["Type"] in IAM_POLICY_TYPES:
            found.extend(policy_statements(resource, name))
    assert found
    return found


@pytest.fixture(scope="module")
def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def policy_statements(resource: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The statements of an AWS::IAM::Role's inline policies, or of an AWS::IAM::(Managed)Policy."""
    properties = resource["Properties"]
    documents = (
        [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        if resource["Type"] == "AWS::IAM::Role"
        else [properties["PolicyDocument"]]
    )
    found: list[dict[str, Any]] = []
    for document in documents:
        assert isinstance(document, dict), f"{name}: a policy document must be inline, not {document!r}"
        found.extend(as_list(document["Statement"]))
    return found


def role_statements(resources: dict[str, Any], name: str) -> list[dict[str, Any]]:
    assert resources[name]["Type"] == "AWS::IAM::Role"
    return policy_statements(resources[name], name)


def statements_with(statements: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [s for s in statements if any(action.startswith(prefix) for action in actions_of(s))]


def granted(statements: list[dict[str, Any]], action: str) -> list[Any]:
    """The resources on which the statements grant an action, in declaration order."""
    return [resource for s in statements if action in actions_of(s) for resource in as_list(s["Resource"])]


def same_items(left: list[Any], right: list[Any]) -> bool:
    return sorted(map(json.dumps, left)) == sorted(map(json.dumps, right))


def queue_properties(resources: dict[str, Any], name: str) -> dict[str, Any]:
    assert resources[name]["Type"] == "AWS::SQS::Queue"
    properties: dict[str, Any] = resources[name]["Properties"]
    return properties


def resolve(value: Any, defaults: dict[str, str]) -> Any:
    """A literal as is, a `Ref` to a parameter as that parameter's default."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return defaults[value["Ref"]]
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_of(statement: dict[str, Any]) -> set[str]:
    return set(as_list(statement["Action"]))


def arn_of(resource: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, "Arn"]}


def substitute(text: str, defaults: dict[str, str]) -> str:
    """Fn::Sub of a string whose variables are all parameters, with their defaults."""
    return re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda match: defaults[match.group(1)], text)


def scheduled_request(schedule_event: dict[str, Any], defaults: dict[str, str]) -> Any:
    sub = schedule_event["Input"]["Fn::Sub"]
    assert isinstance(sub, str)
    return json.loads(substitute(sub, defaults))


# --- runtime, code and layer ---------------------------------------------------------------------


def test_function_runs_python_3_13(function: dict[str, Any]) -> None:
    assert function["Runtime"] == "python3.13"


def test_layer_is_built_for_python_3_13(resources: dict[str, Any]) -> None:
    layer = resources["DependenciesLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"  # layers/Makefile, with compiled bytecode


def test_layer_supports_the_function_architecture(
    resources: dict[str, Any], function: dict[str, Any]
) -> None:
    assert (
        resources["DependenciesLayer"]["Properties"]["CompatibleArchitectures"] == function["Architectures"]
    )


def test_function_uses_the_dependencies_layer(function: dict[str, Any]) -> None:
    assert {"Ref": "DependenciesLayer"} in function["Layers"]


def test_handler_is_defined_in_the_code_uri(function: dict[str, Any]) -> None:
    module, _, handler = function["Handler"].rpartition(".")
    source = REPO / function["CodeUri"] / f"{module.replace('.', '/')}.py"
    assert source.is_file(), f"{source} is missing"
    assert f"def {handler}(" in source.read_text(encoding="utf-8")


@pytest.mark.parametrize("package", ["aws-lambda-powertools", "requests"])
def test_layer_requirements_pin_package(resources: dict[str, Any], package: str) -> None:
    content_uri = resources["DependenciesLayer"]["Properties"]["ContentUri"]
    requirements = REPO / content_uri / "requirements.txt"
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, separator, version = line.partition("==")
            assert separator, f"not pinned with ==: {line}"
            pins[name.strip().lower()] = version.strip()
    assert pins.get(package), f"{package} is not pinned in {requirements}"


# --- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED_SETTINGS)
def test_required_setting_is_set(environment: dict[str, Any], name: str) -> None:
    assert environment.get(name) not in (None, "")


@pytest.mark.parametrize("name", OPTIONAL_SETTINGS)
def test_optional_setting_is_set(environment: dict[str, Any], name: str) -> None:
    assert name in environment


def test_every_setting_of_the_function_is_one_the_code_reads(environment: dict[str, Any]) -> None:
    assert set(environment) == set(REQUIRED_SETTINGS) | set(OPTIONAL_SETTINGS)


def test_the_concurrency_parameter_is_the_code_s_range(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["GesConcurrency"]
    assert (int(parameter["Default"]), parameter["MinValue"], parameter["MaxValue"]) == (
        DEFAULT_GES_CONCURRENCY,
        1,
        MAX_GES_CONCURRENCY,
    )


def test_deployed_function_talks_to_real_aws(environment: dict[str, Any]) -> None:
    assert "AWS_ENDPOINT_URL" not in environment


def test_settings_point_at_the_stack_resources(environment: dict[str, Any]) -> None:
    assert environment["IDEMPOTENCY_TABLE_NAME"] == {"Ref": "IdempotencyTable"}
    assert environment["DOWNSTREAM_QUEUE_URL"] == {"Ref": "DownstreamQueue"}


def test_dead_letter_queue_url_is_the_input_queues_dead_letter_queue(
    environment: dict[str, Any], resources: dict[str, Any]
) -> None:
    redrive_target = queue_properties(resources, "InputQueue")["RedrivePolicy"]["deadLetterTargetArn"]
    assert redrive_target == arn_of("InputDeadLetterQueue")
    assert environment["DEAD_LETTER_QUEUE_URL"] == {"Ref": "InputDeadLetterQueue"}


# --- SQS trigger -----------------------------------------------------------------------------------


def test_queue_event_reads_the_input_queue(queue_event: dict[str, Any]) -> None:
    assert queue_event["Queue"] == arn_of("InputQueue")


def test_queue_event_reports_batch_item_failures(queue_event: dict[str, Any]) -> None:
    assert queue_event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_queue_event_sets_batch_size_and_batching_window(
    queue_event: dict[str, Any], defaults: dict[str, str]
) -> None:
    assert 1 <= int(resolve(queue_event["BatchSize"], defaults)) <= 10
    assert int(resolve(queue_event["MaximumBatchingWindowInSeconds"], defaults)) >= 0


def test_queue_event_caps_concurrency_towards_ges(
    queue_event: dict[str, Any], defaults: dict[str, str]
) -> None:
    maximum = int(resolve(queue_event["ScalingConfig"]["MaximumConcurrency"], defaults))
    assert 2 <= maximum <= 1000  # the range Lambda accepts


def test_input_queue_visibility_is_at_least_six_function_timeouts(
    resources: dict[str, Any], function: dict[str, Any]
) -> None:
    visibility = int(queue_properties(resources, "InputQueue")["VisibilityTimeout"])
    assert visibility >= 6 * int(function["Timeout"])


def test_input_queue_redrives_to_its_dead_letter_queue(
    resources: dict[str, Any], defaults: dict[str, str]
) -> None:
    redrive = queue_properties(resources, "InputQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == arn_of("InputDeadLetterQueue")
    assert int(resolve(redrive["maxReceiveCount"], defaults)) >= 1


def test_dead_letter_queue_keeps_messages_longer_than_input_queue(resources: dict[str, Any]) -> None:
    input_retention = int(queue_properties(resources, "InputQueue")["MessageRetentionPeriod"])
    dlq_retention = int(queue_properties(resources, "InputDeadLetterQueue")["MessageRetentionPeriod"])
    assert dlq_retention > input_retention


def test_every_queue_of_the_template_is_known(resources: dict[str, Any]) -> None:
    queues = [name for name, resource in resources.items() if resource["Type"] == "AWS::SQS::Queue"]
    assert sorted(queues) == sorted(QUEUES)


@pytest.mark.parametrize("name", QUEUES)
def test_queue_is_encrypted(resources: dict[str, Any], name: str) -> None:
    properties = queue_properties(resources, name)
    assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties


# --- idempotency table -----------------------------------------------------------------------------


def test_idempotency_table_key_is_id_string(resources: dict[str, Any]) -> None:
    table = resources["IdempotencyTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["Properties"]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["Properties"]["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]


def test_idempotency_table_expires_records_on_expiration(resources: dict[str, Any]) -> None:
    ttl = resources["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiration", "Enabled": True}


def test_idempotency_table_is_billed_per_request(resources: dict[str, Any]) -> None:
    assert resources["IdempotencyTable"]["Properties"]["BillingMode"] == "PAY_PER_REQUEST"


def test_every_table_is_encrypted(resources: dict[str, Any]) -> None:
    tables = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert tables
    for table in tables:
        assert table["SSESpecification"]["SSEEnabled"] is True


# --- IAM -------------------------------------------------------------------------------------------


def test_idempotency_statement_has_exactly_the_four_actions(statements: list[dict[str, Any]]) -> None:
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in actions_of(s))]
    assert len(dynamodb) == 1
    assert actions_of(dynamodb[0]) == IDEMPOTENCY_ACTIONS
    assert as_list(dynamodb[0]["Resource"]) == [arn_of("IdempotencyTable")]


def test_secret_statement_only_reads_the_token_secret(
    statements: list[dict[str, Any]], environment: dict[str, Any]
) -> None:
    secrets = [s for s in statements if any(a.startswith("secretsmanager:") for a in actions_of(s))]
    assert len(secrets) == 1
    assert actions_of(secrets[0]) == {"secretsmanager:GetSecretValue"}
    assert as_list(secrets[0]["Resource"]) == [environment["GES_TOKEN_SECRET_ID"]]


def test_function_sends_exactly_to_the_queues_it_is_wired_to(
    statements: list[dict[str, Any]],
    environment: dict[str, Any],
    function: dict[str, Any],
    queue_event: dict[str, Any],
) -> None:
    # The code sends to DOWNSTREAM_QUEUE_URL, DEAD_LETTER_QUEUE_URL and TRACKING_QUEUE_URL, and fans a
    # "*" request out onto the queue its record came from; Lambda sends a failed asynchronous run to the
    # on-failure destination with the function's role.
    queues = ("DOWNSTREAM_QUEUE_URL", "DEAD_LETTER_QUEUE_URL", "TRACKING_QUEUE_URL")
    wired = [arn_of(environment[name]["Ref"]) for name in queues]
    on_failure = function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert same_items(granted(statements, "sqs:SendMessage"), [*wired, on_failure, queue_event["Queue"]])
    senders = [s for s in statements_with(statements, "sqs:") if "sqs:SendMessage" in actions_of(s)]
    fan_out = [s for s in senders if as_list(s["Resource"]) == [queue_event["Queue"]]]
    assert [actions_of(s) for s in fan_out] == [{"sqs:SendMessage", "sqs:GetQueueUrl"}]
    assert all(actions_of(s) == {"sqs:SendMessage"} for s in senders if s not in fan_out)


def test_function_polls_only_the_input_queue(
    statements: list[dict[str, Any]], queue_event: dict[str, Any]
) -> None:
    pollers = [s for s in statements_with(statements, "sqs:") if actions_of(s) & POLLER_ACTIONS]
    assert len(pollers) == 1
    assert actions_of(pollers[0]) == POLLER_ACTIONS
    assert as_list(pollers[0]["Resource"]) == [queue_event["Queue"]] == [arn_of("InputQueue")]


def test_function_grants_no_other_sqs_action(
    statements: list[dict[str, Any]], queue_event: dict[str, Any]
) -> None:
    for statement in statements_with(statements, "sqs:"):
        assert actions_of(statement) <= POLLER_ACTIONS | {"sqs:SendMessage"} or (
            actions_of(statement) == {"sqs:SendMessage", "sqs:GetQueueUrl"}
            and as_list(statement["Resource"]) == [queue_event["Queue"]]
        )


def test_function_writes_only_to_its_own_log_group(
    statements: list[dict[str, Any]], function: dict[str, Any], resources: dict[str, Any]
) -> None:
    log_group = function["LoggingConfig"]["LogGroup"]["Ref"]
    assert resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert resources[log_group]["Properties"]["RetentionInDays"]
    logs = statements_with(statements, "logs:")
    assert len(logs) == 1
    assert actions_of(logs[0]) == LOG_ACTIONS
    assert as_list(logs[0]["Resource"]) == [arn_of(log_group)]


def test_function_role_grants_only_these_services(statements: list[dict[str, Any]]) -> None:
    services = {action.split(":", 1)[0] for s in statements for action in actions_of(s)}
    assert services == {"logs", "sqs", "secretsmanager", "dynamodb"}


def test_function_runs_as_the_stack_role(function: dict[str, Any]) -> None:
    assert function["Role"] == arn_of(FUNCTION_ROLE)


def test_no_function_gets_a_role_from_sam(resources: dict[str, Any]) -> None:
    # SAM ignores Policies when Role is set, and without Role it would generate a role with
    # AWSLambdaBasicExecutionRole and, for an SQS event, AWSLambdaSQSQueueExecutionRole (Resource "*").
    functions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for function in functions:
        assert "Role" in function
        assert "Policies" not in function


@pytest.mark.parametrize(
    ("name", "service"), [(FUNCTION_ROLE, "lambda.amazonaws.com"), (SCHEDULE_ROLE, "scheduler.amazonaws.com")]
)
def test_role_is_assumed_by_its_service_only(resources: dict[str, Any], name: str, service: str) -> None:
    trust = as_list(resources[name]["Properties"]["AssumeRolePolicyDocument"]["Statement"])
    assert len(trust) == 1
    assert trust[0]["Effect"] == "Allow"
    assert trust[0]["Principal"] == {"Service": service}
    assert as_list(trust[0]["Action"]) == ["sts:AssumeRole"]


def test_schedule_role_is_assumed_for_this_account_only(resources: dict[str, Any]) -> None:
    trust = as_list(resources[SCHEDULE_ROLE]["Properties"]["AssumeRolePolicyDocument"]["Statement"])
    assert trust[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_no_role_has_managed_policies(resources: dict[str, Any]) -> None:
    roles = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {FUNCTION_ROLE, SCHEDULE_ROLE, TRACKER_ROLE, ROTATION_ROLE, *RESTORE_ROLES}
    for name, role in roles.items():
        assert "ManagedPolicyArns" not in role, f"{name} has managed policies"
    assert not [r for r in resources.values() if r["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}]


def test_schedule_runs_as_the_schedule_role(schedule_event: dict[str, Any]) -> None:
    # Without RoleArn SAM would generate a role; this one is declared, so its scope is tested here.
    assert schedule_event["RoleArn"] == arn_of(SCHEDULE_ROLE)


def test_schedule_role_invokes_the_function_and_sends_to_the_schedule_dlq_only(
    schedule_statements: list[dict[str, Any]], schedule_event: dict[str, Any]
) -> None:
    actions = {action for s in schedule_statements for action in actions_of(s)}
    assert actions == {"lambda:InvokeFunction", "sqs:SendMessage"}
    assert granted(schedule_statements, "lambda:InvokeFunction") == [arn_of("ExportBackupFunction")]
    assert granted(schedule_statements, "sqs:SendMessage") == [schedule_event["DeadLetterConfig"]["Arn"]]
    for statement in schedule_statements:
        assert len(actions_of(statement)) == 1


def test_no_statement_grants_a_wildcard_resource(all_statements: list[dict[str, Any]]) -> None:
    for statement in all_statements:
        for resource in as_list(statement["Resource"]):
            assert isinstance(resource, dict), f"literal resource {resource!r}: use a Ref or GetAtt"
            # An ARN built from a name (an event bus) is a Sub of one specific resource.
            assert set(resource) <= {"Ref", "Fn::GetAtt", "Fn::Sub"}, f"resource {resource!r} is not one ref"
            assert "*" not in json.dumps(resource)


def test_no_statement_grants_a_wildcard_action(all_statements: list[dict[str, Any]]) -> None:
    for statement in all_statements:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        for action in actions_of(statement):
            assert "*" not in action, f"wildcard action {action}"


# --- schedule and asynchronous runs ----------------------------------------------------------------


def test_scheduled_input_is_an_export_request(
    schedule_event: dict[str, Any], defaults: dict[str, str]
) -> None:
    request = scheduled_request(schedule_event, defaults)
    assert set(request) == {"graph_id", "backup_id", "export_path", "scheduled_time"}
    assert request["graph_id"] == defaults["ScheduleGraphId"]
    assert request["backup_id"] == defaults["ScheduleBackupId"]
    assert request["export_path"] == defaults["ScheduleExportPath"]


def test_scheduled_input_carries_the_scheduler_tick_time(
    schedule_event: dict[str, Any], defaults: dict[str, str]
) -> None:
    assert scheduled_request(schedule_event, defaults)["scheduled_time"] == SCHEDULER_TIME


@pytest.mark.parametrize("name", ["ScheduleGraphId", "ScheduleBackupId", "ScheduleExportPath"])
def test_schedule_parameters_cannot_break_the_input_json(template: dict[str, Any], name: str) -> None:
    parameter = template["Parameters"][name]
    pattern = parameter["AllowedPattern"]
    assert re.fullmatch(pattern, str(parameter["Default"]))
    for bad in ['a"b', "a\\b", "a\nb", "a\tb", ""]:
        assert not re.fullmatch(pattern, bad), f"{name} accepts {bad!r}"


def test_the_schedule_can_ask_for_every_graph(
    template: dict[str, Any], schedule_event: dict[str, Any], defaults: dict[str, str]
) -> None:
    assert re.fullmatch(template["Parameters"]["ScheduleGraphId"]["AllowedPattern"], ALL_GRAPHS)
    scheduled = scheduled_request(schedule_event, {**defaults, "ScheduleGraphId": ALL_GRAPHS})
    request = parse_request({**scheduled, "scheduled_time": "2026-11-27T02:00:00Z"})
    assert (request.graph_id, request.backup_id) == (ALL_GRAPHS, "latest")


def test_schedule_is_disabled_by_default(schedule_event: dict[str, Any], defaults: dict[str, str]) -> None:
    assert resolve(schedule_event["State"], defaults) == "DISABLED"


def test_undeliverable_schedule_ticks_are_kept(schedule_event: dict[str, Any]) -> None:
    assert schedule_event["DeadLetterConfig"]["Arn"] == arn_of("FailedRunsQueue")


def test_failed_asynchronous_runs_are_not_retried(function: dict[str, Any]) -> None:
    assert function["EventInvokeConfig"]["MaximumRetryAttempts"] == 0


def test_failed_asynchronous_runs_go_to_a_destination(function: dict[str, Any]) -> None:
    on_failure = function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": arn_of("FailedRunsQueue")}


# --- alarms ----------------------------------------------------------------------------------------


def dead_letter_queues(
    resources: dict[str, Any], function: dict[str, Any], schedule: dict[str, Any]
) -> set[str]:
    """Every queue that holds failures for a person: redrive targets, DEAD_LETTER_QUEUE_URL, the
    on-failure destination and the schedule's dead-letter queue."""
    tracker = resources["TrackExportFunction"]["Properties"]
    arns = [
        function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"],
        schedule["DeadLetterConfig"]["Arn"],
        arn_of(function["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"]["Ref"]),
        arn_of(tracker["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"]["Ref"]),
    ]
    for resource in resources.values():
        if resource["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in resource["Properties"]:
            arns.append(resource["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
    names = set()
    for arn in arns:
        assert arn["Fn::GetAtt"][1] == "Arn", arn
        names.add(arn["Fn::GetAtt"][0])
    return names


def alarms_on(
    alarms: dict[str, dict[str, Any]], namespace: str, metric: str, dimension: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        alarm
        for alarm in alarms.values()
        if alarm["Namespace"] == namespace
        and alarm["MetricName"] == metric
        and alarm["Dimensions"] == [dimension]
    ]


def test_the_dead_letter_queues_are_the_expected_ones(
    resources: dict[str, Any], function: dict[str, Any], schedule_event: dict[str, Any]
) -> None:
    assert dead_letter_queues(resources, function, schedule_event) == {
        "InputDeadLetterQueue",
        "FailedRunsQueue",
        "TrackingDeadLetterQueue",
        "RestoreTestDeadLetterQueue",
    }


@pytest.mark.parametrize(
    "queue",
    ["InputDeadLetterQueue", "FailedRunsQueue", "TrackingDeadLetterQueue", "RestoreTestDeadLetterQueue"],
)
def test_dead_letter_queue_depth_raises_an_alarm(alarms: dict[str, dict[str, Any]], queue: str) -> None:
    dimension = {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
    found = alarms_on(alarms, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dimension)
    assert len(found) == 1, f"no single depth alarm on {queue}"
    alarm = found[0]
    # One message is enough: anything in a dead-letter queue waits for a person.
    assert alarm["Statistic"] == "Maximum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 0
    assert alarm["EvaluationPeriods"] == 1


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_function_errors_and_throttles_raise_an_alarm(alarms: dict[str, dict[str, Any]], metric: str) -> None:
    dimension = {"Name": "FunctionName", "Value": {"Ref": "ExportBackupFunction"}}
    found = alarms_on(alarms, "AWS/Lambda", metric, dimension)
    assert len(found) == 1, f"no single alarm on the function's {metric}"
    assert found[0]["Statistic"] == "Sum"
    assert found[0]["ComparisonOperator"] == "GreaterThanThreshold"
    assert found[0]["Threshold"] == 0


def test_every_alarm_treats_missing_data_as_not_breaching(alarms: dict[str, dict[str, Any]]) -> None:
    """But one: "no backup landed" fires on the absence of successes (tests/template/test_tracking)."""
    assert alarms
    for name, alarm in alarms.items():
        expected = (
            "breaching" if name in ("NoBackupLandedAlarm", "NoRestoreTestPassedAlarm") else "notBreaching"
        )
        assert alarm["TreatMissingData"] == expected, name
        assert alarm.get("AlarmDescription"), name


def test_every_alarm_notifies_the_topic_only_when_one_is_given(
    template: dict[str, Any], alarms: dict[str, dict[str, Any]], defaults: dict[str, str]
) -> None:
    assert defaults["AlarmTopicArn"] == ""
    assert template["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == ALARM_ACTIONS, name


def test_alarm_topic_parameter_accepts_only_empty_or_an_sns_topic_arn(template: dict[str, Any]) -> None:
    pattern = template["Parameters"]["AlarmTopicArn"]["AllowedPattern"]
    for good in [
        "",
        "arn:aws:sns:eu-west-1:123456789012:ops-alarms",
        "arn:aws-cn:sns:cn-north-1:123456789012:a_b",
    ]:
        assert re.fullmatch(pattern, good), good
    for bad in [
        "*",
        "ops-alarms",
        "arn:aws:sns:eu-west-1:123456789012:*",
        "arn:aws:sqs:eu-west-1:123456789012:q",
    ]:
        assert not re.fullmatch(pattern, bad), bad


# --- scanner suppressions --------------------------------------------------------------------------


def test_checkov_skips_are_exactly_the_reasoned_ones(resources: dict[str, Any]) -> None:
    skips: dict[str, set[str]] = {}
    for name, resource in resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) >= 60, f"{name} {skip['id']}: give the reason"
            skips.setdefault(name, set()).add(skip["id"])
    assert skips == CHECKOV_SKIPS


def test_cfn_lint_ignores_are_exactly_the_reasoned_ones(resources: dict[str, Any]) -> None:
    ignores = {
        name: set(resource["Metadata"]["cfn-lint"]["config"]["ignore_checks"])
        for name, resource in resources.items()
        if "cfn-lint" in resource.get("Metadata", {})
    }
    assert ignores == CFN_LINT_IGNORES


def test_each_cfn_lint_ignore_has_its_reason_above_it() -> None:
    # The reason is a YAML comment that starts with the rule id, in the lines right above the list.
    lines = DEFAULT_TEMPLATE.read_text(encoding="utf-8").splitlines()
    found = 0
    for number, line in enumerate(lines):
        match = re.fullmatch(r"\s*ignore_checks: \[(.*)\]", line)
        if not match:
            continue
        found += 1
        comments = []
        for above in reversed(lines[:number]):
            if not above.strip().startswith("#"):
                break
            comments.append(above.strip())
        for rule in (rule.strip() for rule in match.group(1).split(",")):
            assert any(comment.startswith(f"# {rule} (") for comment in comments), f"{rule}: give the reason"
    assert found == len(CFN_LINT_IGNORES)


# --- parameters and outputs ------------------------------------------------------------------------


def test_every_parameter_is_described(template: dict[str, Any]) -> None:
    undescribed = [name for name, p in template["Parameters"].items() if not p.get("Description")]
    assert undescribed == []


@pytest.mark.parametrize("name", OUTPUTS)
def test_output_exists(template: dict[str, Any], name: str) -> None:
    assert template["Outputs"][name]["Value"]


# --- issue 8: exactly once even when things die halfway ----------------------------------------------


def test_an_export_is_remembered_at_least_as_long_as_sqs_may_deliver_its_record(
    template: dict[str, Any], resources: dict[str, Any], defaults: dict[str, str]
) -> None:
    ttl = template["Parameters"]["IdempotencyTtlSeconds"]
    visibility = int(queue_properties(resources, "InputQueue")["VisibilityTimeout"])
    assert int(ttl["MinValue"]) >= visibility
    retentions = [
        int(resource["Properties"]["MessageRetentionPeriod"])
        for resource in resources.values()
        if resource["Type"] == "AWS::SQS::Queue"
    ]
    # The default outlives every queue's retention, so a redrive always finds its export remembered.
    assert int(defaults["IdempotencyTtlSeconds"]) > max(retentions)
    assert int(defaults["IdempotencyTtlSeconds"]) == DEFAULT_IDEMPOTENCY_TTL_SECONDS


@pytest.mark.parametrize("name", ["InputQueue", "InputDeadLetterQueue"])
def test_a_record_and_its_reason_fit_the_size_the_function_fits_them_to(
    resources: dict[str, Any], name: str
) -> None:
    assert int(queue_properties(resources, name)["MaximumMessageSize"]) == MAX_MESSAGE_BYTES


@pytest.mark.parametrize("alarm", ["InputDeadLetterQueueAlarm", "FailedRunsQueueAlarm"])
def test_dead_letter_alarms_point_at_the_runbook_not_a_blind_move(
    resources: dict[str, Any], alarm: str
) -> None:
    text = resources[alarm]["Properties"]["AlarmDescription"]
    assert "runbook" in text
    assert "ops.settle" in text
    assert "then redrive with StartMessageMoveTask" not in text
    assert "Never move the whole queue back blindly" in text or "--failed-runs" in text
