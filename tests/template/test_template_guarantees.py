"""template.yaml's guarantees that hold for every function, read generically from the template so that a new
function, queue or parameter cannot slip past them (the product contract's "What the template
guarantees"):

- every queue that triggers a function hides a record for at least six times that function's timeout
  plus the largest batching window its parameters allow (AWS's guidance for SQS event sources);
- `JobPollIntervalSeconds` is at least 1: a job is never re-checked in a tight loop.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.template import DEFAULT_TEMPLATE, load_template

REPO = DEFAULT_TEMPLATE.parent
FUNCTION = "AWS::Serverless::Function"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"]
    return found


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
