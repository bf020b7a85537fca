"""template.yaml's guarantees that hold for every function, read generically from the template so that a new
function, queue or parameter cannot slip past them (the product contract's "What the template
guarantees"):

- every queue that triggers a function hides a record for at least six times that function's timeout
  plus the largest batching window its parameters allow (AWS's guidance for SQS event sources);
- every function that reads the GES token alarms on its "the GES token expires within the hour" WARNING;
- `JobPollIntervalSeconds` is at least 1: a job is never re-checked in a tight loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from ges_backup_export.ges.token_source import TOKEN_EXPIRING
from local.template import DEFAULT_TEMPLATE

REPO = DEFAULT_TEMPLATE.parent
LAYER = REPO / "layers" / "ges_backup_export"
FUNCTION = "AWS::Serverless::Function"
TOKEN_SECRET = {"Ref": "GesTokenSecretArn"}
# The module that builds the token reader whose reads log TOKEN_EXPIRING (token_source.TokenSource).
TOKEN_READER_MODULE = "ges_backup_export.ges.connect"
# Functions that read the token secret but never log TOKEN_EXPIRING, with the reason. The rotation
# function reads the secret only at AWSPENDING, the token it is rotating in (it checks that token's
# expiry itself and refuses a short-lived one at testSecret); a failed step raises RotateTokenErrorsAlarm.
NEVER_WARNS_OF_EXPIRY = {"RotateTokenFunction": "functions/rotate_token/app.py"}


def functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == FUNCTION}


def bound(value: Any, template: dict[str, Any], which: str) -> int:
    """A literal number, or the `MaxValue`/`MinValue` (`which`) of the parameter a `Ref` names: the
    largest or smallest value a deployment can give it. A parameter without that bound fails."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = template["Parameters"][value["Ref"]]
        assert which in parameter, f"parameter {value['Ref']} has no {which}: it is unbounded"
        return int(parameter[which])
    return int(value)


