"""Cold starts: fresh interpreters that import the handler and handle one new export.

A cold start pays the init phase (the import) and the first call together, so the figure compared is
their sum; each part is reported too. Where the time goes: `-X importtime` by package for the import
(and for the modules imported lazily during the first call), and cProfile for the first call, split
into the calls both variants make.
"""

from __future__ import annotations

import pstats
import re
import statistics
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.spawn import SOURCE, VARIANTS, Layout, alternating, run_child
from bench.stand_ins import StandIns

MARKER = "bench: first call"
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")
Entries = dict[tuple[str, int, str], tuple[Any, ...]]  # pstats: (file, line, name) -> timings
_BASELINE = "baseline_handler.py"
_DYNAMODB = "idempotency/persistence/dynamodb.py"


@dataclass(frozen=True)
class Step:
    """One call of a new export, found in a profile by the function making it: (file suffix, name)."""

    label: str
    ours: tuple[str, str]
    baseline: tuple[str, str] | None


STEPS = (
    Step("create boto3 clients (ours: first call; baseline: at import, in its import time)",
         ("ges_backup_export/export/runtime.py", "_build"), None),
    Step("secret read (GetSecretValue)",
         ("ges_backup_export/ges/token_source.py", "get"), (_BASELINE, "_token_value")),
    Step("idempotency lock (PutItem)", (_DYNAMODB, "_put_record"), (_BASELINE, "_lock")),
    Step("GES POST (requests)", ("requests/sessions.py", "request"), ("requests/sessions.py", "request")),
    Step("downstream send (SendMessage)", ("ges_backup_export/aws/queues.py", "send"), (_BASELINE, "_send")),
    Step("store the result (UpdateItem)", (_DYNAMODB, "_update_record"), (_BASELINE, "_complete")),
)  # fmt: skip


def first_call_spec(stand_ins: StandIns, variant: str) -> dict[str, Any]:
    return {"event": stand_ins.new_request(f"cold-{variant}")}


def measure(stand_ins: StandIns, rounds: int, layout: Layout = SOURCE) -> dict[str, list[dict[str, float]]]:
    """`rounds` cold starts per variant, interleaved, after one discarded run each (which writes the
    .pyc files in the source tree and warms the file cache: both variants start from the same state)."""
    for variant in VARIANTS:
        run_child(stand_ins, variant, "first_call", first_call_spec(stand_ins, variant), layout)
    samples: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    for variant in alternating(rounds):
        run = run_child(stand_ins, variant, "first_call", first_call_spec(stand_ins, variant), layout)
        init, first = run.figures["init_ms"], run.figures["first_call_ms"]
        samples[variant].append(
            {
                "init_ms": init,
                "first_call_ms": first,
                "cold_start_ms": init + first,
                "process_ms": run.wall_ms,
            }
        )
    return samples


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(sample[key] for sample in samples) for key in samples[0]}


# -- -X importtime ---------------------------------------------------------------------------------


def group_of(module: str) -> str:
    """A module's package, with Powertools split into its utilities (the part worth telling apart)."""
    parts = module.split(".")
    if parts[0] == "aws_lambda_powertools" and len(parts) > 1:
        return ".".join(parts[:3] if parts[1] == "utilities" and len(parts) > 2 else parts[:2])
    return parts[0]


def parse_importtime(stderr: str) -> dict[str, dict[str, float]]:
    """Self time (ms) by package, for the init phase and for the first call's lazy imports."""
    phases: dict[str, dict[str, float]] = {"init": defaultdict(float), "first_call": defaultdict(float)}
    phase = "init"
    for line in stderr.splitlines():
        if line.startswith(MARKER):
            phase = "first_call"
            continue
        match = _IMPORT_LINE.match(line)
        if match:
            phases[phase][group_of(match.group(4))] += int(match.group(1)) / 1000
    return {name: dict(groups) for name, groups in phases.items()}


def import_breakdown(stand_ins: StandIns, repeats: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per variant and phase, the median over `repeats` runs of each package's import self time."""
    runs: dict[str, list[dict[str, dict[str, float]]]] = {variant: [] for variant in VARIANTS}
    for variant in alternating(repeats):
        run = run_child(
            stand_ins, variant, "first_call", first_call_spec(stand_ins, variant), flags=("-X", "importtime")
        )
        runs[variant].append(parse_importtime(run.stderr))
    return {variant: _median_groups(variant_runs) for variant, variant_runs in runs.items()}


def _median_groups(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for phase in ("init", "first_call"):
        groups = {group for run in runs for group in run[phase]}
        result[phase] = {
            group: statistics.median(run[phase].get(group, 0.0) for run in runs) for group in groups
        }
    return result


# -- cProfile of the first call -------------------------------------------------------------------


def first_call_profiles(stand_ins: StandIns) -> dict[str, dict[str, Any]]:
    """Per variant: the first call's profiled total, its steps, and its top functions and packages."""
    profiles: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
        for variant in VARIANTS:
            path = Path(folder) / f"{variant}.prof"
            spec = {**first_call_spec(stand_ins, variant), "profile": str(path)}
            run_child(stand_ins, variant, "first_call", spec)
            profiles[variant] = _summarise(pstats.Stats(str(path)), variant)
    return profiles


def _summarise(stats: pstats.Stats, variant: str) -> dict[str, Any]:
    raw: Any = stats  # pstats.Stats keeps its table and total in attributes typeshed does not declare
    entries: Entries = raw.stats
    total_ms = raw.total_tt * 1000
    steps = {step.label: _cumulative_ms(entries, getattr(step, variant)) for step in STEPS}
    self_by_package: dict[str, float] = defaultdict(float)
    for (file, _, _), (_, _, self_time, _, _) in entries.items():
        self_by_package[_package_of_file(file)] += self_time * 1000
    ranked = sorted(
        (
            (values[3] * 1000, f"{_short(file)}:{line}({name})")
            for (file, line, name), values in entries.items()
        ),
        reverse=True,
    )
    return {
        "total_ms": total_ms,
        "steps": steps,
        "self_by_package": dict(sorted(self_by_package.items(), key=lambda item: -item[1])[:12]),
        "top_cumulative": _distinct(ranked, below=0.6 * total_ms)[:12],
    }


def _distinct(ranked: list[tuple[float, str]], below: float) -> list[tuple[float, str]]:
    """Functions by cumulative time under `below` (the handler's own wrappers), keeping the outermost
    of a chain of calls that each pass the time on (within 3% of the one kept before)."""
    kept: list[tuple[float, str]] = []
    for cumulative, name in ranked:
        if cumulative < below and (not kept or cumulative < 0.97 * kept[-1][0]):
            kept.append((cumulative, name))
    return kept


def _cumulative_ms(
    entries: dict[tuple[str, int, str], tuple[Any, ...]], where: tuple[str, str] | None
) -> float:
    if where is None:
        return 0.0
    suffix, function = where
    return 1000.0 * sum(
        float(values[3])
        for (file, _, name), values in entries.items()
        if file.endswith(suffix) and name == function
    )


def _short(file: str) -> str:
    for marker in ("site-packages/", "DependenciesLayer/python/", "layers/", "bench/", "lib/python3.13/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _package_of_file(file: str) -> str:
    """`~` (built-ins such as socket reads) or the module path's package, grouped like imports."""
    if file == "~" or file.startswith("<"):
        return "built-in (C) calls"
    module = _short(file).removesuffix(".py").replace("/__init__", "").replace("/", ".")
    return group_of(module)
