"""The stand-ins every integration test runs against, over real sockets, and each function under test
(the export function, the job tracker, the token rotation, the restore tester): the fixtures, in one
place.

moto in server mode (Secrets Manager, DynamoDB, SQS) and the fake GES start once per session; each test
gets fresh resources created from template.yaml, the function's environment as the template wires it,
and a `Function` to invoke the real handler and read the queues it writes to.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests

from ges_backup_export.core import metrics
from local.aws import Stack, aws_environment, deploy, moto_server
from local.aws_proxy import AwsProxy
from local.fake_ges import FakeGes
from local.fake_iam import FakeIam
from local.rotation import ROTATION_FUNCTION, LocalRotation
from tests import reliability
from tests.restore_stand_ins import RestoreTester
from tests.rotation_stand_ins import DOMAIN, PASSWORD, REGION, USER, Clock, Rotating, credentials_json
from tests.stand_ins import (
    FRIENDS_BACKUP,
    FRIENDS_PROJECT,
    MOVIES_BACKUP,
    PROJECT,
    Function,
    Graphs,
    VirtualWaits,
)
from tests.tokens import assert_no_token, canary_token
from tests.tracker_stand_ins import Tracker, metrics_in


@pytest.fixture(scope="session")
def aws_proxy() -> Iterator[AwsProxy]:
    """moto behind the counting, fault-injecting proxy; every boto3 client goes through the proxy."""
    with moto_server() as url, AwsProxy(url).running() as proxy, pytest.MonkeyPatch.context() as patch:
        for name, value in aws_environment(proxy.url).items():
            patch.setenv(name, value)
        yield proxy


@pytest.fixture(scope="session")
def aws_endpoint(aws_proxy: AwsProxy) -> str:
    return aws_proxy.url


@pytest.fixture
def aws(aws_proxy: AwsProxy) -> Iterator[AwsProxy]:
    """The AWS side of one test: no faults and no counted requests at its start."""
    aws_proxy.clear_faults()
    aws_proxy.reset_counts()
    fired = aws_proxy.faults_fired
    yield aws_proxy
    aws_proxy.clear_faults()
    reliability.add("fault_injections", aws_proxy.faults_fired - fired)


@pytest.fixture(scope="session")
def ges_server() -> Iterator[FakeGes]:
    with FakeGes(token=canary_token()) as ges:
        yield ges


@pytest.fixture
def ges(ges_server: FakeGes) -> Iterator[FakeGes]:
    ges_server.reset()
    ges_server.latency = 0.0
    ges_server.error_style = "snake"
    fired = ges_server.faults_fired
    yield ges_server
    reliability.add("fault_injections", ges_server.faults_fired - fired)


@pytest.fixture
def stack(aws: AwsProxy, ges: FakeGes, monkeypatch: pytest.MonkeyPatch) -> Stack:
    requests.post(f"{aws.url}/moto-api/reset", timeout=10).raise_for_status()
    stack = deploy(
        name=f"t{uuid.uuid4().hex[:8]}",
        token_secret=ges.token,
        ges_endpoint=ges.url,
        overrides={"GesProjectId": PROJECT, "LogLevel": "DEBUG"},
    )
    for name, value in stack.environment.items():
        monkeypatch.setenv(name, value)
    return stack


@pytest.fixture
def function(stack: Stack) -> Function:
    return Function(stack)


@pytest.fixture
def pauses(function: Function) -> list[float]:
    """The waits between GES attempts, recorded instead of slept."""
    function.waits = VirtualWaits()
    return function.waits.pauses


@pytest.fixture
def graphs(ges: FakeGes) -> Graphs:
    ges.add_backup(PROJECT, "movies", backup_id=MOVIES_BACKUP, start_timestamp=1_795_000_000_000)
    latest = ges.add_backup(PROJECT, "movies", start_timestamp=1_795_700_000_000)
    ges.add_backup(PROJECT, "movies", status="failed", start_timestamp=1_795_740_000_000)
    ges.add_backup(FRIENDS_PROJECT, "friends", backup_id=FRIENDS_BACKUP, start_timestamp=1_795_000_000_000)
    return Graphs(movies_latest=latest)


@pytest.fixture
def tracker(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Tracker:
    """The job tracker of the test's stack, checking jobs without waiting: JOB_POLL_INTERVAL_SECONDS=0 for
    both functions (the export function's tracking messages then carry no delay)."""
    monkeypatch.setenv("JOB_POLL_INTERVAL_SECONDS", "0")
    return Tracker(stack, {"JOB_POLL_INTERVAL_SECONDS": "0"})


@pytest.fixture
def emitted_metrics() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The embedded-metric-format documents the handlers write in this test, parsed; still echoed (and
    token-scanned)."""
    stream = io.StringIO()
    previous, metrics.output = metrics.output, stream
    yield lambda: metrics_in(stream.getvalue())
    metrics.output = previous
    previous.write(stream.getvalue())
    assert_no_token(stream.getvalue())


# --- the token rotation: a fake IAM, the rotation's clock, a stack whose token secret rotates ---------


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def iam(ges: FakeGes, clock: Clock) -> Iterator[FakeIam]:
    """A fake IAM whose tokens carry the canary and that the fake GES trusts, on the rotation's clock."""
    with FakeIam(token_factory=canary_token, clock=clock) as fake:
        fake.add_user(DOMAIN, USER, PASSWORD, projects={PROJECT: REGION})
        ges.accept_tokens_from(fake)
        yield fake
        ges.accept_tokens_from(None)


@pytest.fixture
def rotating(
    aws: AwsProxy, ges: FakeGes, iam: FakeIam, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> Rotating:
    """Fresh resources from template.yaml with rotation on: the token secret holds the fake GES's own token
    (as an operator would put it there first), the credentials secret the IAM user's credentials. Both
    functions' environments come from the template."""
    requests.post(f"{aws.url}/moto-api/reset", timeout=10).raise_for_status()
    name = f"r{uuid.uuid4().hex[:8]}"
    credentials_arn = boto3.client("secretsmanager").create_secret(
        Name=f"{name}-iam-credentials", SecretString=credentials_json()
    )["ARN"]
    stack = deploy(
        name=name,
        token_secret=ges.token,
        ges_endpoint=ges.url,
        overrides={
            "GesProjectId": PROJECT,
            "LogLevel": "DEBUG",
            "IamCredentialsSecretArn": credentials_arn,
            "IamEndpoint": iam.url,
        },
    )
    rotation_environment = stack.environment_of(ROTATION_FUNCTION)
    for key in rotation_environment.keys() & stack.environment.keys() - {"POWERTOOLS_SERVICE_NAME"}:
        assert rotation_environment[key] == stack.environment[key], key  # the two functions agree
    for key, value in {**stack.environment, **rotation_environment}.items():
        monkeypatch.setenv(key, value)
    timeout = float(stack.template["Resources"][ROTATION_FUNCTION]["Properties"]["Timeout"])
    local = LocalRotation.enable(stack.secret_arn, f"{name}-rotate-token", timeout)
    aws.reset_counts()
    return Rotating(stack, local, credentials_arn, clock)


# --- the restore tester ----------------------------------------------------------------------------


@pytest.fixture
def tester(stack: Stack) -> RestoreTester:
    """The restore tester of the test's stack (its follow-up checks an import job without waiting)."""
    return RestoreTester(stack)
