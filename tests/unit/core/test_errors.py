"""The errors: their message starts with their code, and `permanent` follows docs/failures.md's table."""

from __future__ import annotations

import pytest

from ges_backup_export.core.errors import (
    ConfigurationError,
    DeliveryFailed,
    DependencyUnavailable,
    ExportError,
    ExportInProgress,
    ExportOutcomeUnknown,
    GesRefused,
    GesUnavailable,
    InvalidRequest,
    TokenRejected,
)
from ges_backup_export.rotation.errors import (
    IamAnswerInvalid,
    IamCredentialsRejected,
    IamRefused,
    IamUnavailable,
    RotationRefused,
)

ALL = [
    pytest.param(InvalidRequest("graph_id", "is required"), "InvalidRequest", id="InvalidRequest"),
    pytest.param(GesRefused(404, "GES.7000", "graph not found"), "GES.7000", id="GesRefused"),
    pytest.param(TokenRejected("401 again"), "TokenRejected", id="TokenRejected"),
    pytest.param(GesUnavailable("503 three times"), "GesUnavailable", id="GesUnavailable"),
    pytest.param(ExportOutcomeUnknown("504"), "ExportOutcomeUnknown", id="ExportOutcomeUnknown"),
    pytest.param(ExportInProgress("locked"), "ExportInProgress", id="ExportInProgress"),
    pytest.param(DeliveryFailed("send failed"), "DeliveryFailed", id="DeliveryFailed"),
    pytest.param(DependencyUnavailable("dynamodb"), "DependencyUnavailable", id="DependencyUnavailable"),
    pytest.param(
        ConfigurationError("GES_ENDPOINT is not set"), "ConfigurationError", id="ConfigurationError"
    ),
    pytest.param(RotationRefused("not pending"), "RotationRefused", id="RotationRefused"),
    pytest.param(IamCredentialsRejected("401"), "IamCredentialsRejected", id="IamCredentialsRejected"),
    pytest.param(IamRefused("403"), "IamRefused", id="IamRefused"),
    pytest.param(IamUnavailable("503 three times"), "IamUnavailable", id="IamUnavailable"),
    pytest.param(IamAnswerInvalid("no token"), "IamAnswerInvalid", id="IamAnswerInvalid"),
]


@pytest.mark.parametrize(("error", "code"), ALL)
def test_message_starts_with_the_code(error: ExportError, code: str) -> None:
    assert str(error).startswith(f"{code}: ")


@pytest.mark.parametrize(("error", "code"), ALL)
def test_message_is_code_then_text(error: ExportError, code: str) -> None:
    assert str(error) == f"{code}: {error.message}"


@pytest.mark.parametrize(("error", "code"), ALL)
def test_as_dict_holds_code_and_message(error: ExportError, code: str) -> None:
    assert error.as_dict() == {"code": code, "message": error.message}


@pytest.mark.parametrize(("error", "code"), ALL)
def test_every_error_is_an_export_error(error: ExportError, code: str) -> None:
    assert isinstance(error, ExportError)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(InvalidRequest("graph_id", "bad"), id="bad-request"),
        pytest.param(GesRefused(400, "GES.7049", "no such backup"), id="ges-refusal"),
        pytest.param(TokenRejected("401 again"), id="token-rejected"),
        pytest.param(ExportOutcomeUnknown("504"), id="outcome-unknown"),
    ],
)
def test_failures_that_can_never_succeed_are_permanent(error: ExportError) -> None:
    assert error.permanent is True


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(GesUnavailable("503"), id="ges-unavailable"),
        pytest.param(ExportInProgress("locked"), id="in-progress"),
        pytest.param(DeliveryFailed("send failed"), id="delivery-failed"),
        pytest.param(DependencyUnavailable("dynamodb"), id="dependency-unavailable"),
        pytest.param(ConfigurationError("GES_ENDPOINT is not set"), id="configuration"),
    ],
)
def test_failures_worth_retrying_are_not_permanent(error: ExportError) -> None:
    assert error.permanent is False


def test_base_error_is_not_permanent() -> None:
    assert ExportError("x").permanent is False


def test_invalid_request_message_names_the_field_first() -> None:
    error = InvalidRequest("exports[1].graph_id", "must be a string")

    assert error.field == "exports[1].graph_id"
    assert error.message == "exports[1].graph_id: must be a string"
    assert str(error) == "InvalidRequest: exports[1].graph_id: must be a string"


@pytest.mark.parametrize("status", [400, 403, 404])
def test_ges_refusal_keeps_its_status_and_ges_code(status: int) -> None:
    error = GesRefused(status, "GES.7049", "The parameter [backup_id] is not exist.")

    assert (error.status, error.code, error.message) == (
        status,
        "GES.7049",
        "The parameter [backup_id] is not exist.",
    )


def test_ges_refusal_code_does_not_change_the_class_code() -> None:
    GesRefused(400, "GES.7049", "x")

    assert GesRefused.code == ExportError.code
    assert GesRefused(404, "GesHttp404", "Not Found").code == "GesHttp404"


def test_code_given_to_the_base_error_is_used() -> None:
    error = ExportError("text", code="Custom")

    assert str(error) == "Custom: text"


def test_class_code_is_not_changed_by_an_instance_code() -> None:
    ExportError("text", code="Custom")

    assert ExportError("text").code == "ExportError"


def test_errors_can_be_raised_and_caught_as_export_errors() -> None:
    with pytest.raises(ExportError, match=r"^TokenRejected: "):
        raise TokenRejected("second 401")
