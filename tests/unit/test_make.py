"""The Makefile on a machine without Lambda's python3.13: `make test` stops at once, saying what is
missing and how to get it, while `make local`'s Python (3.11 or newer) is still found."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON_311 = Path("/usr/bin/python3.11")


def machine_without_python313(tmp_path: Path, python: Path | None) -> dict[str, str]:
    """An environment whose PATH holds only the tools the Makefile uses (and `python` as python3, if
    given), and no pyenv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "make", "ls", "tail"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    if python is not None:
        (bin_dir / "python3").symlink_to(python)
    return {"PATH": str(bin_dir), "PYENV_ROOT": str(tmp_path / "no-pyenv"), "HOME": str(tmp_path)}


def run(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_make_test_stops_at_once_with_one_line_naming_what_is_missing(tmp_path: Path) -> None:
    environment = machine_without_python313(tmp_path, None)
    make = str(Path(environment["PATH"]) / "make")

    stopped = run([make, "--no-print-directory", "test"], environment)

    lines = stopped.stdout.splitlines()
    assert stopped.returncode != 0
    assert lines == [
        "make: Python 3.13 not found (needed by sam build and make test: Lambda runs python3.13); install "
        "it, e.g. 'pyenv install 3.13' or your system's python3.13 package, then run again. make local "
        "needs only Python 3.11+."
    ]


@pytest.mark.skipif(not SYSTEM_PYTHON_311.exists(), reason="needs the system's python3.11")
def test_with_only_python311_make_local_s_python_is_found_and_make_test_s_is_not(tmp_path: Path) -> None:
    environment = machine_without_python313(tmp_path, SYSTEM_PYTHON_311)

    local = run(["scripts/find-python"], environment)
    lambda_python = run(["scripts/find-python", "--lambda"], environment)

    assert (local.returncode, Path(local.stdout.strip()).name) == (0, "python3")
    assert lambda_python.returncode != 0
    assert os.path.realpath(local.stdout.strip()) == os.path.realpath(SYSTEM_PYTHON_311)


def planned(target: str) -> list[str]:
    """The commands `make <target>` would run, without running them (`make -n`)."""
    return planned_with(target)


def planned_with(target: str, *variables: str) -> list[str]:
    """The commands `make <target> <variables>` would run, without running them (`make -n`)."""
    made = subprocess.run(
        [shutil.which("make") or "make", "--no-print-directory", "-n", target, *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return made.stdout.splitlines()


def test_make_unit_checks_what_ci_checks_of_the_code_before_the_quick_tests() -> None:
    """A type error or an unformatted file fails `make unit` as it fails CI (`make test`)."""
    commands = planned("unit")
    steps = ["ruff check", "ruff format --check", "mypy", "pytest -q tests/unit tests/template"]

    where = [next(i for i, line in enumerate(commands) if step in line) for step in steps]
    assert where == sorted(where)


def test_make_deploy_builds_then_deploys_guided_with_the_project_s_own_sam_cli() -> None:
    commands = planned("deploy")

    built = next(i for i, line in enumerate(commands) if ".venv-sam/bin/sam build" in line)
    deployed = next(i for i, line in enumerate(commands) if ".venv-sam/bin/sam deploy" in line)
    assert built < deployed
    assert commands[deployed].split()[-1] == "--guided"


def test_make_deploy_passes_extra_arguments_on_and_can_skip_the_questions() -> None:
    commands = planned_with("deploy", "GUIDED=", "ARGS=--parameter-overrides ScheduleState=ENABLED")

    deploy = next(line for line in commands if ".venv-sam/bin/sam deploy" in line)
    assert "--guided" not in deploy
    assert deploy.endswith("sam deploy  --parameter-overrides ScheduleState=ENABLED")


def test_samconfig_holds_sam_init_s_deploy_defaults_and_leaves_the_region_to_the_guided_deploy() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    deploy = config["default"]["deploy"]["parameters"]

    assert config["version"] == 0.1
    assert deploy["stack_name"]
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert "region" not in deploy
    # No role of the template has a fixed name (RoleName): CAPABILITY_NAMED_IAM would not be needed.
    roles = [
        resource for resource in load_template()["Resources"].values() if resource["Type"] == "AWS::IAM::Role"
    ]
    assert roles
    assert all("RoleName" not in role["Properties"] for role in roles)
    assert deploy["capabilities"] == "CAPABILITY_IAM"


def test_docs_deploy_md_answers_every_parameter_the_guided_deploy_asks() -> None:
    page = (ROOT / "docs" / "deploy.md").read_text()
    rows = set(re.findall(r"^\| `(\w+)` \|", page, re.MULTILINE))

    assert set(load_template()["Parameters"]) <= rows