def sqs_event_sources(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(function name, event properties) of every SQS event source of every function."""
    return [
        (name, event["Properties"])
        for name, properties in functions(resources).items()
        for event in properties.get("Events", {}).values()
        if event["Type"] == "SQS"
    ]


# --- visibility timeouts ----------------------------------------------------------------------------------


def test_every_queue_that_triggers_a_function_hides_a_record_for_six_timeouts_plus_the_batching_window(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """A record must not come back while a batch holding it may still run: the poller may hold it for
    the whole batching window before the function starts, then the function may run its whole timeout
    (and AWS asks for six of them, so that throttled batches get retried in time)."""
    sources = sqs_event_sources(resources)
    assert {name for name, _ in sources} >= {"ExportBackupFunction", "TrackExportFunction"}
    for name, event in sources:
        queue_name, attribute = event["Queue"]["Fn::GetAtt"]
        assert attribute == "Arn"
        queue = resources[queue_name]["Properties"]
        timeout = bound(resources[name]["Properties"]["Timeout"], template, "MaxValue")
        window = bound(event.get("MaximumBatchingWindowInSeconds", 0), template, "MaxValue")
        visibility = bound(queue["VisibilityTimeout"], template, "MinValue")
        assert visibility >= 6 * timeout + window, (
            f"{queue_name}: VisibilityTimeout {visibility} < 6 x {name}'s Timeout {timeout} + {window}"
        )


def test_the_input_queue_allows_for_the_longest_batching_window_its_parameter_allows(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """The one queue with a batching window: QueueBatchingWindowSeconds may be up to 300 s."""
    window = template["Parameters"]["QueueBatchingWindowSeconds"]
    timeout = int(resources["ExportBackupFunction"]["Properties"]["Timeout"])
    visibility = int(resources["InputQueue"]["Properties"]["VisibilityTimeout"])
    assert int(window["MaxValue"]) == 300
    assert visibility == 6 * timeout + int(window["MaxValue"])


def test_an_export_is_remembered_at_least_as_long_as_its_queue_hides_a_record(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """IdempotencyTtlSeconds's MinValue says "at least InputQueue's VisibilityTimeout": it is."""
    ttl = template["Parameters"]["IdempotencyTtlSeconds"]
    assert int(ttl["MinValue"]) == int(resources["InputQueue"]["Properties"]["VisibilityTimeout"])


# --- the poll interval ------------------------------------------------------------------------------------


def test_a_deployed_job_is_never_checked_again_in_a_tight_loop(template: dict[str, Any]) -> None:
    """JOB_POLL_INTERVAL_SECONDS=0 is for tests; a stack waits at least a second between checks."""
    interval = template["Parameters"]["JobPollIntervalSeconds"]
    assert int(interval["MinValue"]) >= 1
    assert int(interval["MinValue"]) <= int(interval["Default"]) <= int(interval["MaxValue"])


# --- the token's expiry warning ---------------------------------------------------------------------------


def reads_token_secret(resources: dict[str, Any], properties: dict[str, Any]) -> bool:
    """Whether a function is given the token secret (GES_TOKEN_SECRET_ID) and its role may read it."""
    variables = properties.get("Environment", {}).get("Variables", {})
    if variables.get("GES_TOKEN_SECRET_ID") != TOKEN_SECRET:
        return False
    role_name, _ = properties["Role"]["Fn::GetAtt"]
    statements = [
        statement
        for policy in resources[role_name]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    return any(
        "secretsmanager:GetSecretValue" in as_list(statement["Action"])
        and TOKEN_SECRET in as_list(statement["Resource"])
        for statement in statements
    )


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def expiry_filters(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The metric filters on TOKEN_EXPIRING, by the log group they read (its logical id)."""
    pattern = f'{{ $.message = "{TOKEN_EXPIRING}" }}'
    return {
        r["Properties"]["LogGroupName"]["Ref"]: r
        for r in resources.values()
        if r["Type"] == "AWS::Logs::MetricFilter" and r["Properties"]["FilterPattern"] == pattern
    }


def test_every_function_that_reads_the_token_alarms_on_its_expiry_warning(resources: dict[str, Any]) -> None:
    readers = [
        name for name, properties in functions(resources).items() if reads_token_secret(resources, properties)
    ]
    assert set(readers) >= {"ExportBackupFunction", "TrackExportFunction", *NEVER_WARNS_OF_EXPIRY}
    filters = expiry_filters(resources)
    alarm = resources["GesTokenExpiringAlarm"]["Properties"]
    for name in readers:
        if name in NEVER_WARNS_OF_EXPIRY:
            continue
        log_group = resources[name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert log_group in filters, f"{name}'s log group {log_group} has no filter on {TOKEN_EXPIRING!r}"
        metric_filter = filters[log_group]
        assert metric_filter.get("Condition") == resources[name].get("Condition")
        (metric,) = metric_filter["Properties"]["MetricTransformations"]
        assert (metric["MetricNamespace"], metric["MetricName"], metric["MetricValue"]) == (
            alarm["Namespace"],
            alarm["MetricName"],
            "1",
        )
    assert "Condition" not in resources["GesTokenExpiringAlarm"]


@pytest.mark.parametrize(("function", "handler"), NEVER_WARNS_OF_EXPIRY.items())
def test_a_function_exempt_from_the_expiry_filter_never_builds_the_token_reader_that_warns(
    function: str, handler: str
) -> None:
    """Pins the exemption: should the rotation function ever read the token as the others do, this fails
    and its log group needs the filter too."""
    builders = [
        str(path.relative_to(LAYER))
        for path in LAYER.rglob("*.py")
        if "TokenSource(" in path.read_text(encoding="utf-8")
    ]
    assert builders == [TOKEN_READER_MODULE.removeprefix("ges_backup_export.").replace(".", "/") + ".py"]
    assert not loads_the_token_reader(handler)


@pytest.mark.parametrize("handler", ["functions/export_backup/app.py", "functions/track_export/app.py"])
def test_the_exporting_functions_do_build_the_token_reader_that_warns(handler: str) -> None:
    """The other side of the exemption: the export function and the tracker read the token through it."""
    assert loads_the_token_reader(handler)


def loads_the_token_reader(handler: str) -> bool:
    """Whether importing the handler, as Lambda does, loads the module that builds the token reader."""
    code = (
        "import runpy, sys; "
        f"runpy.run_path({str(REPO / handler)!r}); "
        f"print({TOKEN_READER_MODULE!r} in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": os.pathsep.join([str(REPO / "layers"), str(REPO)]), "PATH": ""},
    )
    return loaded.stdout.strip() == "True"


def test_what_every_function_shares_is_said_once_in_the_globals(template: dict[str, Any]) -> None:
    """Runtime, architecture, memory, the layer and the log format: in Globals, repeated by no function."""
    shared = template["Globals"]["Function"]
    assert (shared["Runtime"], shared["Architectures"], shared["MemorySize"]) == (
        "python3.13",
        ["arm64"],
        256,
    )
    assert shared["Layers"] == [{"Ref": "DependenciesLayer"}]
    assert shared["LoggingConfig"]["LogFormat"] == "JSON"
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 4
    for function in functions:
        own = function["Properties"]
        assert not {"Runtime", "Architectures", "MemorySize", "Layers"} & set(own)
        assert set(own["LoggingConfig"]) == {"LogGroup"}
