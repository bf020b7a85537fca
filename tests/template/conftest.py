"""What every template test reads: the template, its resources and parameters, and each function's
properties as SAM deploys them (Globals merged)."""

from __future__ import annotations

from typing import Any

import pytest

from local.template import function_properties, load_template


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"]
    return found


@pytest.fixture(scope="session")
def parameters(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = template["Parameters"]
    return found


@pytest.fixture(scope="session")
def deployed() -> Any:
    """`deployed(name)`: function `name`'s properties as SAM deploys it."""
    template = load_template()

    def properties(name: str) -> dict[str, Any]:
        assert template["Resources"][name]["Type"] == "AWS::Serverless::Function"
        return function_properties(template, name)

    return properties
