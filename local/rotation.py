"""Secrets Manager's rotation of the GES token secret, driven locally: moto, the fake IAM, the fake GES.

Secrets Manager rotates a secret this way: it registers a new version (a fresh ClientRequestToken) at
AWSPENDING, without a value, then invokes the rotation function four times, with createSecret, setSecret,
testSecret and finishSecret. `LocalRotation` does the same against moto 5.2.5, whose own RotateSecret can
register the pending version, given three things:

- Lambda without Docker: for every step moto would invoke the rotation function in a container. With
  moto's `lambda.use_docker` option off (POST /moto-api/config) each such invocation does nothing, so
  RotateSecret only registers the version, and the steps run here, through the real handler;
- a function of that ARN in moto's Lambda (RotateSecret refuses an unknown RotationLambdaARN), and the
  role it names in moto's IAM: a stand-in, whose code is never run;
- `AutomaticallyAfterDays` in RotationRules: moto marks rotation enabled only for it (the template's
  ScheduleExpression enables it in real Secrets Manager); nothing else here depends on it.

Where moto 5.2.5 differs from Secrets Manager, `start` does what Secrets Manager does
(docs/token-rotation.md, "When a rotation fails", has the sources):

- RotateSecret while AWSPENDING is on a version other than the AWSCURRENT one: Secrets Manager refuses
  (InvalidRequestException "A previous rotation isn't complete. That rotation will be reattempted."),
  moto moves the label to a new version. `start` refuses as Secrets Manager does, so a rotation that fails
  and leaves its label behind blocks every later one here too, and only its own version can be retried
  (`attempt` with the same version id, as Secrets Manager retries a failed rotation);
- RotateSecret while AWSPENDING is still on the AWSCURRENT version, which is how a finished rotation
  leaves it: Secrets Manager takes that for a rotation that is done (AWS's own rotation functions leave
  it so too), moto refuses, so `start` detaches it first.

One more quirk: after RotateSecret, GetSecretValue without VersionStage answers for the new version, even
before it holds a value (real Secrets Manager answers AWSCURRENT), which is one more reason why every
reader here names the stage it reads. And a version that lost its last label stays listed by moto's
DescribeSecret (with no stages), where Secrets Manager lists only versions that have one.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import zipfile
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from botocore.exceptions import ClientError

from local.aws import Stack
from local.fake_ges import SAMPLE_PROJECT_ID, FakeGes
from local.fake_iam import FakeIam
from local.lambda_runtime import Handler, LocalContext, load_function

ROTATION_FUNCTION = "RotateTokenFunction"
# Secrets Manager's answer to RotateSecret while a rotation that failed still holds AWSPENDING.
PREVIOUS_ROTATION_INCOMPLETE = "A previous rotation isn't complete. That rotation will be reattempted."
# The order in which Secrets Manager runs the steps of one rotation.
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
_LAMBDA_ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def load_rotation_handler() -> Handler:
    """The rotation function's handler, imported as Lambda would (under a module name of its own)."""
    return load_function("functions/rotate_token/")


