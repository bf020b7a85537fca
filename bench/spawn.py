"""Running bench/fresh_interpreter.py in a new process, for one variant and one layout of its code."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stand_ins import StandIns

ROOT = Path(__file__).resolve().parent.parent
CHILD = ROOT / "bench" / "fresh_interpreter.py"
BUILD = ROOT / ".aws-sam" / "build"
VARIANTS = ("ours", "baseline")


@dataclass(frozen=True)
class Layout:
    """Where each variant's code is imported from, function code first, as Lambda orders sys.path."""

    name: str
    paths: dict[str, list[Path]]
    flags: tuple[str, ...] = ()


# The working tree, with the .pyc files Python writes there: the comparison the goals are about.
SOURCE = Layout(
    "source tree",
    {
        "ours": [ROOT / "functions" / "export_backup", ROOT / "layers"],
        "baseline": [ROOT / "bench"],
        "tracker": [ROOT / "functions" / "track_export", ROOT / "layers"],
        "tester": [ROOT / "functions" / "test_restore", ROOT / "layers"],
    },
)
# `sam build`'s output, as on Lambda: /opt is read-only, so nothing the layer lacks is cached (-B).
# The layer ships its own bytecode (layers/Makefile); without it each cold start compiled the layer's
# modules again. The baseline's requests comes from the same layer; boto3 comes from the virtualenv
# (the runtime's own) in both.
BUILT = Layout(
    "sam build output, read-only as on Lambda",
    {
        "ours": [BUILD / "ExportBackupFunction", BUILD / "DependenciesLayer" / "python"],
        "baseline": [ROOT / "bench", BUILD / "DependenciesLayer" / "python"],
    },
    flags=("-B",),
)


@dataclass(frozen=True)
class ChildRun:
    figures: dict[str, Any]
    wall_ms: float  # from spawn to exit, measured by this process
    stderr: str


def run_child(
    stand_ins: StandIns,
    variant: str,
    mode: str,
    spec: dict[str, Any],
    layout: Layout = SOURCE,
    flags: tuple[str, ...] = (),
    settings: dict[str, str] | None = None,
) -> ChildRun:
    """One fresh interpreter (`python -I`: no user site, no PYTHON* variables, no script directory on
    sys.path) with the function's environment only, `settings` changed in it; the queues are empty when
    it starts (see StandIns.empty_queues)."""
    stand_ins.empty_queues()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        spec_file, result_file = Path(folder) / "spec.json", Path(folder) / "result.json"
        full_spec = {
            "variant": variant,
            "mode": mode,
            "paths": [str(path) for path in layout.paths[variant]],
            "result": str(result_file),
            **spec,
        }
        spec_file.write_text(json.dumps(full_spec))
        command = [sys.executable, "-I", *layout.flags, *flags, str(CHILD), str(spec_file)]
        started = time.perf_counter()
        process = subprocess.run(  # noqa: S603 - our own interpreter and script
            command,
            env={**stand_ins.function_environment(), **(settings or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        wall_ms = (time.perf_counter() - started) * 1000
        if process.returncode != 0:
            raise RuntimeError(f"{variant} {mode} failed ({process.returncode}):\n{process.stderr[-3000:]}")
        return ChildRun(json.loads(result_file.read_text()), wall_ms, process.stderr)


def alternating(rounds: int) -> list[str]:
    """The variants, `rounds` times each, interleaved and alternating who goes first (against drift)."""
    order: list[str] = []
    for index in range(rounds):
        order.extend(VARIANTS if index % 2 == 0 else reversed(VARIANTS))
    return order
