"""The machine a run was made on, for the table's caption: figures are only comparable within one run."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = ("aws-lambda-powertools", "boto3", "botocore", "requests")


def describe() -> dict[str, str]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "os": f"{_os_name()}, {platform.system()} {platform.release()} {platform.machine()}",
        "load_average": f"{load:.2f}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "packages": ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()
