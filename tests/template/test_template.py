"""template.yaml as data: pins what the code and the operations rely on.

cfn-lint and `sam validate --lint` check the template's syntax; these tests check its meaning (for
example the visibility timeout against the function timeout, which cfn-lint 1.58 does not flag).
"""

import json
import re
from typing import Any

import pytest

from local.template import DEFAULT_TEMPLATE, load_template, parameter_defaults

REPO = DEFAULT_TEMPLATE.parent

REQUIRED_SETTINGS = ["GES_ENDPOINT", "GES_TOKEN_SECRET_ID", "IDEMPOTENCY_TABLE_NAME", "DOWNSTREAM_QUEUE_URL"]
OPTIONAL_SETTINGS = [
    "GES_PROJECT_ID",
    "IDEMPOTENCY_TTL_SECONDS",
    "DEAD_LETTER_QUEUE_URL",
    "GES_TIMEOUT_SECONDS",
    "GES_MAX_ATTEMPTS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_LOG_LEVEL",
]
QUEUES = ["InputQueue", "InputDeadLetterQueue", "DownstreamQueue", "FailedRunsQueue"]
OUTPUTS = [
    "InputQueueUrl",
    "InputDeadLetterQueueUrl",
    "DownstreamQueueUrl",
    "FailedRunsQueueUrl",
    "ExportBackupFunctionName",
    "ExportBackupFunctionArn",
    "IdempotencyTableName",
]
IDEMPOTENCY_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
SCHEDULER_TIME = "<aws.scheduler.scheduled-time>"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def defaults(template: dict[str, Any]) -> dict[str, str]:
    return parameter_defaults(template)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = template["Resources"]
    return resources


@pytest.fixture(scope="module")
def function(resources: dict[str, Any]) -> dict[str, Any]:
    assert resources["ExportBackupFunction"]["Type"] == "AWS::Serverless::Function"
    properties: dict[str, Any] = resources["ExportBackupFunction"]["Properties"]
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
def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in function["Policies"]:
        assert isinstance(policy, dict), f"expected an inline policy, not {policy!r}"
        found.extend(policy["Statement"])
    return found


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
    assert layer["Metadata"]["BuildMethod"] == "python3.13"


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


def test_function_sends_only_to_downstream_and_dead_letter_queues(statements: list[dict[str, Any]]) -> None:
    senders = [s for s in statements if any(a.startswith("sqs:") for a in actions_of(s))]
    assert all(actions_of(s) == {"sqs:SendMessage"} for s in senders)
    targets = [resource for s in senders for resource in as_list(s["Resource"])]
    expected = [arn_of("DownstreamQueue"), arn_of("InputDeadLetterQueue")]
    assert sorted(map(json.dumps, targets)) == sorted(map(json.dumps, expected))


def test_no_statement_grants_a_wildcard_resource(statements: list[dict[str, Any]]) -> None:
    for statement in statements:
        for resource in as_list(statement["Resource"]):
            assert isinstance(resource, dict), f"literal resource {resource!r}: use a Ref or GetAtt"
            assert set(resource) <= {"Ref", "Fn::GetAtt"}, f"resource {resource!r} is not one specific ref"
            assert "*" not in json.dumps(resource)


def test_no_statement_grants_a_wildcard_action(statements: list[dict[str, Any]]) -> None:
    for statement in statements:
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


def test_schedule_is_disabled_by_default(schedule_event: dict[str, Any], defaults: dict[str, str]) -> None:
    assert resolve(schedule_event["State"], defaults) == "DISABLED"


def test_undeliverable_schedule_ticks_are_kept(schedule_event: dict[str, Any]) -> None:
    assert schedule_event["DeadLetterConfig"]["Arn"] == arn_of("FailedRunsQueue")


def test_failed_asynchronous_runs_are_not_retried(function: dict[str, Any]) -> None:
    assert function["EventInvokeConfig"]["MaximumRetryAttempts"] == 0


def test_failed_asynchronous_runs_go_to_a_destination(function: dict[str, Any]) -> None:
    on_failure = function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": arn_of("FailedRunsQueue")}


# --- parameters and outputs ------------------------------------------------------------------------


def test_every_parameter_is_described(template: dict[str, Any]) -> None:
    undescribed = [name for name, p in template["Parameters"].items() if not p.get("Description")]
    assert undescribed == []


@pytest.mark.parametrize("name", OUTPUTS)
def test_output_exists(template: dict[str, Any], name: str) -> None:
    assert template["Outputs"][name]["Value"]