@dataclass(frozen=True)
class LocalRotation:
    """Rotations of one secret (by ARN, as Secrets Manager's events name it) with one rotation function."""

    secret_arn: str
    function_arn: str
    timeout_seconds: float = 90.0

    @classmethod
    def enable(cls, secret_arn: str, function_name: str, timeout_seconds: float = 90.0) -> LocalRotation:
        """Set moto up to rotate the secret with a stand-in function called `function_name` (see above)."""
        endpoint = os.environ["AWS_ENDPOINT_URL"]
        requests.post(
            f"{endpoint}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10
        ).raise_for_status()
        role = boto3.client("iam").create_role(
            RoleName=f"{function_name}-role", AssumeRolePolicyDocument=_LAMBDA_ROLE_POLICY
        )["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
        function_arn = boto3.client("lambda").create_function(
            FunctionName=function_name,
            Runtime="python3.13",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
        return cls(secret_arn, function_arn, timeout_seconds)

    def start(self) -> str:
        """Register a new version at AWSPENDING, without a value, as Secrets Manager does before the first
        step (and enable rotation, the first time); returns the version's id (the ClientRequestToken).
        Refused, as Secrets Manager refuses it, while a rotation that failed still holds AWSPENDING."""
        secretsmanager = boto3.client("secretsmanager")
        stages = secretsmanager.describe_secret(SecretId=self.secret_arn).get("VersionIdsToStages", {})
        if any("AWSPENDING" in labels and "AWSCURRENT" not in labels for labels in stages.values()):
            raise ClientError(  # as Secrets Manager refuses it: see above
                {"Error": {"Code": "InvalidRequestException", "Message": PREVIOUS_ROTATION_INCOMPLETE}},
                "RotateSecret",
            )
        for version, labels in stages.items():
            if "AWSPENDING" in labels and "AWSCURRENT" in labels:  # a finished rotation: see above
                secretsmanager.update_secret_version_stage(
                    SecretId=self.secret_arn, VersionStage="AWSPENDING", RemoveFromVersionId=version
                )
        version_id: str = secretsmanager.rotate_secret(
            SecretId=self.secret_arn,
            RotationLambdaARN=self.function_arn,
            RotationRules={"AutomaticallyAfterDays": 1},
            RotateImmediately=True,
        )["VersionId"]
        return version_id

    def step(self, handler: Handler, version_id: str, step: str) -> Any:
        """One step, invoked as Secrets Manager invokes it."""
        event = {"SecretId": self.secret_arn, "ClientRequestToken": version_id, "Step": step}
        return handler(event, LocalContext(timeout_seconds=self.timeout_seconds))

    def attempt(self, handler: Handler, version_id: str) -> Exception | None:
        """One attempt at the rotation of `version_id`, as Secrets Manager makes it, and makes it again with
        the same version after a failure: the steps in order until one fails. Returns that failure, or
        None when every step passed."""
        for step in STEPS:
            try:
                self.step(handler, version_id, step)
            except Exception as error:  # what Secrets Manager sees: the invocation failed
                return error
        return None

    def rotate(self, handler: Handler) -> str:
        """A whole rotation: the pending version, then the four steps; returns the new version's id."""
        version_id = self.start()
        for step in STEPS:
            self.step(handler, version_id, step)
        return version_id


def stages(secret_arn: str) -> dict[str, list[str]]:
    """The secret's versions and their stages."""
    versions: dict[str, list[str]] = boto3.client("secretsmanager").describe_secret(SecretId=secret_arn)[
        "VersionIdsToStages"
    ]
    return versions


# --- `make local` ---------------------------------------------------------------------------------------

_DOMAIN = "local-account"
_USER = "ges-token-rotator"
_AFTER_ROTATION = {
    "graph_id": "movies",
    "backup_id": "latest",
    "export_path": "ges-backups/{graph_id}/after-rotation/{date}/",
}
_DONE = {
    "createSecret": "a new token from the fake IAM, stored at AWSPENDING",
    "setSecret": "nothing to set up",
    "testSecret": "GES accepted the pending token (GET /v2/{project_id}/graphs?offset=0&limit=1)",
    "finishSecret": "AWSCURRENT moved to the new version",
}


def show_token_rotation(stack: Stack, ges: FakeGes, export_handler: Handler) -> bool:
    """`make local`'s token rotation: a credentials secret, one rotation through the real rotation handler,
    then an export that can only succeed with the new token. Prints what happens; returns whether it
    worked."""
    print("\n5. Token rotation: Secrets Manager's four steps through the rotation handler (moto, a fake IAM)")
    with FakeIam() as iam:
        ges.accept_tokens_from(iam)
        rotation = prepare_rotation(stack, iam)
        version_id = rotation.start()
        print(f"   Secrets Manager registers version {version_id} at AWSPENDING, then runs:")
        handler = load_rotation_handler()
        for step in STEPS:
            rotation.step(handler, version_id, step)
            print(f"   {step}: {_DONE[step]}")
        current = _current_token_is_from(iam, stack.secret_arn)
        ges.rotate_token()  # the token the secret held before is refused from now on
        print("   The token the secret held before is revoked; an export now needs the new one:")
        job_id = _export(export_handler)
    ok = current and job_id is not None and "AWSCURRENT" in stages(stack.secret_arn)[version_id]
    verdict = "OK" if ok else "NOT OK"
    print(
        f"\n{verdict}: the token secret's AWSCURRENT is a new IAM token; GES accepted an export made with it"
    )
    return ok


def prepare_rotation(stack: Stack, iam: FakeIam) -> LocalRotation:
    """An IAM user and its credentials secret, the rotation function's environment from the template, and
    rotation on."""
    password = secrets.token_urlsafe(24)
    iam.add_user(_DOMAIN, _USER, password, projects={SAMPLE_PROJECT_ID: "cn-north-4"})
    credentials = json.dumps({"domain_name": _DOMAIN, "user_name": _USER, "password": password})
    arn = boto3.client("secretsmanager").create_secret(
        Name=f"{stack.name}-iam-credentials", SecretString=credentials
    )["ARN"]
    print(f"   IAM credentials secret {arn}")
    print('   holds {"domain_name", "user_name", "password"} of IAM user ' + f"{_USER} in {_DOMAIN}")
    stack.parameters.update(IamCredentialsSecretArn=arn, IamEndpoint=iam.url)
    os.environ.update(stack.environment_of(ROTATION_FUNCTION))
    timeout = float(stack.template["Resources"][ROTATION_FUNCTION]["Properties"]["Timeout"])
    return LocalRotation.enable(stack.secret_arn, f"{stack.name}-rotate-token", timeout)


def _current_token_is_from(iam: FakeIam, secret_arn: str) -> bool:
    value = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")[
            "SecretString"
        ]
    )
    print(f"   AWSCURRENT: the new token, expires_at {value['expires_at']}, project_id {value['project_id']}")
    scoped: str | None = iam.token_project(value["token"])
    return scoped is not None and scoped == value["project_id"]


def _export(export_handler: Handler) -> str | None:
    try:
        result = export_handler(dict(_AFTER_ROTATION), LocalContext())
    except Exception as error:  # shown to the person running it, as the console would
        print(f"   error: {error}")
        return None
    print(f"   job_id {result['job_id']}  {result['graph_id']} -> {result['export_path']}")
    job_id: str = result["job_id"]
    return job_id
